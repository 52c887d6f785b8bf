"""Printing and checking evaluation results."""

from __future__ import annotations

import logging
import pprint
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from modet.core.events import flatten_results_dict

__all__ = ["flatten_results_dict", "print_csv_format", "verify_results"]

logger = logging.getLogger(__name__)


def print_csv_format(results: Mapping[str, Any]) -> None:
    """Log the main metrics of each task as comma-separated lines, easy to paste into a sheet.

    Per-category metrics (keys with a ``-``, like ``AP-square``) are left out.
    """
    if not isinstance(results, Mapping) and results:
        raise TypeError(f"print_csv_format expects a mapping, got {type(results).__name__}")
    for task, res in results.items():
        if isinstance(res, Mapping):
            important = [(k, v) for k, v in res.items() if "-" not in k]
            logger.info("copypaste: Task: %s", task)
            logger.info("copypaste: %s", ",".join(k for k, _ in important))
            logger.info("copypaste: %s", ",".join(f"{v:.4f}" for _, v in important))
        else:
            logger.info("copypaste: %s=%s", task, res)


def verify_results(cfg: Any, results: Mapping[str, Mapping[str, float]]) -> bool:
    """Check ``results`` against ``cfg.TEST.EXPECTED_RESULTS`` (``[[task, metric, value, tolerance], ...]``)."""
    expected_results = cfg.TEST.EXPECTED_RESULTS
    if not expected_results:
        return True
    ok = True
    for task, metric, expected, tolerance in expected_results:
        actual = results[task].get(metric, None)
        if actual is None or not np.isfinite(actual) or abs(actual - expected) > tolerance:
            ok = False
    logger.info("Results verification: %s", "passed" if ok else "FAILED")
    if not ok:
        logger.error(
            "Expected results:\n%s\nActual results:\n%s", pprint.pformat(expected_results), pprint.pformat(results)
        )
        sys.exit(1)
    return ok
