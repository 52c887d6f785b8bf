"""NaiveSyncBatchNorm across two real (gloo, CPU) workers."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from modet.ops import NaiveSyncBatchNorm


def _worker(rank, folder, inputs):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/init", rank=rank, world_size=2)
    try:
        for mode in ("", "N"):
            bn = NaiveSyncBatchNorm(3, stats_mode=mode)
            x = inputs[rank].clone().requires_grad_(True)
            out = bn(x)
            out.pow(2).sum().backward()
            result = [out.detach(), bn.running_mean, bn.running_var, x.grad]
            torch.save(result, f"{folder}/{mode or 'equal'}-{rank}.pt")
        dist.barrier()  # neither closes its connection while the other may still be reading
    finally:
        dist.destroy_process_group()


def test_statistics_are_shared_between_workers(tmp_path):
    torch.manual_seed(0)
    # Same H, W on both workers, different batch sizes: stats_mode "N" weighs by batch size,
    # "" averages the two workers' statistics with equal weight.
    inputs = [torch.randn(2, 3, 4, 4) * 2 + 1, torch.randn(6, 3, 4, 4) - 1]
    # fork: the workers reuse this process's imports instead of starting Python twice.
    mp.start_processes(_worker, args=(str(tmp_path), inputs), nprocs=2, join=True, start_method="fork")
    results = {
        (mode, rank): torch.load(tmp_path / f"{mode or 'equal'}-{rank}.pt", weights_only=True)
        for mode in ("", "N")
        for rank in (0, 1)
    }

    # "N": identical to one BatchNorm over all 8 images, outputs and gradients included.
    reference = nn.BatchNorm2d(3)
    everything = torch.cat(inputs).requires_grad_(True)
    expected = reference(everything)
    expected.pow(2).sum().backward()
    out0, mean0, var0, grad0 = results[("N", 0)]
    out1, _, _, grad1 = results[("N", 1)]
    assert torch.allclose(torch.cat([out0, out1]), expected.detach(), atol=1e-5)
    assert torch.allclose(torch.cat([grad0, grad1]), everything.grad, atol=1e-4)
    # Running variance: NaiveSyncBatchNorm keeps the biased variance (as detectron2 does).
    biased_var = everything.detach().var(dim=[0, 2, 3], unbiased=False)
    assert torch.allclose(mean0, 0.1 * everything.detach().mean(dim=[0, 2, 3]), atol=1e-5)
    assert torch.allclose(var0, 0.9 + 0.1 * biased_var, atol=1e-5)

    # "": mean and mean of squares averaged over the two workers.
    mean = (inputs[0].mean(dim=[0, 2, 3]) + inputs[1].mean(dim=[0, 2, 3])) / 2
    meansqr = ((inputs[0] ** 2).mean(dim=[0, 2, 3]) + (inputs[1] ** 2).mean(dim=[0, 2, 3])) / 2
    var = meansqr - mean**2
    for rank in (0, 1):
        out, running_mean, _, _ = results[("", rank)]
        normalized = (inputs[rank] - mean.reshape(1, -1, 1, 1)) / torch.sqrt(var.reshape(1, -1, 1, 1) + 1e-5)
        assert torch.allclose(out, normalized, atol=1e-5)
        assert torch.allclose(running_mean, 0.1 * mean, atol=1e-6)
