"""``ImageList``: images of different sizes padded into one batch tensor."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F


class ImageList:
    """A batch of images padded to a common size, with each image's original (h, w) in ``image_sizes``."""

    def __init__(self, tensor: torch.Tensor, image_sizes: list[tuple[int, int]]):
        """``tensor`` is (N, H, W) or (N, C_1, ..., C_K, H, W); ``image_sizes`` may be smaller than (H, W)."""
        self.tensor = tensor
        self.image_sizes = image_sizes

    def __len__(self) -> int:
        return len(self.image_sizes)

    def __getitem__(self, idx: int) -> torch.Tensor:
        """The idx-th image at its original size, without padding."""
        size = self.image_sizes[idx]
        return self.tensor[idx, ..., : size[0], : size[1]]

    def to(self, *args: Any, **kwargs: Any) -> ImageList:
        return ImageList(self.tensor.to(*args, **kwargs), self.image_sizes)

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    @staticmethod
    def from_tensors(
        tensors: list[torch.Tensor],
        size_divisibility: int = 0,
        pad_value: float = 0.0,
        padding_constraints: dict[str, int] | None = None,
    ) -> ImageList:
        """Pad (Hi, Wi) or (C_1, ..., C_K, Hi, Wi) tensors with ``pad_value`` into one batch.

        Args:
            size_divisibility: if > 1, the padded height and width are rounded up to a multiple of it.
            padding_constraints: optional dict; ``square_size`` > 0 pads to a square of that side,
                and a ``size_divisibility`` entry replaces the argument of the same name.
        """
        _check_tensors(tensors)
        image_sizes = [(im.shape[-2], im.shape[-1]) for im in tensors]  # ints (symbolic under torch.export)
        max_h = max(h for h, _ in image_sizes)
        max_w = max(w for _, w in image_sizes)

        if padding_constraints is not None:
            square_size = padding_constraints.get("square_size", 0)
            if square_size > 0:
                if max_h > square_size or max_w > square_size:
                    raise ValueError(
                        f"ImageList.from_tensors: padding_constraints square_size={square_size} is smaller "
                        f"than the largest image ({max_h}x{max_w})"
                    )
                max_h = max_w = square_size
            if "size_divisibility" in padding_constraints:
                size_divisibility = padding_constraints["size_divisibility"]
        if size_divisibility > 1:
            stride = size_divisibility
            max_h = (max_h + stride - 1) // stride * stride
            max_w = (max_w + stride - 1) // stride * stride

        if len(tensors) == 1:
            # F.pad is slightly faster than filling a new batch for a single image
            h, w = image_sizes[0]
            batched = F.pad(tensors[0], [0, max_w - w, 0, max_h - h], value=pad_value).unsqueeze_(0)
        else:
            batch_shape = [len(tensors), *tensors[0].shape[:-2], max_h, max_w]
            batched = tensors[0].new_full(batch_shape, pad_value)
            for i, img in enumerate(tensors):
                batched[i, ..., : img.shape[-2], : img.shape[-1]].copy_(img)
        return ImageList(batched.contiguous(), image_sizes)


def _check_tensors(tensors: Any) -> None:
    """Raise a clear error unless ``tensors`` is a non-empty list of tensors with equal leading dims."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"ImageList.from_tensors expects a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError("ImageList.from_tensors got an empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"ImageList.from_tensors: tensors[{i}] is a {type(t).__name__}, not a torch.Tensor")
        if t.dim() < 2:
            raise ValueError(
                f"ImageList.from_tensors: tensors[{i}] must be at least 2-D (H, W), got shape {tuple(t.shape)}"
            )
    first = tensors[0]
    for i, t in enumerate(tensors[1:], start=1):
        if t.dim() != first.dim():
            raise ValueError(
                f"ImageList.from_tensors: tensors[{i}] has {t.dim()} dims (shape {tuple(t.shape)}) "
                f"but tensors[0] has {first.dim()} (shape {tuple(first.shape)})"
            )
        if t.shape[:-2] != first.shape[:-2]:
            raise ValueError(
                f"ImageList.from_tensors: tensors[{i}] has shape {tuple(t.shape)} and tensors[0] has shape "
                f"{tuple(first.shape)}; all dims but the last two (channels) must match"
            )
