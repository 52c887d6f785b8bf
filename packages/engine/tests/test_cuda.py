"""The engine's CUDA paths: ``AMPTrainer`` trains in float16 with a loss scaler, as detectron2's.

Run where a GPU is present (``tools/gpu_check.sh`` on a lent GPU machine); skipped elsewhere.
"""

from __future__ import annotations

import math

import pytest
import torch

from modet.engine.train_loop import AMPTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (tools/gpu_check.sh)")


class CudaRegressor(torch.nn.Module):
    """Regress y = 2x on the GPU; records the dtype autocast gives its linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.seen_dtypes: list[torch.dtype] = []

    def forward(self, batch):
        x = torch.stack([b["x"] for b in batch]).cuda()
        pred = self.linear(x)
        self.seen_dtypes.append(pred.dtype)
        return {"loss_reg": ((pred.float() - 2 * x) ** 2).mean()}


def _loader():
    while True:
        yield [{"x": torch.tensor([v])} for v in (1.0, 2.0, 3.0)]


def test_amp_trainer_uses_float16_and_a_grad_scaler_on_cuda():
    torch.manual_seed(0)
    model = CudaRegressor().cuda()
    trainer = AMPTrainer(model, _loader(), torch.optim.SGD(model.parameters(), lr=0.02))
    trainer.train(0, 40)
    assert model.seen_dtypes == [torch.float16] * 40
    assert trainer.grad_scaler.is_enabled()
    losses = [value for value, _ in trainer.storage.history("total_loss").values()]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] * 0.5, f"loss did not fall: {losses[0]:.4f} -> {losses[-1]:.4f}"
    assert "grad_scaler" in trainer.state_dict()
