"""``ExampleMLPHead``: a box head of ``NUM_FC`` fully connected layers of ``WIDTH``.

A box head's contract (what ``StandardROIHeads`` relies on):

- it is built as ``head(cfg, input_shape)``, ``input_shape`` being the pooled region features'
  ``ShapeSpec(channels, height, width)``;
- ``forward(x)`` takes those features, ``(R, channels, height, width)``, and returns ``(R, D)``;
- ``output_shape`` is ``ShapeSpec(channels=D)``: the box predictor is sized from it.
"""

from __future__ import annotations

import torch
from torch import nn

from modet.core.config import CfgNode, configurable
from modet.ops import ShapeSpec


class ExampleMLPHead(nn.Module):
    @configurable
    def __init__(self, input_shape: ShapeSpec, *, width: int, num_fc: int) -> None:
        super().__init__()
        if input_shape.channels is None:
            raise ValueError("ExampleMLPHead needs input_shape.channels, the pooled features' channels")
        size = input_shape.channels * (input_shape.height or 1) * (input_shape.width or 1)
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(num_fc):
            layers += [nn.Linear(size, width), nn.ReLU(inplace=True)]
            size = width
        self.layers = nn.Sequential(*layers)
        self._output_size = size

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: ShapeSpec) -> dict:
        return {
            "input_shape": input_shape,
            "width": cfg.MODEL.EXAMPLE_HEAD.WIDTH,
            "num_fc": cfg.MODEL.EXAMPLE_HEAD.NUM_FC,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @property
    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(channels=self._output_size)
