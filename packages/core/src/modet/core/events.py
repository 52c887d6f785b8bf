"""detectron2's ``EventStorage``: where a model in training puts its scalars, images and histograms."""

from __future__ import annotations

import contextlib
import statistics
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

_CURRENT_STORAGE_STACK: list[EventStorage] = []


class NoEventStorageError(AssertionError):
    """Raised by :func:`get_event_storage` outside a ``with EventStorage():`` block.

    An ``AssertionError`` as in detectron2, so code catching that keeps working.
    """


def get_event_storage() -> EventStorage:
    """The innermost active :class:`EventStorage`."""
    if not _CURRENT_STORAGE_STACK:
        raise NoEventStorageError(
            "get_event_storage() has to be called inside a 'with EventStorage(...)' context! "
            "Models in training mode log to an EventStorage: wrap the call in "
            "`with EventStorage() as storage:` (from modet.core.events or modet.engine)."
        )
    return _CURRENT_STORAGE_STACK[-1]


def has_event_storage() -> bool:
    """Whether a storage is active (for code that logs only when it can)."""
    return bool(_CURRENT_STORAGE_STACK)


class HistoryBuffer:
    """A bounded series of ``(value, iteration)`` pairs with median/avg over a window."""

    def __init__(self, max_length: int = 1_000_000) -> None:
        self._max_length = max_length
        self._data: list[tuple[float, float]] = []
        self._count = 0
        self._global_avg = 0.0

    def update(self, value: float, iteration: float | None = None) -> None:
        if iteration is None:
            iteration = self._count
        if len(self._data) == self._max_length:
            self._data.pop(0)
        self._data.append((value, iteration))
        self._count += 1
        self._global_avg += (value - self._global_avg) / self._count

    def latest(self) -> float:
        return self._data[-1][0]

    def median(self, window_size: int) -> float:
        return float(statistics.median(x[0] for x in self._data[-window_size:]))

    def avg(self, window_size: int) -> float:
        window = [x[0] for x in self._data[-window_size:]]
        return sum(window) / len(window)

    def global_avg(self) -> float:
        return self._global_avg

    def values(self) -> list[tuple[float, float]]:
        return self._data


class EventStorage:
    """Per-iteration metrics of a training run, shared by the model, the trainer and the writers."""

    def __init__(self, start_iter: int = 0) -> None:
        self._history: defaultdict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._smoothing_hints: dict[str, bool] = {}
        self._latest_scalars: dict[str, tuple[float, int]] = {}
        self._iter = start_iter
        self._current_prefix = ""
        self._vis_data: list[tuple[str, Any, int]] = []
        self._histograms: list[dict[str, Any]] = []

    def put_image(self, img_name: str, img_tensor: Any) -> None:
        """Queue an image (a (3,H,W) tensor in [0, 1] or [0, 255]) for the writers."""
        self._vis_data.append((img_name, img_tensor, self._iter))

    def put_scalar(self, name: str, value: Any, smoothing_hint: bool = True, cur_iter: int | None = None) -> None:
        """Record ``value`` under ``name`` (prefixed by the current :meth:`name_scope`).

        ``smoothing_hint`` tells writers to report the median over a window rather than the
        latest value; it must stay the same for a name.
        """
        name = self._current_prefix + name
        cur_iter = self._iter if cur_iter is None else cur_iter
        value = float(value)
        self._history[name].update(value, cur_iter)
        self._latest_scalars[name] = (value, cur_iter)
        existing_hint = self._smoothing_hints.get(name)
        if existing_hint is not None and existing_hint != smoothing_hint:
            raise ValueError(f"scalar {name!r} was put with smoothing_hint={existing_hint}, now {smoothing_hint}")
        self._smoothing_hints[name] = smoothing_hint

    def put_scalars(self, *, smoothing_hint: bool = True, cur_iter: int | None = None, **kwargs: Any) -> None:
        """``put_scalar`` for each keyword argument."""
        for name, value in kwargs.items():
            self.put_scalar(name, value, smoothing_hint=smoothing_hint, cur_iter=cur_iter)

    def put_histogram(self, hist_name: str, hist_tensor: Any, bins: int = 1000) -> None:
        """Record a histogram of a tensor's values (tensorboard's layout)."""
        # modet.core does not depend on torch; a histogram is of a tensor, so torch is there
        import torch

        values = hist_tensor.detach().float().flatten()
        ht_min, ht_max = values.min().item(), values.max().item()
        counts = torch.histc(values, bins=bins, min=ht_min, max=ht_max)
        edges = torch.linspace(start=ht_min, end=ht_max, steps=bins + 1, dtype=torch.float32)
        self._histograms.append(
            {
                "tag": hist_name,
                "min": ht_min,
                "max": ht_max,
                "num": len(values),
                "sum": float(values.sum()),
                "sum_squares": float(torch.sum(values**2)),
                "bucket_limits": edges[1:].tolist(),
                "bucket_counts": counts.tolist(),
                "global_step": self._iter,
            }
        )

    def history(self, name: str) -> HistoryBuffer:
        if name not in self._history:
            raise KeyError(f"no history for metric {name!r}; known metrics: {sorted(self._history)}")
        return self._history[name]

    def histories(self) -> dict[str, HistoryBuffer]:
        return dict(self._history)

    def latest(self) -> dict[str, tuple[float, int]]:
        """name -> (latest value, iteration it was put at)."""
        return dict(self._latest_scalars)

    def latest_with_smoothing_hint(self, window_size: int = 20) -> dict[str, tuple[float, int]]:
        """Like :meth:`latest`, but for smoothed scalars the median of the values logged in the
        last ``window_size`` iterations (see :meth:`count_samples`), as detectron2 smooths."""
        result = {}
        for name, (value, itr) in self._latest_scalars.items():
            if self._smoothing_hints[name]:
                value = self._history[name].median(self.count_samples(name, window_size))
            result[name] = (value, itr)
        return result

    def count_samples(self, name: str, window_size: int = 20) -> int:
        """How many values of ``name`` were logged in the ``window_size`` iterations up to its latest one.

        A scalar logged every 5 iterations has 2 samples in a window of 10: smoothing over
        iterations, not over a fixed number of values, treats sparse and dense metrics alike.
        """
        values = self._history[name].values()
        if not values:
            return 0
        first_iter_in_window = values[-1][1] - window_size
        count = 0
        for _, itr in reversed(values):  # stops at the window's start: at most window_size steps
            if itr <= first_iter_in_window:
                break
            count += 1
        return count

    def smoothing_hints(self) -> dict[str, bool]:
        return dict(self._smoothing_hints)

    def step(self) -> None:
        """Advance to the next iteration (the trainer calls this after each step)."""
        self._iter += 1

    @property
    def iter(self) -> int:
        return self._iter

    @iter.setter
    def iter(self, value: int) -> None:
        self._iter = int(value)

    @property
    def iteration(self) -> int:  # older detectron2 name
        return self._iter

    def __enter__(self) -> EventStorage:
        _CURRENT_STORAGE_STACK.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not _CURRENT_STORAGE_STACK or _CURRENT_STORAGE_STACK[-1] is not self:
            raise RuntimeError("EventStorage contexts exited out of order")
        _CURRENT_STORAGE_STACK.pop()

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """Prefix every scalar put inside the block with ``name/``."""
        old_prefix = self._current_prefix
        self._current_prefix = name.rstrip("/") + "/"
        try:
            yield
        finally:
            self._current_prefix = old_prefix

    def clear_images(self) -> None:
        self._vis_data = []

    def clear_histograms(self) -> None:
        self._histograms = []


def flatten_results_dict(results: Mapping[str, Any]) -> dict[str, Any]:
    """``{"bbox": {"AP": 1}}`` -> ``{"bbox/AP": 1}``: nested evaluation results as scalar names."""
    flat: dict[str, Any] = {}
    for key, value in results.items():
        if isinstance(value, Mapping):
            for sub_key, sub_value in flatten_results_dict(value).items():
                flat[f"{key}/{sub_key}"] = sub_value
        else:
            flat[key] = value
    return flat
