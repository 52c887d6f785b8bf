"""Value checks for config keys: the ranges and choices a package declares for its keys.

A package declares checks next to its defaults, in its ``modet_add_config`` hook::

    cfg.add_checks({"MODEL.ROI_HEADS.NUM_CLASSES": Range(min=1, integer=True)})

From then on every way of setting the key (``merge_from_file``, ``merge_from_list``, an
assignment) refuses a bad value with the key named. yacs already refuses a value of another
type than the default's when merging; checks add what a type cannot say. Checks are small
frozen records, so a config with checks still pickles (DDP workers) and deep-copies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from .errors import ConfigValueError

__all__ = ["Check", "Each", "OneOf", "Range", "check_value"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@attrs.frozen
class Range:
    """A number within ``[min, max]`` (either bound optional); ``integer=True`` refuses floats."""

    min: float | None = None
    max: float | None = None
    integer: bool = False

    def problem(self, value: Any) -> str | None:
        if self.integer and not (isinstance(value, int) and not isinstance(value, bool)):
            return "must be an integer"
        if not _is_number(value) or math.isnan(value):
            return "must be a number"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}"
        return None


def _to_tuple(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(values)


@attrs.frozen
class OneOf:
    """One of a fixed set of values (names of schedulers, samplers, formats...)."""

    choices: tuple[Any, ...] = attrs.field(converter=_to_tuple)

    def problem(self, value: Any) -> str | None:
        if value in self.choices:
            return None
        return "must be one of " + ", ".join(repr(c) for c in self.choices)


@attrs.frozen
class Each:
    """Every item of a list/tuple passes ``check`` (nested lists are walked too)."""

    check: Range | OneOf

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return "must be a list"
        for item in _scalars(value):
            problem = self.check.problem(item)
            if problem is not None:
                return f"has an item {item!r} that {problem}"
        return None


def _scalars(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    flat: list[Any] = []
    for item in value:
        flat.extend(_scalars(item) if isinstance(item, (list, tuple)) else [item])
    return flat


Check = Range | OneOf | Each


def check_value(full_key: str, value: Any, check: Check) -> None:
    """Raise :class:`ConfigValueError` naming ``full_key`` if ``value`` fails ``check``."""
    problem = check.problem(value)
    if problem is not None:
        raise ConfigValueError(f"config key {full_key} = {value!r} is invalid: it {problem}")
