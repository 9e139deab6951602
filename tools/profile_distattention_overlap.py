#!/usr/bin/env python3
"""Why one measured DistAttention layer (tools/profile_distattention.py, distattn rows) takes 1.55-1.75x
its micro-attention when the model's critical path says max(local micro, query + remote micro +
partials) + merge. Two ranks, LLaMA2-13B heads (40 x 128, bf16), the Triton kernels of
profile_kernels.py, eager NCCL. Run from the repository root:

    NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
        torchrun --standalone --nproc_per_node=2 tools/profile_distattention_overlap.py pending|layer

pending: the home's micro-attention timed by CUDA events alone, with the partials' receive already
         posted (an NCCL kernel resident and waiting), and with the receive posted after it; the holder
         runs its micro-attention meanwhile in every mode (alone0/alone3 bracket the others).
layer:   the whole layer, 4 calls back to back, with both micro-attentions (both), only the holder's
         (remote_only), only the home's (home_only), none (the messages and the merge), and the
         micro-attention alone (micro). Prints one line per point on rank 0 (us per call).
timeline [--out DIR]: per call, CUDA events on both ranks against a common zero (an all_reduce both
         GPUs leave together): when the home's micro-attention starts and ends, when the holder's starts
         (its query arrived) and ends, when the partials are in, when the merge ends; and each host's
         time per call. Three implementations: base (as profile_distattention.py: query send and
         partials' receive posted on NCCL's default-priority stream, then the home's micro-attention),
         hiprio (the same on NCCL streams of high priority), qfirst (the home's micro-attention waits
         for the query's send to complete). Writes DIR/distattn_timeline.csv, one row per point and
         implementation (medians over the steady-state calls), and prints it.
Results of 2026-11-30 on 2x H200: hw_profiles/h200/distattn_overlap.txt.
"""
import os,sys,time,statistics as st,torch,torch.distributed as d
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__)));import profile_kernels as pk,dist_start
r,_,dev,_=dist_start.start()
H,D=40,128
def E():return torch.cuda.Event(enable_timing=True)
def pending():
 for b,S in[(4,65536),(16,16384),(32,16384),(32,65536),(4,262144)]:
  Sp=S//2;q=torch.randn(b,H,1,D,device=dev,dtype=torch.bfloat16);K=torch.randn(b,H,Sp,D,device=dev,dtype=torch.bfloat16);V=torch.randn_like(K)
  buf=torch.empty(b,H,D,device=dev,dtype=torch.bfloat16)
  def one(mode):
   e=[E(),E()]
   if r==0:
    rq=d.batch_isend_irecv([d.P2POp(d.irecv,buf,1)]) if mode=="pend" else []
    e[0].record();pk.flash_lse(q,K,V);e[1].record()
    if mode=="late":rq=d.batch_isend_irecv([d.P2POp(d.irecv,buf,1)])
    for x in rq:x.wait()
   else:
    e[0].record();pk.flash_lse(q,K,V);e[1].record()
    if mode!="alone":
     for x in d.batch_isend_irecv([d.P2POp(d.isend,buf,0)]):x.wait()
   return e
  res={}
  for mode in["alone","pend","late","alone"]:
   for _ in range(3):one(mode)
   torch.cuda.synchronize();d.barrier();ev=[one(mode) for _ in range(20)];torch.cuda.synchronize()
   t=torch.tensor([st.median(a.elapsed_time(z)*1e3 for a,z in ev)],device=dev);d.all_reduce(t,op=d.ReduceOp.MAX) if False else None
   res[mode+str(len(res))]=t.item()
  if r==0:print(b,S,{k:round(v,1) for k,v in res.items()},flush=True)


def layer():
 for b,S in[(4,65536),(32,16384),(32,65536),(4,262144)]:
  Sp=S//2;bf=torch.bfloat16;q=torch.randn(b,H,1,D,device=dev,dtype=bf);K=torch.randn(b,H,Sp,D,device=dev,dtype=bf);V=torch.randn_like(K)
  o2=torch.empty(2,b,H,D,device=dev,dtype=bf);l2=torch.empty(2,b,H,device=dev);qb=torch.empty_like(q);out=torch.empty(b,H,D,device=dev,dtype=bf)
  def call(hm,rm):
   if r==0:
    rq=d.batch_isend_irecv([d.P2POp(d.isend,q,1)])+d.batch_isend_irecv([d.P2POp(d.irecv,o2[1],1),d.P2POp(d.irecv,l2[1],1)])
    if hm:pk.flash_lse(q,K,V)
    for x in rq:x.wait()
    pk.merge_parts_fast(o2,l2,out=out)
   else:
    for x in d.batch_isend_irecv([d.P2POp(d.irecv,qb,0)]):x.wait()
    if rm:pk.flash_lse(qb,K,V)
    for x in d.batch_isend_irecv([d.P2POp(d.isend,o2[1],0),d.P2POp(d.isend,l2[1],0)]):x.wait()
  res={}
  for nm,hm,rm in[("both",1,1),("remote_only",0,1),("home_only",1,0),("none",0,0)]:
   for _ in range(3):call(hm,rm)
   torch.cuda.synchronize();d.barrier();s=[]
   for _ in range(5):
    a,z=E(),E();a.record()
    for _ in range(4):call(hm,rm)
    z.record();torch.cuda.synchronize();s.append(a.elapsed_time(z)*250)
   res[nm]=round(st.median(s),1)
  a,z=E(),E();a.record()
  for _ in range(8):pk.flash_lse(q,K,V)
  z.record();torch.cuda.synchronize();res["micro"]=round(a.elapsed_time(z)*125,1)
  if r==0:print(b,S,res,flush=True)


TL_POINTS=[(b,S) for S in(4096,16384,65536,262144) for b in(1,4,16,32) if b*S<=1<<21]
TL_FIELDS=["impl","batch","ctx","layer_us","home_micro_us","holder_micro_us","holder_lag_us","holder_end_lag_us",
           "home_wait_us","merge_us","home_host_us","holder_host_us","micro_alone_us"]


def timeline():
 out=sys.argv[sys.argv.index("--out")+1] if "--out" in sys.argv else None
 hp=dist_start.high_priority_group([0,1])
 f=None
 if r==0 and out:
  os.makedirs(out,exist_ok=True);f=open(os.path.join(out,"distattn_timeline.csv"),"w");f.write(",".join(TL_FIELDS)+"\n");f.flush()
 bf=torch.bfloat16;N=6;REPS=3
 for b,S in TL_POINTS:
  Sp=S//2;q=torch.randn(b,H,1,D,device=dev,dtype=bf);K=torch.randn(b,H,Sp,D,device=dev,dtype=bf);V=torch.randn_like(K)
  o2=torch.empty(2,b,H,D,device=dev,dtype=bf);l2=torch.empty(2,b,H,device=dev);qb=torch.empty_like(q);out_=torch.empty(b,H,D,device=dev,dtype=bf)
  def call(impl,ev):
   g=hp if impl=="hiprio" else None
   ev[0].record()
   if r==0:
    rq=d.batch_isend_irecv([d.P2POp(d.isend,q,1,group=g)]);rp=d.batch_isend_irecv([d.P2POp(d.irecv,o2[1],1,group=g),d.P2POp(d.irecv,l2[1],1,group=g)])
    if impl=="qfirst":
     for x in rq:x.wait()
    ev[1].record();o,l=pk.flash_lse(q,K,V);o2[0].copy_(o.reshape(b,H,D));l2[0].copy_(l.reshape(b,H,-1)[...,0]);ev[2].record()
    for x in rq+rp:x.wait()
    ev[3].record();pk.merge_parts_fast(o2,l2,out=out_);ev[4].record()
   else:
    for x in d.batch_isend_irecv([d.P2POp(d.irecv,qb,0,group=g)]):x.wait()
    ev[1].record();o,l=pk.flash_lse(qb,K,V);o2[1].copy_(o.reshape(b,H,D));l2[1].copy_(l.reshape(b,H,-1)[...,0]);ev[2].record()
    for x in d.batch_isend_irecv([d.P2POp(d.isend,o2[1],0,group=g),d.P2POp(d.isend,l2[1],0,group=g)]):x.wait()
    ev[3].record();ev[4].record()
  z1=torch.ones(1,device=dev)
  # the micro-attention alone on each rank (both GPUs busy at once, no communication)
  for _ in range(3):pk.flash_lse(q,K,V)
  torch.cuda.synchronize();d.barrier();a,e=E(),E();a.record()
  for _ in range(8):pk.flash_lse(q,K,V)
  e.record();torch.cuda.synchronize();alone=a.elapsed_time(e)*125
  for impl in("base","hiprio","qfirst"):
   for _ in range(3):call(impl,[E() for _ in range(5)])
   calls=[]
   for _ in range(REPS):
    torch.cuda.synchronize();d.barrier();d.all_reduce(z1);z=E();z.record()
    evs=[];host=[]
    for _ in range(N):
     host.append(time.perf_counter());ev=[E() for _ in range(5)];call(impl,ev);evs.append(ev)
    host.append(time.perf_counter());torch.cuda.synchronize()
    t=[[z.elapsed_time(x)*1e3 for x in ev] for ev in evs]
    calls.append((t,[(host[i+1]-host[i])*1e6 for i in range(N)]))
   allc=[None,None];d.all_gather_object(allc,calls)
   if r==0:
    m={k:[] for k in TL_FIELDS[3:]}
    for (th,hh),(tr,hr) in zip(allc[0],allc[1]):
     m["layer_us"].append((th[-1][4]-th[0][4])/(N-1))
     for i in range(1,N):
      m["home_micro_us"].append(th[i][2]-th[i][1]);m["holder_micro_us"].append(tr[i][2]-tr[i][1])
      m["holder_lag_us"].append(tr[i][1]-th[i][1]);m["holder_end_lag_us"].append(tr[i][2]-th[i][2])
      m["home_wait_us"].append(th[i][3]-th[i][2]);m["merge_us"].append(th[i][4]-th[i][3])
      m["home_host_us"].append(hh[i]);m["holder_host_us"].append(hr[i])
    row=[impl,b,S]+[round(st.median(m[k]),1) for k in TL_FIELDS[3:-1]]+[round(alone,1)]
    print(",".join(str(x) for x in row),flush=True)
    if f:f.write(",".join(str(x) for x in row)+"\n");f.flush()
  del q,K,V,o2,l2,qb,out_;torch.cuda.empty_cache()


{"pending": pending, "layer": layer, "timeline": timeline}[sys.argv[1]]()
d.destroy_process_group()
