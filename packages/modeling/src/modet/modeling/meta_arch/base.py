"""``ImageModel``: what every meta-architecture here shares around its network.

Each takes ``list[dict]`` images: checks them, normalises and pads them into an ``ImageList``, and
brings outputs back to the ``height``/``width`` each input asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from modet.core.events import get_event_storage
from modet.ops import move_device_like
from modet.structures import ImageList, Instances

from ..backbone import Backbone
from ..postprocessing import detector_postprocess
from .input_checks import check_batched_inputs

__all__ = ["ImageModel", "requested_size"]


def requested_size(input_per_image: dict[str, Any], image_size: tuple[int, int]) -> tuple[int, int]:
    """The output (height, width) an input asks for; by default the size of its own image."""
    return input_per_image.get("height", image_size[0]), input_per_image.get("width", image_size[1])


class ImageModel(nn.Module):
    """Base of the meta-architectures: a ``backbone`` and ``pixel_mean``/``pixel_std`` buffers.

    Subclasses call :meth:`_register_pixel_stats` in ``__init__`` and set ``self.backbone``.
    """

    backbone: Backbone
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def _register_pixel_stats(self, pixel_mean: Sequence[float], pixel_std: Sequence[float]) -> None:
        # Not persistent: checkpoints carry no pixel statistics (the config does).
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if self.pixel_mean.shape != self.pixel_std.shape:
            raise ValueError(f"pixel_mean {list(pixel_mean)} and pixel_std {list(pixel_std)} have different lengths!")

    @property
    def device(self) -> torch.device:
        """The device the model's buffers (and so its inputs) are on."""
        return self.pixel_mean.device

    def _move_to_current_device(self, x: torch.Tensor) -> torch.Tensor:
        return move_device_like(x, self.pixel_mean)

    def _check_inputs(
        self, batched_inputs: list[dict[str, Any]], *, needs_instances: bool = True, needs_event_storage: bool = True
    ) -> None:
        """Fail at the boundary on bad input (see :func:`check_batched_inputs`) and, in training,
        on a missing ``EventStorage`` when the model logs to one."""
        check_batched_inputs(
            batched_inputs,
            self.pixel_mean.shape[0],
            training=self.training,
            needs_instances=needs_instances,
            num_classes=self._gt_num_classes(),
            sem_seg=self._sem_seg_labels(),
        )
        if self.training and needs_event_storage:
            get_event_storage()  # raises the clear "inside a 'with EventStorage()'" error up front

    def _gt_num_classes(self) -> int | None:
        """The number of classes ``gt_classes`` index into (None: the model reads no classes)."""
        for owner in (self, getattr(self, "roi_heads", None)):
            num_classes = getattr(owner, "num_classes", None)
            if isinstance(num_classes, int):
                return num_classes
        return None

    def _sem_seg_labels(self) -> tuple[int | None, int] | None:
        """(num_classes, ignore_value) of the semantic head, if the model has one."""
        head = getattr(self, "sem_seg_head", None)
        if head is None:
            return None
        return getattr(head, "num_classes", None), head.ignore_value

    def preprocess_image(self, batched_inputs: list[dict[str, Any]]) -> ImageList:
        """Normalise, pad and batch the input images (any real dtype, computed in the model's dtype)."""
        images = [self._move_to_current_device(x["image"]) for x in batched_inputs]
        # uint8 and float16 images are promoted to float32 by the arithmetic; float64 ones are cast.
        images = [(x.to(self.pixel_mean.dtype) - self.pixel_mean) / self.pixel_std for x in images]
        return ImageList.from_tensors(
            images, self.backbone.size_divisibility, padding_constraints=self.backbone.padding_constraints
        )

    @staticmethod
    def _postprocess(
        instances: list[Instances],
        batched_inputs: list[dict[str, Any]],
        image_sizes: list[tuple[int, int]],
        key: str = "instances",
    ) -> list[dict[str, Instances]]:
        """``{key: detections}`` per image, rescaled to the input's :func:`requested_size`."""
        return [
            {key: detector_postprocess(results_per_image, *requested_size(input_per_image, image_size))}
            for results_per_image, input_per_image, image_size in zip(instances, batched_inputs, image_sizes)
        ]
