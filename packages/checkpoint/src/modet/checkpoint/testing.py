"""Helpers for tests of checkpoints and checkpoint-format plugins."""

from __future__ import annotations

from typing import Any

import torch


def assert_same_state(a: Any, b: Any) -> None:
    """Assert two nested checkpoint states are equal, tensors bit for bit (dtype, shape and bytes).

    Dicts must also keep their key order, as a round trip through a format should.
    """
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, (a, b)
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (list(a), b)
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    else:
        assert a == b and type(a) is type(b), (a, b)
