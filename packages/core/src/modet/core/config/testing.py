"""Helpers for tests of LazyConfig-based code (detectron2's ``detectron2.utils.testing.reload_lazy_config``)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from .lazy import LazyConfig

__all__ = ["reload_lazy_config"]


def reload_lazy_config(cfg: Any) -> Any:
    """``cfg`` saved with ``LazyConfig.save`` and loaded back: a config must survive that unchanged."""
    with tempfile.TemporaryDirectory(prefix="modet") as folder:
        path = os.path.join(folder, "reloaded_config.yaml")
        LazyConfig.save(cfg, path)
        return LazyConfig.load(path)
