"""detectron2's training loop: ``HookBase``, ``TrainerBase``, ``SimpleTrainer``, ``AMPTrainer``."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import random
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import numpy as np
import torch
from torch.nn.parallel import DataParallel, DistributedDataParallel

from modet.core.events import EventStorage, get_event_storage

from . import comm

__all__ = ["AMPTrainer", "DataLoaderExhaustedError", "HookBase", "SimpleTrainer", "TrainerBase"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def denormals_flushed() -> Iterator[bool]:
    """float32 denormals (below 1.2e-38 in magnitude) read and written as zero on the CPU, inside.

    The gradients of freshly initialised or slowly learning layers underflow into denormals, on
    which x86 CPUs compute up to a hundred times slower: a Mask R-CNN iteration on 2x512x512 took
    3.5x longer (bench_compare.py, Intel Xeon, 2026-12-01). Values that small move no loss or
    weight beyond float rounding. Yields whether the CPU supports it; torch has no getter for the
    setting, so it is switched off afterwards (torch's default), also where it was on before.
    """
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:
            torch.set_flush_denormal(False)


class DataLoaderExhaustedError(RuntimeError):
    """The training data loader stopped before ``max_iter`` (a finite loader)."""


class HookBase:
    """Something run around training steps. A hook sees its trainer as ``self.trainer``.

    Order of calls: ``before_train``, then for each iteration ``before_step``, the step
    (``after_backward`` inside it), ``after_step``; finally ``after_train`` (also on error).
    """

    trainer: TrainerBase

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_backward(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """State saved with the trainer's checkpoint (empty for stateless hooks)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


class TrainerBase:
    """Runs ``run_step`` from ``start_iter`` to ``max_iter`` inside an :class:`EventStorage`, with hooks.

    ``iter`` is the iteration being run; after a completed training it equals ``max_iter``.
    """

    def __init__(self) -> None:
        self._hooks: list[HookBase] = []
        self.iter: int = 0
        self.start_iter: int = 0
        self.max_iter: int = 0
        self.storage: EventStorage
        # Names of the hook classes registered on every process (set when training starts).
        self.hooks_on_every_process: set[str] = set()

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Add hooks, run in the order given (``None`` entries are skipped)."""
        kept = [h for h in hooks if h is not None]
        for h in kept:
            if not isinstance(h, HookBase):
                raise TypeError(f"hooks must be HookBase instances, got {type(h).__name__}")
            # A proxy avoids a reference cycle trainer -> hook -> trainer.
            h.trainer = weakref.proxy(self)
        self._hooks.extend(kept)

    def train(self, start_iter: int, max_iter: int) -> None:
        logger.info("Starting training from iteration %d", start_iter)
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage, denormals_flushed():
            try:
                self._find_hooks_on_every_process()
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                # iter == max_iter tells after_train that training finished rather than failed.
                self.iter += 1
            except Exception as exc:
                # One line on the console; the traceback goes to the log file (DEBUG level).
                logger.error("Exception during training at iteration %d: %s: %s", self.iter, type(exc).__name__, exc)
                logger.debug("Traceback of the exception during training:", exc_info=True)
                raise
            finally:
                self.after_train()

    def _find_hooks_on_every_process(self) -> None:
        # A hook may run a collective (all processes take part) only if every process has it;
        # detectron2's scripts often register checkpointing hooks on the main process only.
        names = [type(h).__qualname__ for h in self._hooks]
        self.hooks_on_every_process = set.intersection(*(set(n) for n in comm.all_gather(names)))

    def gather_process_states(self) -> None:
        """Collective: bring each process's own state (RNG, data position) to the next checkpoint.

        Trainers without such state do nothing.
        """

    def before_train(self) -> None:
        for h in self._hooks:
            h.before_train()

    def after_train(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.after_train()

    def before_step(self) -> None:
        # storage.iter == trainer.iter for the whole step.
        self.storage.iter = self.iter
        for h in self._hooks:
            h.before_step()

    def after_backward(self) -> None:
        for h in self._hooks:
            h.after_backward()

    def after_step(self) -> None:
        for h in self._hooks:
            h.after_step()

    def run_step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"iteration": self.iter}
        hooks_state = {}
        for h in self._hooks:
            hook_state = h.state_dict()
            name = type(h).__qualname__
            if hook_state and name not in hooks_state:
                hooks_state[name] = hook_state
        if hooks_state:
            state["hooks"] = hooks_state
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.iter = int(state_dict["iteration"])
        for name, value in state_dict.get("hooks", {}).items():
            for h in self._hooks:
                if type(h).__qualname__ == name:
                    h.load_state_dict(value)
                    break
            else:
                logger.warning("no hook %r in this trainer; its saved state is ignored", name)


def _rng_state() -> dict[str, Any]:
    # Plain tensors and tuples only, so a checkpoint loads with torch.load(weights_only=True).
    np_state = cast(tuple[Any, ...], np.random.get_state())  # the legacy tuple (numpy's default)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def unchanged_rng_state() -> Iterator[None]:
    """Run a side computation (evaluation, precise BN) without moving the training's random streams.

    Whatever the block draws (a ``DataLoader`` iterator draws a seed from torch's generator, a
    model in training mode samples proposals), the next iteration starts from the state the
    checkpoint of this iteration holds, so a resumed run is still exact.
    """
    state = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(state)


class SimpleTrainer(TrainerBase):
    """One optimizer step per iteration: next batch, model losses, backward, ``optimizer.step()``.

    The model takes a batch from ``data_loader`` (an iterable, usually infinite) and returns a
    dict of scalar losses (or one loss tensor). A non-finite total loss raises
    ``FloatingPointError`` naming the iteration and the loss terms, before the weights change;
    the check runs every iteration, whatever ``gather_metric_period`` and
    ``async_write_metrics`` are. A loader that runs out raises :class:`DataLoaderExhaustedError`.
    The saved state includes the optimizer and, for each process, its random number generators
    and its data loader's ``state_dict()`` (modet.data's training loader has one), so a resumed
    run continues exactly as an uninterrupted one would, on one process or several.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        data_loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        gather_metric_period: int = 1,
        zero_grad_before_forward: bool = False,
        async_write_metrics: bool = False,
    ) -> None:
        super().__init__()
        model.train()
        self.model = model
        self.data_loader = data_loader
        self._data_loader_iter_obj: Any = None
        self.optimizer = optimizer
        self.gather_metric_period = gather_metric_period
        self.zero_grad_before_forward = zero_grad_before_forward
        self.async_write_metrics = async_write_metrics
        self.concurrent_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._gathered_process_states: tuple[int, list[dict[str, Any]]] | None = None

    @property
    def _data_loader_iter(self) -> Any:
        if self._data_loader_iter_obj is None:
            self._data_loader_iter_obj = iter(self.data_loader)
        return self._data_loader_iter_obj

    def reset_data_loader(self, data_loader_builder: Any) -> None:
        """Replace the data loader by ``data_loader_builder()`` (after the old one is released)."""
        del self.data_loader
        self._data_loader_iter_obj = None
        self.data_loader = data_loader_builder()

    def _next_batch(self) -> tuple[Any, float]:
        start = time.perf_counter()
        try:
            data = next(self._data_loader_iter)
        except StopIteration:
            raise DataLoaderExhaustedError(
                f"The training data loader ran out of batches at iteration {self.iter} (training started at "
                f"{self.start_iter}, max_iter={self.max_iter}): each iteration takes one batch. Use an infinite "
                "loader (modet.data's build_detection_train_loader gives one) or fewer iterations (SOLVER.MAX_ITER)."
            ) from None
        return data, time.perf_counter() - start

    def _check_finite_loss(self, losses: torch.Tensor, loss_dict: Mapping[str, torch.Tensor]) -> None:
        """Raise FloatingPointError on a NaN/inf loss, before backward and the optimizer step."""
        if bool(torch.isfinite(losses.detach()).all()):
            return
        terms = {k: float(v.detach().float().mean()) for k, v in loss_dict.items()}
        raise FloatingPointError(f"Loss became infinite or NaN at iteration={self.iter}!\nloss_dict = {terms}")

    @staticmethod
    def _total_loss(loss_dict: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if isinstance(loss_dict, torch.Tensor):
            return loss_dict, {"total_loss": loss_dict}
        if not isinstance(loss_dict, Mapping) or not loss_dict:
            raise TypeError(
                "in training mode the model must return a non-empty dict of scalar losses (or one loss tensor), "
                f"got {type(loss_dict).__name__}"
            )
        return cast(torch.Tensor, sum(loss_dict.values())), dict(loss_dict)  # a sum of loss tensors

    def run_step(self) -> None:
        """One iteration: next batch, forward, backward, ``after_backward`` hooks, metrics, optimizer step."""
        if not self.model.training:
            raise RuntimeError(f"[{type(self).__name__}] the model was changed to eval mode during training")
        data, data_time = self._next_batch()
        if self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        with self._forward_context():
            losses, loss_dict = self._total_loss(self.model(data))
        self._check_finite_loss(losses, loss_dict)
        if not self.zero_grad_before_forward:
            self.optimizer.zero_grad()
        self._backward(losses)
        self.after_backward()
        self._write_metrics_maybe_async(loss_dict, data_time)
        self._optimizer_step()

    # The three places where AMPTrainer's step differs.
    def _forward_context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def _backward(self, losses: torch.Tensor) -> None:
        losses.backward()

    def _optimizer_step(self) -> None:
        self.optimizer.step()

    def _write_metrics_maybe_async(self, loss_dict: Mapping[str, torch.Tensor], data_time: float) -> None:
        if self.async_write_metrics:
            self.concurrent_executor.submit(self._write_metrics, loss_dict, data_time, iter=self.iter)
        else:
            self._write_metrics(loss_dict, data_time)

    def _write_metrics(
        self, loss_dict: Mapping[str, torch.Tensor], data_time: float, prefix: str = "", iter: int | None = None
    ) -> None:
        cur_iter = self.iter if iter is None else iter
        if (cur_iter + 1) % self.gather_metric_period == 0:
            self.write_metrics(loss_dict, data_time, cur_iter, prefix)

    @staticmethod
    def write_metrics(loss_dict: Mapping[str, torch.Tensor], data_time: float, cur_iter: int, prefix: str = "") -> None:
        """Put losses (averaged over processes) and data time (their maximum) into the storage."""
        metrics = {k: v.detach().cpu().item() for k, v in loss_dict.items()}
        metrics["data_time"] = data_time
        storage = get_event_storage()
        storage.put_scalar("rank_data_time", data_time, cur_iter=cur_iter)
        all_metrics = comm.gather(metrics)
        if not comm.is_main_process():
            return
        # The slowest process is the one everybody waits for.
        storage.put_scalar("data_time", max(m.pop("data_time") for m in all_metrics), cur_iter=cur_iter)
        metrics = {k: float(np.mean([m[k] for m in all_metrics])) for k in all_metrics[0]}
        total = sum(metrics.values())
        if not np.isfinite(total):
            raise FloatingPointError(f"Loss became infinite or NaN at iteration={cur_iter}!\nloss_dict = {metrics}")
        storage.put_scalar(f"{prefix}total_loss", total, cur_iter=cur_iter)
        if len(metrics) > 1:
            for name, value in metrics.items():  # put_scalars' keywords would clash with a loss named cur_iter
                storage.put_scalar(name, value, cur_iter=cur_iter)

    def process_state_dict(self) -> dict[str, Any]:
        """This process's own state: its RNGs and, when the loader has one, the loader's ``state_dict()``."""
        state: dict[str, Any] = {"rng_state": _rng_state()}
        loader_state = getattr(self.data_loader, "state_dict", None)
        if callable(loader_state):
            state["data_loader"] = loader_state()
        return state

    def gather_process_states(self) -> None:
        self._gathered_process_states = (self.iter, comm.all_gather(self.process_state_dict()))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimizer"] = self.optimizer.state_dict()
        gathered = self._gathered_process_states
        if gathered is not None and gathered[0] == self.iter:
            state["processes"] = gathered[1]  # index = rank
        else:  # saved without a gather: this process's state only
            state["processes"] = [self.process_state_dict()]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.optimizer.load_state_dict(state_dict["optimizer"])
        if "processes" in state_dict:
            self._load_process_state(state_dict["processes"])
        elif "rng_state" in state_dict:  # checkpoints of modet before the per-process states
            _set_rng_state(state_dict["rng_state"])

    def _load_process_state(self, processes: list[dict[str, Any]]) -> None:
        rank, world_size = comm.get_rank(), comm.get_world_size()
        if len(processes) != world_size:
            logger.warning(
                "The checkpoint holds the state of %d process(es) and this run has %d: process %d %s, so the "
                "resumed run is not exactly the interrupted one",
                len(processes),
                world_size,
                rank,
                "restores its random state and data position" if rank < len(processes) else "starts afresh",
            )
        if rank >= len(processes):
            return
        own = processes[rank]
        _set_rng_state(own["rng_state"])
        load_loader_state = getattr(self.data_loader, "load_state_dict", None)
        if "data_loader" in own and callable(load_loader_state):
            load_loader_state(own["data_loader"])
            self._data_loader_iter_obj = None  # the next batch comes from the restored position
        else:
            logger.warning(
                "The data loader (%s) %s: the resumed run starts its data stream over, so it is not exactly the "
                "interrupted one. modet.data's build_detection_train_loader saves its position.",
                type(self.data_loader).__name__,
                "has no load_state_dict()" if not callable(load_loader_state) else "state is not in the checkpoint",
            )

    def after_train(self) -> None:
        super().after_train()
        self.concurrent_executor.shutdown(wait=True)
        self.concurrent_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in comm.unwrap_model(model).parameters():
        return tensor.device
    return torch.device("cpu")


class AMPTrainer(SimpleTrainer):
    """:class:`SimpleTrainer` under autocast: float16 with a ``GradScaler`` on CUDA, bfloat16 on CPU."""

    def __init__(
        self,
        model: torch.nn.Module,
        data_loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        gather_metric_period: int = 1,
        zero_grad_before_forward: bool = False,
        grad_scaler: torch.amp.GradScaler | None = None,
        precision: torch.dtype | None = None,
        log_grad_scaler: bool = False,
        async_write_metrics: bool = False,
    ) -> None:
        if isinstance(model, DistributedDataParallel) and len(model.device_ids or []) > 1:
            raise ValueError("AMPTrainer does not support single-process multi-device training")
        if isinstance(model, DataParallel):
            raise ValueError("AMPTrainer does not support DataParallel")
        super().__init__(
            model, data_loader, optimizer, gather_metric_period, zero_grad_before_forward, async_write_metrics
        )
        self.device_type = _model_device(model).type
        if precision is None:
            precision = torch.float16 if self.device_type == "cuda" else torch.bfloat16
        self.precision = precision
        if grad_scaler is None:
            # Only float16 needs loss scaling; bfloat16 has float32's exponent range.
            grad_scaler = torch.amp.GradScaler(self.device_type, enabled=precision == torch.float16)
        self.grad_scaler = grad_scaler
        self.log_grad_scaler = log_grad_scaler

    def _forward_context(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device_type, dtype=self.precision)

    def _backward(self, losses: torch.Tensor) -> None:
        self.grad_scaler.scale(losses).backward()
        if self.log_grad_scaler and self.grad_scaler.is_enabled():
            self.storage.put_scalar("[metric]grad_scaler", self.grad_scaler.get_scale())

    def _optimizer_step(self) -> None:
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
