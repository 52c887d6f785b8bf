"""Split a tensor over all images' instances back into one part per image."""

from __future__ import annotations

import torch

from modet.structures import Instances

__all__ = ["split_per_image"]


def split_per_image(x: torch.Tensor, instances: list[Instances], dim: int = 0) -> tuple[torch.Tensor, ...]:
    """``x`` split along ``dim`` by the number of instances of each image.

    A single image takes the whole tensor without reading its instance count, which keeps an
    exported model (one image per call) free of data-dependent Python ints.
    """
    if len(instances) == 1:
        return (x,)
    return x.split([len(i) for i in instances], dim=dim)
