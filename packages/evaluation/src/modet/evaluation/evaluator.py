"""``DatasetEvaluator`` protocol and ``inference_on_dataset``: run a model over a loader and score it."""

from __future__ import annotations

import datetime
import logging
import time
from collections import OrderedDict, abc
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from modet.core import comm

__all__ = ["DatasetEvaluator", "DatasetEvaluators", "inference_context", "inference_on_dataset"]

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    """Accumulates ``(inputs, outputs)`` pairs with ``process`` and scores them in ``evaluate``.

    ``evaluate`` returns ``{task: {metric: value}}`` (e.g. ``{"bbox": {"AP": 50.1, ...}}``).
    """

    def reset(self) -> None:
        """Forget everything processed so far (called before a new evaluation)."""

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        """Take one batch of model inputs and the model's outputs for them."""

    def evaluate(self) -> dict[str, Any] | None:
        """Score everything processed; in distributed runs only the main process returns results."""
        return None


class DatasetEvaluators(DatasetEvaluator):
    """Several evaluators run as one; their result dicts are merged (task names must not clash)."""

    def __init__(self, evaluators: Iterable[DatasetEvaluator]):
        super().__init__()
        self._evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self._evaluators:
            evaluator.reset()

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for evaluator in self._evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> dict[str, Any]:
        results: dict[str, Any] = OrderedDict()
        for evaluator in self._evaluators:
            result = evaluator.evaluate()
            if comm.is_main_process() and result is not None:
                for key, value in result.items():
                    if key in results:
                        raise KeyError(f"Different evaluators produce results with the same key {key!r}")
                    results[key] = value
        return results


@contextmanager
def inference_context(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode for the block, then restore its previous mode."""
    training_mode = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training_mode)


def inference_on_dataset(
    model: Any,
    data_loader: Iterable[list[dict[str, Any]]],
    evaluator: DatasetEvaluator | list[DatasetEvaluator] | None,
    callbacks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``model`` on every batch of ``data_loader`` (eval mode, no grad) and feed ``evaluator``.

    Shows a progress bar, logs the time per image (the first few batches are warm-up and not
    timed), and returns ``evaluator.evaluate()``. Under torch.distributed each process runs its
    own shard and the evaluators gather the results on the main process.
    ``callbacks`` may hold ``on_start``, ``before_inference``, ``after_inference``, ``on_end``.
    """
    num_devices = comm.get_world_size()
    try:
        total = len(data_loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    logger.info("Start inference on %s batches", total if total is not None else "an unknown number of")
    if evaluator is None:
        evaluator = DatasetEvaluators([])
    if isinstance(evaluator, abc.MutableSequence):
        evaluator = DatasetEvaluators(evaluator)
    evaluator.reset()

    num_warmup = min(5, total - 1) if total else 5
    start_time = time.perf_counter()
    total_data_time = total_compute_time = total_eval_time = 0.0
    callbacks = callbacks or {}
    with ExitStack() as stack:
        if isinstance(model, nn.Module):
            stack.enter_context(inference_context(model))
        stack.enter_context(torch.no_grad())
        progress = tqdm(total=total, desc="inference", unit="batch", disable=not comm.is_main_process())
        stack.callback(progress.close)
        if "on_start" in callbacks:
            callbacks["on_start"]()
        start_data_time = time.perf_counter()
        iters_after_start = 0
        num_batches = 0
        for idx, inputs in enumerate(data_loader):
            num_batches = idx + 1
            total_data_time += time.perf_counter() - start_data_time
            if idx == num_warmup:
                start_time = time.perf_counter()
                total_data_time = total_compute_time = total_eval_time = 0.0
            start_compute_time = time.perf_counter()
            if "before_inference" in callbacks:
                callbacks["before_inference"]()
            outputs = model(inputs)
            if "after_inference" in callbacks:
                callbacks["after_inference"]()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            total_compute_time += time.perf_counter() - start_compute_time
            start_eval_time = time.perf_counter()
            evaluator.process(inputs, outputs)
            total_eval_time += time.perf_counter() - start_eval_time
            iters_after_start = idx + 1 - num_warmup * int(idx >= num_warmup)
            progress.update(1)
            progress.set_postfix(s_per_img=f"{total_compute_time / max(iters_after_start, 1):.3f}")
            start_data_time = time.perf_counter()
        if "on_end" in callbacks:
            callbacks["on_end"]()

    total_time = time.perf_counter() - start_time
    timed = max(num_batches - num_warmup, 1)
    logger.info(
        "Total inference time: %s (%.6f s / iter per device, on %d devices)",
        str(datetime.timedelta(seconds=int(total_time))),
        total_time / timed,
        num_devices,
    )
    logger.info(
        "Total inference pure compute time: %s (%.6f s / iter per device, on %d devices)",
        str(datetime.timedelta(seconds=int(total_compute_time))),
        total_compute_time / timed,
        num_devices,
    )
    results = evaluator.evaluate()
    return {} if results is None else results
