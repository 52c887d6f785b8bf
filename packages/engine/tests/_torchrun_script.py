"""Run by test_launch under torchrun: launch() must join the env:// process group torchrun set up."""

import sys

import torch
import torch.distributed as dist

from modet.engine import comm, launch


def main(out_file: str) -> None:
    assert dist.is_initialized() and dist.get_backend() == "gloo"
    value = torch.tensor([float(comm.get_rank() + 1)])
    dist.all_reduce(value)
    ranks = comm.all_gather((comm.get_rank(), comm.get_local_rank(), comm.get_local_size()))
    if comm.is_main_process():
        with open(out_file, "w") as f:
            f.write(f"{value.item()} {ranks}")


if __name__ == "__main__":
    launch(main, num_gpus_per_machine=2, dist_url="auto", args=(sys.argv[1],))
