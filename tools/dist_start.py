"""torch.distributed start-up shared by the multi-GPU profilers (profile_collectives.py,
profile_distattention.py, profile_distattention_overlap.py): each rank takes the GPU of its local rank
and joins an NCCL process group; without CUDA (a logic test on CPU) a gloo group."""
import datetime
import os

import torch
import torch.distributed as dist


def start(timeout_s=60):
    """Returns (rank, world, device, cuda)."""
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    cuda = torch.cuda.is_available()
    timeout = datetime.timedelta(seconds=timeout_s)
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        dist.init_process_group("nccl", device_id=dev, timeout=timeout)
    else:
        dev = torch.device("cpu")
        dist.init_process_group("gloo", timeout=timeout)
    return rank, world, dev, cuda


def high_priority_group(ranks):
    """A second NCCL group over `ranks` whose NCCL streams have high priority (its kernels are then
    scheduled ahead of kernels on default-priority streams)."""
    opts = dist.ProcessGroupNCCL.Options()
    opts.is_high_priority_stream = True
    return dist.new_group(ranks, pg_options=opts)
