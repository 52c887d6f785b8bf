"""Small models and paths shared by modet-checkpoint's tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

FIXTURES = Path(__file__).parent / "fixtures"


class TinyNet(nn.Module):
    """A small detector-shaped model: a conv "backbone" with BN, and a linear classifier."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.cls_score = nn.Linear(4, num_classes + 1)
        self.register_buffer("pixel_mean", torch.tensor([103.5, 116.3, 123.7]).view(3, 1, 1), persistent=True)
        self.register_buffer("pixel_std", torch.ones(3, 1, 1), persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_score(self.backbone((x - self.pixel_mean) / self.pixel_std).mean((2, 3)))


def module_with_keys(shapes: Mapping[str, tuple[int, ...]]) -> nn.Module:
    """A module tree whose state_dict has exactly ``shapes``' keys (values are zeros)."""
    root = nn.Module()
    for key, shape in shapes.items():
        *path, leaf = key.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        if leaf.startswith("running_"):
            module.register_buffer(leaf, torch.zeros(shape))
        else:
            module.register_parameter(leaf, nn.Parameter(torch.zeros(shape)))
    return root
