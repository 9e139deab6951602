import torch as T,torch.nn.functional as F
from torch.nn.attention import sdpa_kernel as K,SDPBackend as B
d='cuda';b=T.bfloat16;I=float('-inf')
def r(*s,c=1.):return T.randn(*s,device=d,dtype=b)*c
L,H,Q,V,D,N=32,4096,32,8,128,14336;z=H**-.5
W=[(r(6144,H,c=z),r(H,H,c=z),r(2*N,H,c=z),r(H,N,c=N**-.5),r(H)*.1+1,r(H)*.1+1) for _ in range(L)]
E=r(128256,H);M=r(128256,H,c=z)
def ea(q,k,v,m):
 P=k.shape[2];k=k[:,:,None].expand(1,V,4,P,D).reshape(1,Q,P,D);v=v[:,:,None].expand(1,V,4,P,D).reshape(1,Q,P,D)
 s=T.matmul(q,k.transpose(2,3))*D**-.5+m;return T.matmul(T.softmax(s,-1,dtype=T.float32).to(b),v)
def at(q,k,v,e,m,c):
 q=q.transpose(0,1)[None];k=k.transpose(0,1)[None];v=v.transpose(0,1)[None]
 if e:o=ea(q,k,v,m)
 else:
  with K(B.FLASH_ATTENTION):o=F.scaled_dot_product_attention(q,k,v,is_causal=c,enable_gqa=True)
 return o[0].transpose(0,1).reshape(-1,Q*D)
def pre(x,w,c,s):
 n=x.shape[0];y=F.rms_norm(x,(H,),w[4],1e-5)@w[0].t();a=y[:,:5120].view(n,40,D)
 return T.cat((a[...,:64]*c-a[...,64:]*s,a[...,64:]*c+a[...,:64]*s),-1),y[:,5120:].view(n,V,D)
def po(x,a,w):
 x=x+a@w[1].t();g=F.rms_norm(x,(H,),w[5],1e-5)@w[2].t();return x+(F.silu(g[:,:N])*g[:,N:])@w[3].t()
def fw(t,c,s,e,m0,sel=None,g=None,kr=None,mp=None,cs=None,ss=None):
 x=F.embedding(t,E);P=t.shape[0]
 for l in range(L):
  w=W[l]
  if sel is None or l==0:
   qk,v=pre(x,w,c,s);x=po(x,at(qk[:,:Q],qk[:,Q:],v,e,m0,True),w)
   if sel is not None:x=x.index_select(0,sel)
  else:
   kg=kr[l][0].index_select(0,g);vg=kr[l][1].index_select(0,g);qk,v=pre(x,w,cs,ss)
   kg.index_copy_(0,sel,qk[:,Q:].reshape(-1,V*D));vg.index_copy_(0,sel,v.reshape(-1,V*D))
   x=po(x,at(qk[:,:Q],kg.view(P,V,D),vg.view(P,V,D),e,mp,False),w)
 return F.rms_norm(x[-1:],(H,),W[0][4],1e-5)@M.t()
def tm(f):
 f();s=T.cuda.Stream();s.wait_stream(T.cuda.current_stream())
 with T.cuda.stream(s):f()
 T.cuda.current_stream().wait_stream(s);G=T.cuda.CUDAGraph()
 with T.cuda.graph(G):f()
 G.replay();T.cuda.synchronize();u=[]
 for i in range(7):
  a,y=T.cuda.Event(enable_timing=1),T.cuda.Event(enable_timing=1);a.record();G.replay();y.record();T.cuda.synchronize();u.append(a.elapsed_time(y))
 return sorted(u)[3]*1e3
for P in [512,1024,2048,3072,4096,5120]:
 t=T.randint(0,128256,(P,),device=d);c=r(P,1,64);s=r(P,1,64);m0=T.full((P,P),I,device=d,dtype=b).triu(1)
 kr=[(r(P,1024),r(P,1024)) for _ in range(L)];g=T.randperm(P,device=d)
 for e in(0,1):print('full',e,P,1,P,round(tm(lambda:fw(t,c,s,e,m0)),1),flush=True)
 for q in[1,.3,.1,.05]:
  m=max(1,round(q*P));sel=T.cat([T.randperm(P-1,device=d)[:m-1],T.tensor([P-1],device=d)]).sort().values
  mp=T.where(T.arange(P,device=d)[None]<=sel[:,None],0.,I).to(b)
  for e in(0,1):print('part',e,P,q,m,round(tm(lambda:fw(t,c,s,e,m0,sel,g,kr,mp,c[sel],s[sel])),1),flush=True)
 del kr;T.cuda.empty_cache()
