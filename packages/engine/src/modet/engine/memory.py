"""Surviving CUDA out-of-memory errors (detectron2's ``retry_if_cuda_oom``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch

__all__ = ["retry_if_cuda_oom"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


def _is_cuda_oom(exc: RuntimeError) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(exc)


def _to_cpu(value: Any) -> Any:
    return value.to(device="cpu") if hasattr(value, "to") and hasattr(value, "device") else value


def retry_if_cuda_oom(func: Callable[..., T]) -> Callable[..., T]:
    """Wrap ``func`` so a CUDA out-of-memory error is retried: first after emptying the CUDA
    cache, then with every tensor-like argument moved to the CPU (the result is then on the CPU).
    Other errors, and an OOM on the CPU retry, propagate unchanged.
    """

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except RuntimeError as exc:
            if not _is_cuda_oom(exc):
                raise
        torch.cuda.empty_cache()
        try:
            return func(*args, **kwargs)
        except RuntimeError as exc:
            if not _is_cuda_oom(exc):
                raise
        logger.info("Out of CUDA memory in %s: running it on the CPU", getattr(func, "__name__", func))
        return func(*(_to_cpu(a) for a in args), **{k: _to_cpu(v) for k, v in kwargs.items()})

    return wrapped
