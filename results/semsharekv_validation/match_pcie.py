import torch as T,time
for n in [512,2048,5120]:
 B=n*131072;h=T.empty(B,dtype=T.uint8,pin_memory=True);g=T.empty(B,dtype=T.uint8,device='cuda')
 for dr in (0,1):
  u=[]
  for i in range(6):
   a,y=T.cuda.Event(enable_timing=1),T.cuda.Event(enable_timing=1);a.record()
   g.copy_(h,non_blocking=True) if dr==0 else h.copy_(g,non_blocking=True)
   y.record();T.cuda.synchronize();u.append(a.elapsed_time(y))
  t=sorted(u[1:])[2];print('pcie','h2d' if dr==0 else 'd2h',B,round(t*1e3,1),round(B/t/1e6,2),flush=True)
for dv in ('cuda','cpu'):
 dt=T.bfloat16 if dv=='cuda' else T.float32
 for bits in (64,256):
  p=T.randn(4096,bits,device=dv,dtype=dt)
  for n in (512,700,2048,5120):
   e=T.randn(n,4096,device=dv,dtype=dt);f=T.randn(n,4096,device=dv,dtype=dt)
   def m():return T.argmax(T.sign(e@p)@T.sign(f@p).t(),1)
   m();m();T.cuda.synchronize();t=time.perf_counter()
   for i in range(5):m()
   T.cuda.synchronize();print('match',dv,bits,n,round((time.perf_counter()-t)/5*1e6,1),flush=True)
print('threads',T.get_num_threads(),open('/proc/cpuinfo').read().split('model name')[1].split('\n')[0])
