"""detectron2's training hooks (``detectron2.engine.hooks``)."""

from __future__ import annotations

import datetime
import itertools
import logging
import math
import operator
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
from tqdm import tqdm

from modet.checkpoint import PeriodicCheckpointer as _PeriodicCheckpointer
from modet.core.events import EventStorage, flatten_results_dict

from . import comm
from .solver import LRMultiplier
from .train_loop import HookBase, unchanged_rng_state
from .writers import EventWriter

__all__ = [
    "BestCheckpointer",
    "CallbackHook",
    "EvalHook",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "PreciseBN",
    "TorchMemoryStats",
    "TorchProfiler",
    "TrainingProgressBar",
    "check_finite_weights",
    "flatten_results_dict",
    "get_bn_modules",
    "update_bn_stats",
]

logger = logging.getLogger(__name__)


class CallbackHook(HookBase):
    """A hook made of functions, each called with the trainer."""

    def __init__(
        self,
        *,
        before_train: Callable[[Any], None] | None = None,
        after_train: Callable[[Any], None] | None = None,
        before_step: Callable[[Any], None] | None = None,
        after_step: Callable[[Any], None] | None = None,
    ) -> None:
        self._before_train = before_train
        self._after_train = after_train
        self._before_step = before_step
        self._after_step = after_step

    def before_train(self) -> None:
        if self._before_train:
            self._before_train(self.trainer)

    def after_train(self) -> None:
        if self._after_train:
            self._after_train(self.trainer)
        # The functions may hold references to the trainer: drop them.
        del self._before_train, self._after_train, self._before_step, self._after_step

    def before_step(self) -> None:
        if self._before_step:
            self._before_step(self.trainer)

    def after_step(self) -> None:
        if self._after_step:
            self._after_step(self.trainer)


class IterationTimer(HookBase):
    """Put each iteration's time (``time``) into the storage, and log the total at the end.

    The first ``warmup_iter`` iterations are not timed: they include one-off start-up costs.
    Put this hook first so its time covers the other hooks.
    """

    def __init__(self, warmup_iter: int = 3) -> None:
        self._warmup_iter = warmup_iter
        self._step_start = 0.0
        self._timed_start = 0.0
        self._timed_seconds = 0.0
        self._train_start = 0.0

    def before_train(self) -> None:
        self._train_start = time.perf_counter()
        self._timed_start = self._train_start
        self._timed_seconds = 0.0

    def after_train(self) -> None:
        total = time.perf_counter() - self._train_start
        num_iter = self.trainer.storage.iter + 1 - self.trainer.start_iter - self._warmup_iter
        if num_iter > 0 and self._timed_seconds > 0:
            logger.info(
                "Overall training speed: %d iterations in %s (%.4f s / it)",
                num_iter,
                str(datetime.timedelta(seconds=int(self._timed_seconds))),
                self._timed_seconds / num_iter,
            )
        logger.info(
            "Total training time: %s (%s on hooks)",
            str(datetime.timedelta(seconds=int(total))),
            str(datetime.timedelta(seconds=int(max(total - self._timed_seconds, 0)))),
        )

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        seconds = time.perf_counter() - self._step_start
        iter_done = self.trainer.storage.iter - self.trainer.start_iter + 1
        if iter_done >= self._warmup_iter:
            self.trainer.storage.put_scalars(time=seconds)
            self._timed_seconds += seconds


class PeriodicWriter(HookBase):
    """Call the writers every ``period`` iterations, at the last iteration and after training."""

    def __init__(self, writers: Sequence[EventWriter], period: int = 20) -> None:
        for w in writers:
            if not isinstance(w, EventWriter):
                raise TypeError(f"PeriodicWriter takes EventWriter objects, got {type(w).__name__}")
        self._writers = list(writers)
        self._period = period

    def after_step(self) -> None:
        if (self.trainer.iter + 1) % self._period == 0 or self.trainer.iter == self.trainer.max_iter - 1:
            for writer in self._writers:
                writer.write()

    def after_train(self) -> None:
        for writer in self._writers:
            # Write what the last steps (and after_train hooks such as evaluation) left.
            writer.write()
            writer.close()


def check_finite_weights(model: torch.nn.Module | None, iteration: int) -> None:
    """Raise FloatingPointError naming the tensors of ``model`` that hold NaN or inf.

    Called before every training checkpoint, so a diverged run never overwrites
    ``last_checkpoint`` with weights it cannot resume from. ``None`` (a checkpointer without
    a model) is not checked.
    """
    if model is None:
        return
    state = model.state_dict()
    floating = {k: v for k, v in state.items() if v.is_floating_point()}
    if not floating:
        return
    finite = torch.stack([torch.isfinite(v).all() for v in floating.values()])
    if bool(finite.all()):
        return
    bad = [k for k, ok in zip(floating, finite.tolist()) if not ok]
    raise FloatingPointError(
        f"Weights became infinite or NaN at iteration={iteration} in {len(bad)} tensors "
        f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}); no checkpoint is saved, the last one is kept"
    )


class PeriodicCheckpointer(_PeriodicCheckpointer, HookBase):
    """modet.checkpoint's ``PeriodicCheckpointer`` as a hook: save every ``period`` iterations and at the end.

    The checkpoint of iteration ``i`` (0-based) holds ``iteration=i``; ``max_iter`` is taken
    from the trainer. Put it after ``LRScheduler`` so the saved schedule is the one of the
    next iteration. Weights that hold NaN or inf are never saved (``FloatingPointError``).
    Registered on every process (only the main one writes), it also saves each process's
    random state and data position, so a distributed run resumes exactly.
    """

    def before_train(self) -> None:
        self.max_iter = self.trainer.max_iter

    def _saves_at(self, iteration: int) -> bool:
        return (iteration + 1) % self.period == 0 or (self.max_iter is not None and iteration >= self.max_iter - 1)

    def after_step(self) -> None:
        iteration = self.trainer.iter
        if self._saves_at(iteration):
            check_finite_weights(getattr(self.checkpointer, "model", None), iteration)
            if type(self).__qualname__ in getattr(self.trainer, "hooks_on_every_process", ()):
                # Every process has this hook: the checkpoint gets every process's RNG and data position.
                self.trainer.gather_process_states()
        # No step() after training: the last iteration already saved "<prefix>_final".
        self.step(iteration)


def _compare(mode: str) -> Callable[[float, float], bool]:
    if mode == "max":
        return operator.gt
    if mode == "min":
        return operator.lt
    raise ValueError(f"BestCheckpointer mode must be 'max' or 'min', got {mode!r}")


class BestCheckpointer(HookBase):
    """Save ``<file_prefix>.pth`` whenever ``val_metric`` (from ``EvalHook``) improves.

    Put it after the ``EvalHook`` that computes the metric, with the same ``eval_period``.
    """

    def __init__(
        self, eval_period: int, checkpointer: Any, val_metric: str, mode: str = "max", file_prefix: str = "model_best"
    ) -> None:
        self._period = eval_period
        self._val_metric = val_metric
        self._compare = _compare(mode)
        self._checkpointer = checkpointer
        self._file_prefix = file_prefix
        self.best_metric: float | None = None
        self.best_iter: int | None = None

    def _update_best(self, value: float, iteration: int) -> bool:
        if math.isnan(value) or math.isinf(value):
            return False
        self.best_metric = value
        self.best_iter = iteration
        return True

    def _best_checking(self) -> None:
        metric = self.trainer.storage.latest().get(self._val_metric)
        if metric is None:
            logger.warning(
                "BestCheckpointer: metric %r not found in the storage; no checkpoint saved", self._val_metric
            )
            return
        value, metric_iter = metric
        if self.best_metric is None or self._compare(value, self.best_metric):
            previous = self.best_metric
            if self._update_best(value, metric_iter):
                check_finite_weights(getattr(self._checkpointer, "model", None), metric_iter)
                self._checkpointer.save(self._file_prefix, iteration=metric_iter)
                logger.info("Saved best model: %s = %.5f (previous best %s)", self._val_metric, value, previous)

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if self._period > 0 and next_iter % self._period == 0 and next_iter != self.trainer.max_iter:
            self._best_checking()

    def after_train(self) -> None:
        if self.trainer.iter + 1 >= self.trainer.max_iter:
            self._best_checking()

    def state_dict(self) -> dict[str, Any]:
        if self.best_metric is None:
            return {}
        return {"best_metric": self.best_metric, "best_iter": self.best_iter}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_metric = state_dict.get("best_metric")
        self.best_iter = state_dict.get("best_iter")


class LRScheduler(HookBase):
    """Log the learning rate (``lr``) and step the scheduler after every iteration.

    Without arguments it uses the trainer's ``optimizer`` and ``scheduler``. ``scheduler`` may
    also be a param scheduler (a LazyConfig's ``lr_multiplier``): it is then applied through
    ``LRMultiplier`` over the trainer's ``max_iter``, as detectron2 does. Its state (the
    scheduler's) is saved with the trainer's checkpoint.
    """

    def __init__(self, optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None) -> None:
        self._optimizer = optimizer
        self._scheduler = scheduler
        self._best_param_group_id = 0

    def before_train(self) -> None:
        trainer: Any = self.trainer  # any trainer with an optimizer (SimpleTrainer, DefaultTrainer...)
        self._optimizer = self._optimizer or trainer.optimizer
        if self._scheduler is not None and not isinstance(self._scheduler, _TorchLRScheduler):
            self._scheduler = LRMultiplier(
                self._optimizer, self._scheduler, self.trainer.max_iter, last_iter=self.trainer.iter - 1
            )
        self._best_param_group_id = LRScheduler.get_best_param_group_id(self._optimizer)

    @staticmethod
    def get_best_param_group_id(optimizer: torch.optim.Optimizer) -> int:
        """The group whose lr is logged: the largest; if all hold one parameter, the most common lr."""
        largest = max(len(g["params"]) for g in optimizer.param_groups)
        if largest == 1:
            most_common_lr = Counter(g["lr"] for g in optimizer.param_groups).most_common()[0][0]
            return next(i for i, g in enumerate(optimizer.param_groups) if g["lr"] == most_common_lr)
        return next(i for i, g in enumerate(optimizer.param_groups) if len(g["params"]) == largest)

    @property
    def scheduler(self) -> Any:
        trainer: Any = self.trainer  # any trainer with a scheduler (DefaultTrainer...)
        return self._scheduler or trainer.scheduler

    def after_step(self) -> None:
        assert self._optimizer is not None  # set in before_train
        lr = self._optimizer.param_groups[self._best_param_group_id]["lr"]
        self.trainer.storage.put_scalar("lr", lr, smoothing_hint=False)
        self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        if isinstance(self.scheduler, _TorchLRScheduler):
            return self.scheduler.state_dict()
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if isinstance(self.scheduler, _TorchLRScheduler):
            logger.info("Loading scheduler from state_dict ...")
            self.scheduler.load_state_dict(state_dict)


class EvalHook(HookBase):
    """Run ``eval_function`` every ``eval_period`` iterations and after training; store its results.

    ``eval_function()`` returns a nested dict of floats (or nothing); every process calls it.
    It leaves the random generators as it found them, so training after an evaluation is
    what a run resumed from that iteration's checkpoint (which did not evaluate) does.
    """

    def __init__(self, eval_period: int, eval_function: Callable[[], Any], eval_after_train: bool = True) -> None:
        self._period = eval_period
        self._func = eval_function
        self._eval_after_train = eval_after_train

    def _do_eval(self) -> None:
        with unchanged_rng_state():  # a resumed run does not evaluate at its checkpoint's iteration
            results = self._func()
        if results:
            if not isinstance(results, Mapping):
                raise TypeError(f"eval function must return a dict, got {type(results).__name__}: {results!r}")
            flat = flatten_results_dict(results)
            for key, value in flat.items():
                try:
                    float(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"[EvalHook] eval_function should return a nested dict of floats; got {key}: {value!r}"
                    ) from exc
            self.trainer.storage.put_scalars(**{k: float(v) for k, v in flat.items()}, smoothing_hint=False)  # type: ignore[arg-type]  # metric names, not put_scalars' options
        # Evaluation may take different time on different processes: wait for all.
        comm.synchronize()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if self._period > 0 and next_iter % self._period == 0 and next_iter != self.trainer.max_iter:
            # The last iteration is evaluated in after_train.
            self._do_eval()

    def after_train(self) -> None:
        if self._eval_after_train and self.trainer.iter + 1 >= self.trainer.max_iter:
            self._do_eval()
        del self._func  # may hold references to the trainer and data loaders


def get_bn_modules(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that are in training mode (the ones PreciseBN updates)."""
    return [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
    ]


def _running_stats(bn: torch.nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    # get_bn_modules keeps layers with track_running_stats=True, which hold both buffers.
    assert bn.running_mean is not None and bn.running_var is not None
    return bn.running_mean, bn.running_var


@torch.no_grad()
def update_bn_stats(model: torch.nn.Module, data_loader: Iterable[Any], num_iters: int = 200) -> None:
    """Recompute BatchNorm running mean/var as the average over ``num_iters`` batches.

    EMA statistics lag behind the weights; the true average over many batches is more
    accurate ("precise BN"). The model runs in training mode (losses are discarded).
    """
    bn_layers = get_bn_modules(model)
    if not bn_layers:
        return
    momenta = {bn: bn.momentum for bn in bn_layers}
    for bn in bn_layers:
        bn.momentum = 1.0  # running stats = this batch's stats
    running_means = [torch.zeros_like(_running_stats(bn)[0]) for bn in bn_layers]
    running_vars = [torch.zeros_like(_running_stats(bn)[1]) for bn in bn_layers]
    count = 0
    for count, inputs in enumerate(itertools.islice(data_loader, num_iters), start=1):
        model(inputs)
        for i, bn in enumerate(bn_layers):
            mean, var = _running_stats(bn)
            running_means[i] += (mean - running_means[i]) / count
            running_vars[i] += (var - running_vars[i]) / count
    if count != num_iters:
        raise ValueError(f"PreciseBN: the data loader gave {count} batches, {num_iters} were asked for")
    for i, bn in enumerate(bn_layers):
        mean, var = _running_stats(bn)
        mean.copy_(running_means[i])
        var.copy_(running_vars[i])
        bn.momentum = momenta[bn]


class PreciseBN(HookBase):
    """Every ``period`` iterations and at the end, set BN statistics from ``num_iter`` batches."""

    def __init__(self, period: int, model: torch.nn.Module, data_loader: Iterable[Any], num_iter: int) -> None:
        self._period = period
        if not get_bn_modules(model):
            logger.info("PreciseBN is disabled: the model has no BatchNorm layer in training mode")
            self._disabled = True
            return
        self._disabled = False
        self._model = model
        self._data_loader = data_loader
        self._num_iter = num_iter
        self._data_iter: Any = None

    def after_step(self) -> None:
        if self._disabled:
            return
        next_iter = self.trainer.iter + 1
        if next_iter == self.trainer.max_iter or (self._period > 0 and next_iter % self._period == 0):
            self.update_stats()

    def update_stats(self) -> None:
        if self._disabled:
            return
        if self._data_iter is None:
            self._data_iter = iter(self._data_loader)

        def batches() -> Iterable[Any]:
            for num_iter in itertools.count(1):
                if num_iter % 100 == 0:
                    logger.info("Running precise-BN ... %d/%d iterations", num_iter, self._num_iter)
                yield next(self._data_iter)

        # A separate storage swallows what the model logs during these forward passes.
        with EventStorage(), unchanged_rng_state():
            logger.info("Running precise-BN for %d iterations ...", self._num_iter)
            update_bn_stats(self._model, batches(), self._num_iter)


class TorchProfiler(HookBase):
    """Profile the iterations where ``enable_predicate(trainer)`` is true; save traces to ``output_dir``."""

    def __init__(
        self,
        enable_predicate: Callable[[Any], bool],
        output_dir: str,
        *,
        activities: Iterable[torch.profiler.ProfilerActivity] | None = None,
        save_tensorboard: bool = True,
    ) -> None:
        self._enable_predicate = enable_predicate
        self._activities = activities
        self._output_dir = output_dir
        self._save_tensorboard = save_tensorboard
        self._profiler: torch.profiler.profile | None = None

    def before_step(self) -> None:
        if not self._enable_predicate(self.trainer):
            self._profiler = None
            return
        on_trace_ready = None
        if self._save_tensorboard:
            trace_dir = os.path.join(self._output_dir, f"log_dir_{self.trainer.iter}")
            on_trace_ready = torch.profiler.tensorboard_trace_handler(trace_dir, f"worker{comm.get_rank()}")
        self._profiler = torch.profiler.profile(
            activities=self._activities,
            on_trace_ready=on_trace_ready,
            record_shapes=True,
            profile_memory=True,
            with_stack=True,
            with_flops=True,
        )
        self._profiler.__enter__()

    def after_step(self) -> None:
        if self._profiler is None:
            return
        self._profiler.__exit__(None, None, None)
        if not self._save_tensorboard:
            os.makedirs(self._output_dir, exist_ok=True)
            self._profiler.export_chrome_trace(
                os.path.join(self._output_dir, f"profiler-trace-iter{self.trainer.iter}.json")
            )
        self._profiler = None


class TorchMemoryStats(HookBase):
    """Put CUDA memory figures (MB) into the storage every ``period`` iterations, ``max_runs`` times."""

    def __init__(self, period: int = 20, max_runs: int = 10) -> None:
        self._period = period
        self._max_runs = max_runs
        self._runs = 0

    def after_step(self) -> None:
        if self._runs > self._max_runs or not torch.cuda.is_available():
            return
        if (self.trainer.iter + 1) % self._period == 0 or self.trainer.iter == self.trainer.max_iter - 1:
            mb = 1024.0 * 1024.0
            self.trainer.storage.put_scalars(
                max_reserved_mem=torch.cuda.max_memory_reserved() / mb,
                reserved_mem=torch.cuda.memory_reserved() / mb,
                max_allocated_mem=torch.cuda.max_memory_allocated() / mb,
                allocated_mem=torch.cuda.memory_allocated() / mb,
            )
            self._runs += 1
            if self._runs == self._max_runs:
                logger.info("%s", torch.cuda.memory_summary())
            torch.cuda.reset_peak_memory_stats()


class TrainingProgressBar(HookBase):
    """A tqdm bar over the training iterations (main process only), showing the latest total loss
    every ``loss_period`` iterations. Not in detectron2; ``modet demo`` uses it."""

    def __init__(self, loss_period: int = 10) -> None:
        self._loss_period = loss_period
        self._bar: tqdm | None = None

    def before_train(self) -> None:
        self._bar = tqdm(
            total=self.trainer.max_iter,
            initial=self.trainer.start_iter,
            desc="training",
            unit="it",
            file=sys.stderr,
            disable=not comm.is_main_process(),
        )

    def after_step(self) -> None:
        assert self._bar is not None  # created in before_train
        self._bar.update(1)
        if self.trainer.iter % self._loss_period == 0:
            latest = self.trainer.storage.latest()
            if "total_loss" in latest:
                self._bar.set_postfix(loss=f"{latest['total_loss'][0]:.3f}")

    def after_train(self) -> None:
        assert self._bar is not None  # created in before_train
        self._bar.close()
