"""Readable reports of what a checkpoint load did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checkpoint import IncompatibleKeys

__all__ = ["format_load_summary", "group_keys"]


def group_keys(keys: Iterable[str]) -> list[str]:
    """``["a.b.weight", "a.b.bias"]`` -> ``["a.b.{bias, weight}"]``: one line per module, sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        module, dot, leaf = key.rpartition(".")
        groups[module + dot].append(leaf)
    lines = []
    for module, leaves in groups.items():
        leaves = sorted(leaves)
        lines.append(module + (leaves[0] if len(leaves) == 1 else "{" + ", ".join(leaves) + "}"))
    return sorted(lines)


def _module_of(key: str, depth: int) -> str:
    parts = key.split(".")[:-1]
    return ".".join(parts[:depth]) if parts else "(top level)"


def format_load_summary(
    incompatible: IncompatibleKeys,
    *,
    source: str = "",
    missing_keys: list[str] | None = None,
    depth: int = 2,
) -> str:
    """A table, one row per module (first ``depth`` name components), of what a load did.

    Columns: ``loaded`` from the checkpoint, ``skipped`` for a shape mismatch, ``random``
    (left as initialised: missing from the checkpoint or skipped), ``unused`` checkpoint keys.
    """
    missing = incompatible.missing_keys if missing_keys is None else missing_keys
    skipped = [key for key, _, _ in incompatible.incorrect_shapes]
    columns = {
        "loaded": incompatible.loaded_keys,
        "skipped": skipped,
        "random": sorted(set(missing) | set(skipped)),
        "unused": incompatible.unexpected_keys,
    }
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(columns, 0))
    for column, keys in columns.items():
        for key in keys:
            counts[_module_of(key, depth)][column] += 1
    width = max([len("module"), *map(len, counts)])
    header = f"{'module': <{width}} | " + " | ".join(f"{c: >7}" for c in columns)
    rule = "-" * len(header)
    rows = [f"{m: <{width}} | " + " | ".join(f"{counts[m][c]: >7}" for c in columns) for m in sorted(counts)]
    totals = f"{'total': <{width}} | " + " | ".join(f"{len(columns[c]): >7}" for c in columns)
    title = f"Checkpoint load summary{' for ' + source if source else ''}:"
    return "\n".join([title, header, rule, *rows, rule, totals])
