import json
import logging
import math
import os
import sys

import pytest
import torch

from modet.engine import EventStorage, JSONWriter, SimpleTrainer, hooks
from modet.engine.train_loop import AMPTrainer
from modet.engine.writers import CommonMetricPrinter


class ToyRegressor(torch.nn.Module):
    """Regress y = 2x: returns a loss dict like a detector in training mode."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.seen_dtypes: list[torch.dtype] = []

    def forward(self, batch):
        x = torch.stack([b["x"] for b in batch])
        pred = self.linear(x)
        self.seen_dtypes.append(pred.dtype)
        loss = ((pred.float() - 2 * x) ** 2).mean()
        return {"loss_reg": loss, "loss_zero": loss * 0}


def toy_loader(values=(1.0, 2.0, 3.0)):
    while True:
        yield [{"x": torch.tensor([v])} for v in values]


def test_simple_trainer_lowers_loss_and_hooks_run_in_order():
    torch.manual_seed(0)
    model = ToyRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    trainer = SimpleTrainer(model, toy_loader(), opt)
    calls = []
    trainer.register_hooks(
        [
            hooks.CallbackHook(
                before_train=lambda t: calls.append(("before_train", t.iter)),
                before_step=lambda t: calls.append(("before_step", t.iter)),
                after_step=lambda t: calls.append(("after_step", t.iter)),
                after_train=lambda t: calls.append(("after_train", t.iter)),
            ),
            None,
        ]
    )
    trainer.train(0, 30)
    assert calls[0] == ("before_train", 0)
    assert calls[1:4] == [("before_step", 0), ("after_step", 0), ("before_step", 1)]
    assert calls[-1] == ("after_train", 30)  # iter == max_iter: finished
    history = trainer.storage.history("total_loss").values()
    assert len(history) == 30 and history[-1][0] < history[0][0] / 10
    assert trainer.storage.history("loss_reg").latest() == pytest.approx(history[-1][0])


def test_nan_loss_raises_floating_point_error_naming_iteration_and_losses():
    class NaNAtThree(ToyRegressor):
        calls = 0

        def forward(self, batch):
            losses = super().forward(batch)
            NaNAtThree.calls += 1
            if NaNAtThree.calls == 4:
                losses["loss_reg"] = losses["loss_reg"] * float("nan")
            return losses

    model = NaNAtThree()
    trainer = SimpleTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.01))
    before = model.linear.weight.detach().clone()
    weight_at_3 = []
    trainer.register_hooks(
        [hooks.CallbackHook(before_step=lambda t: weight_at_3.append(model.linear.weight.detach().clone()))]
    )
    with pytest.raises(FloatingPointError, match=r"iteration=3(.|\n)*loss_reg.*nan"):
        trainer.train(0, 10)
    assert trainer.iter == 3
    assert not torch.equal(weight_at_3[-1], before)
    assert torch.equal(model.linear.weight, weight_at_3[-1])  # the NaN step changed nothing


def test_json_writer_writes_one_object_per_iteration(tmp_path):
    model = ToyRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = SimpleTrainer(model, toy_loader(), opt)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    json_file = tmp_path / "metrics.json"
    trainer.register_hooks(
        [hooks.LRScheduler(opt, sched), hooks.PeriodicWriter([JSONWriter(json_file, window_size=1)], period=4)]
    )
    trainer.train(0, 10)
    lines = [json.loads(line) for line in json_file.read_text().splitlines()]
    # written every 4 iterations and at the last one, with each scalar's latest value
    assert [line["iteration"] for line in lines] == [3, 7, 9]
    assert [line["lr"] for line in lines] == pytest.approx([0.01, 0.005, 0.005])
    totals = trainer.storage.history("total_loss").values()
    assert [line["total_loss"] for line in lines] == pytest.approx([totals[i][0] for i in (3, 7, 9)])
    assert set(lines[0]) >= {"iteration", "lr", "total_loss", "loss_reg", "loss_zero", "data_time"}


def test_common_metric_printer_reports_eta_losses_lr(caplog):
    model = ToyRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = SimpleTrainer(model, toy_loader(), opt)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100)
    trainer.register_hooks(
        [
            hooks.IterationTimer(warmup_iter=1),
            hooks.LRScheduler(opt, sched),
            hooks.PeriodicWriter([CommonMetricPrinter(20)], period=5),
        ]
    )
    with caplog.at_level(logging.INFO, logger="modet.engine.train"):
        trainer.train(0, 20)
    lines = [r.getMessage() for r in caplog.records if r.name == "modet.engine.train"]
    assert len(lines) == 4  # iterations 4, 9, 14, 19
    assert lines[0].startswith("eta: 0:00:00  iter: 4  total_loss: ")
    assert "loss_reg: " in lines[0] and "lr: 0.01" in lines[0] and "time: " in lines[0] and "data_time: " in lines[0]
    assert trainer.storage.history("time").values()[0][1] == 0  # timed from iteration warmup_iter - 1


def test_amp_trainer_autocasts_to_bfloat16_on_cpu():
    torch.manual_seed(0)
    model = ToyRegressor()
    trainer = AMPTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.02))
    trainer.train(0, 5)
    assert model.seen_dtypes == [torch.bfloat16] * 5
    assert not trainer.grad_scaler.is_enabled()
    assert math.isfinite(trainer.storage.history("total_loss").latest())
    assert "grad_scaler" in trainer.state_dict()


def test_eval_hook_and_best_checkpointer(tmp_path):
    model = ToyRegressor()
    trainer = SimpleTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.01))
    evals = iter([{"bbox": {"AP": 10.0}}, {"bbox": {"AP": 30.0}}, {"bbox": {"AP": 20.0}}])
    saved = []

    class FakeCheckpointer:
        def save(self, name, **kwargs):
            saved.append((name, kwargs))

    trainer.register_hooks(
        [
            hooks.EvalHook(4, lambda: next(evals)),
            hooks.BestCheckpointer(4, FakeCheckpointer(), "bbox/AP", mode="max"),
        ]
    )
    trainer.train(0, 12)
    assert trainer.storage.latest()["bbox/AP"] == (20.0, 12)
    assert saved == [("model_best", {"iteration": 3}), ("model_best", {"iteration": 7})]


def test_precise_bn_sets_the_average_of_batch_statistics():
    torch.manual_seed(0)
    model = torch.nn.BatchNorm1d(2, momentum=0.1)
    batches = [torch.randn(8, 2) * (i + 1) + i for i in range(4)]
    hooks.update_bn_stats(model, batches, num_iters=4)
    expected_mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    expected_var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(model.running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(model.running_var, expected_var, atol=1e-5)
    assert model.momentum == 0.1
    with pytest.raises(ValueError, match="gave 4 batches, 5 were asked"):
        hooks.update_bn_stats(model, batches, num_iters=5)


def test_event_storage_is_reexported():
    from modet.core.events import EventStorage as CoreStorage

    assert EventStorage is CoreStorage


def test_tensorboard_writer_and_its_missing_dependency(tmp_path, monkeypatch):
    from modet.engine.writers import TensorboardXWriter, default_writers

    with EventStorage() as storage:
        storage.put_scalar("loss", 1.5)
        writer = TensorboardXWriter(tmp_path / "tb")
        writer.write()
        writer.close()
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))
    assert [type(w).__name__ for w in default_writers(tmp_path / "out", 10)] == [
        "CommonMetricPrinter",
        "JSONWriter",
        "TensorboardXWriter",
    ]
    unused = TensorboardXWriter(tmp_path / "tb_unused")
    unused.close()
    assert not (tmp_path / "tb_unused").exists()  # no event file until something is written
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'modet-engine\[tensorboard\]'"):
        TensorboardXWriter(tmp_path / "tb2")
    writers = default_writers(tmp_path / "out2", 10)
    assert [type(w).__name__ for w in writers] == ["CommonMetricPrinter", "JSONWriter"]
    assert (tmp_path / "out2" / "metrics.json").exists()


def test_torch_profiler_traces_the_chosen_iterations(tmp_path):
    model = ToyRegressor()
    trainer = SimpleTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.01))
    trainer.register_hooks([hooks.TorchProfiler(lambda t: t.iter in (1, 3), str(tmp_path), save_tensorboard=False)])
    trainer.train(0, 4)
    assert sorted(os.listdir(tmp_path)) == ["profiler-trace-iter1.json", "profiler-trace-iter3.json"]
    trace = json.loads((tmp_path / "profiler-trace-iter1.json").read_text())
    assert any("addmm" in event.get("name", "") for event in trace["traceEvents"])  # the Linear layer ran


def test_training_progress_bar_counts_iterations_from_start_iter_and_shows_loss(capsys):
    model = ToyRegressor()
    trainer = SimpleTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.02))
    bar_hook = hooks.TrainingProgressBar(loss_period=2)
    trainer.register_hooks([bar_hook])
    trainer.train(2, 7)
    assert bar_hook._bar.n == 7  # started at 2, five steps
    assert bar_hook._bar.total == 7
    last_loss = trainer.storage.history("total_loss").values()[-1][0]  # iteration 6: 6 % 2 == 0
    assert bar_hook._bar.postfix == f"loss={last_loss:.3f}"
    assert "training" in capsys.readouterr().err


def test_common_metric_printer_smooths_losses_and_metrics_over_iterations(caplog):
    with EventStorage() as storage:
        for k in range(10):
            storage.put_scalar("time", 1.0 + k)
            storage.put_scalar("total_loss", float(k))
            if k % 3 == 0:
                storage.put_scalar("[metric]bn_stat", float(k))
            storage.step()
        with caplog.at_level(logging.INFO, logger="modet.engine.train"):
            CommonMetricPrinter(window_size=4).write()
    line = caplog.records[-1].getMessage()
    # losses: median of iterations 6..9; metrics: of the values logged in them (6, 9); time: mean of the run
    assert "total_loss: 7.5  [metric]bn_stat: 7.5  time: 5.5000  last_time: 10.0000" in line


def _denormal_survives() -> bool:
    return bool((torch.tensor([1e-39]) * 3.0).item() != 0.0)


def test_training_treats_denormals_as_zero_and_restores_them_after():
    """Underflowing gradients make x86 CPUs up to 100x slower: the loop flushes them while it runs."""
    assert _denormal_survives()
    seen = []
    model = ToyRegressor()
    trainer = SimpleTrainer(model, toy_loader(), torch.optim.SGD(model.parameters(), lr=0.02))
    trainer.register_hooks([hooks.CallbackHook(before_step=lambda t: seen.append(_denormal_survives()))])
    supported = torch.set_flush_denormal(False)  # what the CPU offers (x86 with SSE3: yes)
    trainer.train(0, 2)
    assert seen == [not supported] * 2
    assert _denormal_survives()
