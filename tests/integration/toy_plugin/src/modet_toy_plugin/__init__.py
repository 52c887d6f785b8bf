"""A third-party plugin as small as one can be: a backbone, a meta-architecture and a config key."""

from __future__ import annotations

import torch
from torch import nn

from modet.core import hookimpl
from modet.core.config import section
from modet.modeling import Backbone, build_backbone
from modet.ops import ShapeSpec


class ToyBackbone(Backbone):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, kernel_size=3, stride=4, padding=1)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"toy": self.conv(x)}

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {"toy": ShapeSpec(channels=self.channels, stride=4)}


def build_toy_backbone(cfg, input_shape) -> ToyBackbone:
    return ToyBackbone(cfg.MODEL.TOY.CHANNELS)


class ToyDetector(nn.Module):
    """Returns the mean feature per image: enough to show the pieces were wired together."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.backbone = build_backbone(cfg)

    def forward(self, batched_inputs: list[dict]) -> list[dict]:
        images = torch.stack([x["image"].float() for x in batched_inputs])
        features = self.backbone(images)["toy"]
        return [{"mean_feature": f.mean()} for f in features]


@hookimpl
def modet_register_components(registry) -> None:
    registry.register("backbone", build_toy_backbone)
    registry.register("meta_arch", ToyDetector)


@hookimpl
def modet_add_config(cfg) -> None:
    section(cfg, "MODEL.TOY").CHANNELS = 5
