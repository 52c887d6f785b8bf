"""Event writers of detectron2 (``detectron2.utils.events``): JSON lines, the console, tensorboard.

Writers read the active :class:`~modet.core.events.EventStorage`; ``PeriodicWriter`` calls
``write()`` every few iterations and ``close()`` at the end of training.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import time
from collections import defaultdict
from typing import Any

import torch

from modet.core.events import EventStorage, get_event_storage

__all__ = ["CommonMetricPrinter", "EventWriter", "JSONWriter", "TensorboardXWriter", "default_writers"]


class EventWriter:
    """Base class of writers that turn an :class:`EventStorage`'s contents into output."""

    def write(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class JSONWriter(EventWriter):
    """Append the scalars of each iteration not yet written as one JSON object per line.

    Smoothed scalars are written as the median of the values logged in the last ``window_size``
    iterations. Read back with::

        [json.loads(line) for line in open("metrics.json")]
    """

    def __init__(self, json_file: str | os.PathLike[str], window_size: int = 20) -> None:
        self._file_handle = open(json_file, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._window_size = window_size
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        to_save: defaultdict[int, dict[str, Any]] = defaultdict(dict)
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr <= self._last_write:  # already written
                continue
            to_save[itr][name] = value
        if to_save:
            self._last_write = max(to_save)
        for itr in sorted(to_save):
            scalars = {**to_save[itr], "iteration": itr}
            self._file_handle.write(json.dumps(scalars, sort_keys=True) + "\n")
        self._file_handle.flush()
        with contextlib.suppress(AttributeError, OSError):
            os.fsync(self._file_handle.fileno())

    def close(self) -> None:
        self._file_handle.close()


class TensorboardXWriter(EventWriter):
    """Write scalars, images and histograms to a tensorboard event file in ``log_dir``."""

    def __init__(self, log_dir: str | os.PathLike[str], window_size: int = 20, **kwargs: Any) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # the `tensorboard` extra
        except ImportError as exc:
            raise ImportError(
                "TensorboardXWriter needs the tensorboard package: pip install 'modet-engine[tensorboard]'"
            ) from exc
        self._summary_writer_class = SummaryWriter
        self._writer_args = {"log_dir": str(log_dir), **kwargs}
        self._window_size = window_size
        self._last_write = -1

    @functools.cached_property
    def _writer(self) -> Any:
        """The tensorboard writer, made on first use: a writer never written to leaves no file."""
        return self._summary_writer_class(**self._writer_args)

    def write(self) -> None:
        storage = get_event_storage()
        new_last_write = self._last_write
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                self._writer.add_scalar(name, value, itr)
                new_last_write = max(new_last_write, itr)
        self._last_write = new_last_write
        for img_name, img, step_num in storage._vis_data:
            self._writer.add_image(img_name, img, step_num)
        storage.clear_images()
        for params in storage._histograms:
            self._writer.add_histogram_raw(**params)
        storage.clear_histograms()

    def close(self) -> None:
        if "_writer" in self.__dict__:
            self._writer.close()


class CommonMetricPrinter(EventWriter):
    """Log eta, losses, iteration time, data time, learning rate and peak memory to the console."""

    def __init__(self, max_iter: int | None = None, window_size: int = 20) -> None:
        self.logger = logging.getLogger("modet.engine.train")
        self._max_iter = max_iter
        self._window_size = window_size
        self._last_write: tuple[int, float] | None = None

    def _eta(self, storage: EventStorage) -> str | None:
        if self._max_iter is None:
            return None
        iteration = storage.iter
        try:
            eta_seconds = storage.history("time").median(1000) * (self._max_iter - iteration - 1)
            storage.put_scalar("eta_seconds", eta_seconds, smoothing_hint=False)
            return str(datetime.timedelta(seconds=int(eta_seconds)))
        except KeyError:
            # No timing yet (IterationTimer not installed or warming up): estimate from our calls.
            eta = None
            now = time.perf_counter()
            if self._last_write is not None and iteration > self._last_write[0]:
                seconds_per_iter = (now - self._last_write[1]) / (iteration - self._last_write[0])
                eta = str(datetime.timedelta(seconds=int(seconds_per_iter * (self._max_iter - iteration - 1))))
            self._last_write = (iteration, now)
            return eta

    def _history_or_none(self, storage: EventStorage, name: str) -> Any:
        try:
            return storage.history(name)
        except KeyError:
            return None

    def write(self) -> None:
        storage = get_event_storage()
        iteration = storage.iter
        if iteration == self._max_iter:
            return  # training finished: nothing left to report
        data_time = self._history_or_none(storage, "data_time")
        iter_time = self._history_or_none(storage, "time")
        lr = self._history_or_none(storage, "lr")
        eta = self._eta(storage)
        # losses and "[metric]" scalars: the median over the last window_size iterations
        histories = storage.histories().items()
        smoothed = [
            f"{name}: {history.median(storage.count_samples(name, self._window_size)):.4g}"
            for kind in ("loss", "[metric]")
            for name, history in histories
            if kind in name
        ]
        parts = [f"eta: {eta}" if eta else "", f"iter: {iteration}", *smoothed]
        if iter_time is not None:  # the mean over the whole run, as detectron2 prints it
            parts.append(f"time: {iter_time.global_avg():.4f}")
            parts.append(f"last_time: {iter_time.latest():.4f}")
        if data_time is not None:
            parts.append(f"data_time: {data_time.avg(storage.count_samples('data_time', self._window_size)):.4f}")
            parts.append(f"last_data_time: {data_time.latest():.4f}")
        parts.append(f"lr: {lr.latest():.5g}" if lr is not None else "lr: N/A")
        if torch.cuda.is_available():
            parts.append(f"max_mem: {torch.cuda.max_memory_allocated() / 1024.0 / 1024.0:.0f}M")
        self.logger.info("  ".join(part for part in parts if part))


def default_writers(output_dir: str | os.PathLike[str], max_iter: int | None = None) -> list[EventWriter]:
    """Console printer, ``output_dir/metrics.json`` and tensorboard (when installed)."""
    os.makedirs(output_dir, exist_ok=True)
    writers: list[EventWriter] = [
        CommonMetricPrinter(max_iter),
        JSONWriter(os.path.join(output_dir, "metrics.json")),
    ]
    try:
        writers.append(TensorboardXWriter(output_dir))
    except ImportError:
        logging.getLogger(__name__).info("tensorboard is not installed; writing no tensorboard events")
    return writers
