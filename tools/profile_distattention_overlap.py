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
Results of 2026-11-30 on 2x H200: hw_profiles/h200/distattn_overlap.txt.
"""
import os,sys,statistics as st,torch,torch.distributed as d
sys.path.insert(0,"tools");import profile_kernels as pk
r=int(os.environ["RANK"]);torch.cuda.set_device(r);dev=torch.device("cuda",r)
d.init_process_group("nccl",device_id=dev)
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


{"pending": pending, "layer": layer}[sys.argv[1]]()
d.destroy_process_group()
