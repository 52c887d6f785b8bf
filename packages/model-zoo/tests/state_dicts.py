"""detectron2's state_dict tables (tests/fixtures/*.json.gz) and a model's own, for comparison."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

from torch import nn

FIXTURES = Path(__file__).parent / "fixtures"


@cache
def table(name: str) -> dict[str, dict]:
    """``{config name: {"meta_architecture": ..., "state_dict": {key: shape}}}`` as detectron2 built it."""
    return json.loads(gzip.decompress((FIXTURES / f"{name}.json.gz").read_bytes()))


def shapes(model: nn.Module) -> dict[str, list[int]]:
    return {key: list(value.shape) for key, value in model.state_dict().items()}


def assert_same_state_dict(model: nn.Module, expected: dict) -> None:
    """The model has exactly detectron2's keys, each with detectron2's shape, and its class."""
    own = shapes(model)
    reference = expected["state_dict"]
    missing, extra = sorted(set(reference) - set(own)), sorted(set(own) - set(reference))
    wrong = {key: (own[key], reference[key]) for key in reference if key in own and own[key] != reference[key]}
    assert not missing, f"{len(missing)} keys detectron2 has and modet lacks: {missing[:5]}"
    assert not extra, f"{len(extra)} keys modet has and detectron2 lacks: {extra[:5]}"
    assert not wrong, f"shapes differ (modet, detectron2): {dict(list(wrong.items())[:5])}"
    assert type(model).__name__ == expected["meta_architecture"]
