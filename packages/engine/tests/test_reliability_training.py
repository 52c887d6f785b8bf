"""Training faults are caught where they happen: a NaN loss at its iteration whatever the
logging period, NaN weights never checkpointed, a loader that runs out named as such."""

import logging
import os

import pytest
import torch

from modet.checkpoint import Checkpointer
from modet.engine import DataLoaderExhaustedError, SimpleTrainer, hooks


class LinearLoss(torch.nn.Module):
    """loss = mean((w.x + b - 2)^2); a batch entry ``nan`` makes that iteration's loss NaN."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, batch):
        x = torch.stack([item["x"] for item in batch])
        loss = ((self.linear(x) - 2) ** 2).mean()
        if any(item.get("nan", False) for item in batch):
            loss = loss * float("nan")
        return {"loss_reg": loss, "loss_aux": 0.1 * loss}


def batches(nan_at=None):
    for i in range(1000):
        yield [{"x": torch.tensor([1.0, float(i % 3)]), "nan": i == nan_at}]


@pytest.mark.parametrize(
    ("gather_metric_period", "async_write_metrics"), [(1, False), (5, False), (1, True), (7, True)]
)
def test_a_nan_loss_stops_training_at_its_iteration_whatever_the_metric_period(
    gather_metric_period, async_write_metrics
):
    torch.manual_seed(0)
    model = LinearLoss()
    trainer = SimpleTrainer(
        model,
        batches(nan_at=3),
        torch.optim.SGD(model.parameters(), lr=0.01),
        gather_metric_period=gather_metric_period,
        async_write_metrics=async_write_metrics,
    )
    weights_before_step = []
    trainer.register_hooks(
        [hooks.CallbackHook(before_step=lambda t: weights_before_step.append(model.linear.weight.clone()))]
    )
    with pytest.raises(FloatingPointError, match=r"iteration=3!\nloss_dict = \{'loss_reg': nan, 'loss_aux': nan\}"):
        trainer.train(0, 20)
    assert trainer.iter == 3
    assert len(weights_before_step) == 4
    assert not torch.equal(weights_before_step[3], weights_before_step[0])  # iterations 0-2 trained
    assert torch.equal(model.linear.weight, weights_before_step[3])  # iteration 3 changed nothing
    assert torch.isfinite(model.linear.weight).all()


class SqrtLoss(torch.nn.Module):
    """loss = sum(sqrt(|w|)): finite at w = 0, where its gradient is NaN."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        self.register_buffer("statistic", torch.zeros(2))  # not in the loss

    def forward(self, batch):
        if batch == "zero":
            with torch.no_grad():
                self.w[0] = 0.0
        return {"loss": self.w.abs().sqrt().sum()}


def test_nan_weights_are_never_checkpointed(tmp_path):
    model = SqrtLoss()
    data = iter(["ok"] * 5 + ["zero"] + ["ok"] * 10)
    trainer = SimpleTrainer(model, data, torch.optim.SGD(model.parameters(), lr=0.01))
    checkpointer = Checkpointer(model, str(tmp_path))
    trainer.register_hooks([hooks.PeriodicCheckpointer(checkpointer, period=2)])
    with pytest.raises(FloatingPointError, match=r"Weights became infinite or NaN at iteration=5 in 1 tensors \(w\)"):
        trainer.train(0, 10)
    # Iteration 5's loss was finite; its NaN gradient made the weights NaN, right before a save.
    assert trainer.storage.history("total_loss").latest() == pytest.approx(2.0**0.5, abs=0.01)
    assert torch.isnan(model.w[0]) and torch.isfinite(model.w[1])
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.pth", "model_0000003.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000003.pth"
    saved = torch.load(tmp_path / "model_0000003.pth", weights_only=True)["model"]
    assert torch.isfinite(saved["w"]).all()


def test_a_nan_weight_stops_the_best_checkpointer_too(tmp_path):
    model = SqrtLoss()
    model.statistic[1] = float("inf")
    checkpointer = Checkpointer(model, str(tmp_path))
    best = hooks.BestCheckpointer(eval_period=1, checkpointer=checkpointer, val_metric="ap")
    trainer = SimpleTrainer(model, iter(["ok"] * 3), torch.optim.SGD(model.parameters(), lr=0.0))
    trainer.register_hooks([hooks.CallbackHook(after_step=lambda t: t.storage.put_scalar("ap", 1.0)), best])
    with pytest.raises(FloatingPointError, match=r"iteration=0 in 1 tensors \(statistic\); no checkpoint is saved"):
        trainer.train(0, 3)
    assert os.listdir(tmp_path) == []


def test_a_finite_loader_that_runs_out_is_a_clear_error():
    model = LinearLoss()
    trainer = SimpleTrainer(model, [next(batches())] * 3, torch.optim.SGD(model.parameters(), lr=0.01))
    with pytest.raises(DataLoaderExhaustedError) as info:
        trainer.train(0, 5)
    message = str(info.value)
    assert "ran out of batches at iteration 3" in message and "max_iter=5" in message
    assert isinstance(info.value, RuntimeError) and not isinstance(info.value, StopIteration)


def test_an_error_in_training_logs_one_line_and_keeps_the_traceback_for_the_log_file(caplog):
    caplog.set_level(logging.DEBUG, logger="modet.engine")
    model = LinearLoss()
    trainer = SimpleTrainer(model, batches(nan_at=1), torch.optim.SGD(model.parameters(), lr=0.01))
    with pytest.raises(FloatingPointError):
        trainer.train(0, 5)
    errors = [r for r in caplog.records if r.levelno >= logging.INFO and "Exception during training" in r.message]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "at iteration 1: FloatingPointError: Loss became infinite or NaN" in errors[0].message
    traced = [r for r in caplog.records if r.exc_info is not None]
    assert len(traced) == 1 and traced[0].levelno == logging.DEBUG  # setup_logger's log file keeps DEBUG
