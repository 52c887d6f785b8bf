"""The process's environment: the torch version and seeding every random number generator
(detectron2's ``detectron2.utils.env``)."""

from __future__ import annotations

import datetime
import logging
import os
import random

import numpy as np
import torch

__all__ = ["TORCH_VERSION", "seed_all_rng"]

logger = logging.getLogger(__name__)

#: (major, minor) of the installed torch, for version checks such as ``TORCH_VERSION >= (2, 1)``.
TORCH_VERSION: tuple[int, int] = tuple(int(part) for part in torch.__version__.split(".")[:2])  # type: ignore[assignment]


def seed_all_rng(seed: int | None = None) -> int:
    """Seed python, numpy and torch RNGs (a fresh random seed when ``seed`` is None); return the seed."""
    if seed is None:
        seed = (
            os.getpid() + int(datetime.datetime.now().strftime("%S%f")) + int.from_bytes(os.urandom(2), "big")
        ) % 2**31
        logger.info("Using a generated random seed %d", seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed
