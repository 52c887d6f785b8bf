import copy
import json
import os
import signal
import subprocess
import sys

import torch

from modet.engine import SimpleTrainer, comm, create_ddp_model, hooks, launch


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, batch):
        x = torch.stack([b["x"] for b in batch])
        return {"loss": (self.linear(x) ** 2).mean()}


class _GradientGrabber(hooks.HookBase):
    """Copies the gradients after backward (after DDP's all-reduce), before the optimizer step."""

    def __init__(self, model, grads):
        self.model, self.grads = model, grads

    def after_backward(self):
        self.grads.update({n: p.grad.clone() for n, p in self.model.named_parameters()})


def _ddp_worker(out_dir: str) -> None:
    rank, world = comm.get_rank(), comm.get_world_size()
    assert world == 2 and comm.get_local_size() == 2 and comm.get_local_rank() == rank
    assert comm.all_gather({"rank": rank}) == [{"rank": 0}, {"rank": 1}]
    gathered = comm.gather(rank * 10)
    assert gathered == ([0, 10] if rank == 0 else [])
    reduced = comm.reduce_dict({"a": torch.tensor(float(rank + 1)), "b": torch.tensor(4.0)})
    if rank == 0:
        assert reduced["a"].item() == 1.5 and reduced["b"].item() == 4.0
    seeds = comm.all_gather(comm.shared_random_seed())
    assert seeds[0] == seeds[1]

    torch.manual_seed(0)  # same initial weights on both processes
    model = _Linear()
    reference = copy.deepcopy(model)
    # each process sees different data
    batch = [{"x": torch.full((3,), float(rank + 1)) * torch.tensor([1.0, 2.0, 3.0])}]
    ddp = create_ddp_model(model)
    assert isinstance(ddp, torch.nn.parallel.DistributedDataParallel)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    trainer = SimpleTrainer(ddp, iter(lambda: batch, None), opt)
    grads = {}
    trainer.register_hooks([_GradientGrabber(model, grads)])
    trainer.train(0, 1)
    reference(batch)["loss"].backward()
    local = {n: p.grad for n, p in reference.named_parameters()}
    all_local = comm.all_gather(local)
    for name, grad in grads.items():
        expected = (all_local[0][name] + all_local[1][name]) / 2
        assert torch.allclose(grad, expected, atol=1e-6), (name, grad, expected)
        assert not torch.allclose(local[name], expected)  # the processes' gradients really differed
    weights = comm.all_gather({n: p.detach() for n, p in model.named_parameters()})
    assert all(torch.equal(weights[0][n], weights[1][n]) for n in weights[0])
    if rank == 0:  # the main process reports the mean of both processes' losses
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(
                {
                    "total_loss": trainer.storage.history("total_loss").latest(),
                    "grads": {n: g.tolist() for n, g in grads.items()},
                },
                f,
            )


def test_launch_two_gloo_processes_average_gradients(tmp_path):
    launch(_ddp_worker, num_gpus_per_machine=2, dist_url="auto", args=(str(tmp_path),), use_gpu=False)
    result = json.loads((tmp_path / "result.json").read_text())
    # losses of the two processes: mean over ranks of (w.x + b)^2 with the seed-0 weights
    torch.manual_seed(0)
    model = _Linear()
    losses = [
        model([{"x": torch.full((3,), float(r + 1)) * torch.tensor([1.0, 2.0, 3.0])}])["loss"].item() for r in (0, 1)
    ]
    assert abs(result["total_loss"] - sum(losses) / 2) < 1e-5


def test_launch_with_one_process_runs_in_place():
    seen = []
    launch(lambda x: seen.append((x, comm.get_world_size(), comm.get_rank())), num_gpus_per_machine=1, args=(7,))
    assert seen == [(7, 1, 0)]
    assert comm.all_gather(5) == [5] and comm.reduce_dict({"a": torch.tensor(1.0)})["a"] == 1.0
    comm.synchronize()


def test_launch_joins_the_process_group_of_torchrun(tmp_path):
    from modet.engine.launch import _find_free_port

    out_file = tmp_path / "torchrun.txt"
    script = os.path.join(os.path.dirname(__file__), "_torchrun_script.py")
    port = _find_free_port()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        f"--master-port={port}",
        script,
        str(out_file),
    ]
    # A session of its own, so a hang cannot leave worker processes behind.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-3000:]
    assert out_file.read_text() == "3.0 [(0, 0, 2), (1, 1, 2)]"
