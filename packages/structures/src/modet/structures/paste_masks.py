"""Pasting ROI-sized mask predictions into full images (detectron2's ``layers.mask_ops``).

Lives in modet.structures so that ``ROIMasks.to_bitmasks`` needs no modet.ops import;
modet.ops re-exports ``paste_masks_in_image`` from here.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .boxes import Boxes
from .tracing import is_exporting

BYTES_PER_FLOAT = 4
# Memory allowed for one chunk of full-image masks on the GPU.
GPU_MEM_LIMIT = 1024**3


def _do_paste_mask(
    masks: torch.Tensor, boxes: torch.Tensor, img_h: int, img_w: int, skip_empty: bool = True
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Resample (N, 1, M, M) masks into the (N, 4) XYXY boxes of an img_h x img_w image.

    With ``skip_empty`` only the region covering all the boxes (plus a 1-pixel margin) is
    computed; the returned index tuple says where that region sits in the image.
    Returns (N, h, w) float masks and that index tuple (empty when the whole image was computed).
    """
    device = masks.device
    if skip_empty:
        low = torch.clamp(boxes.min(dim=0).values.floor()[:2] - 1, min=0).to(dtype=torch.int32)
        x0_int, y0_int = int(low[0]), int(low[1])
        x1_int = int(torch.clamp(boxes[:, 2].max().ceil() + 1, max=img_w).to(dtype=torch.int32))
        y1_int = int(torch.clamp(boxes[:, 3].max().ceil() + 1, max=img_h).to(dtype=torch.int32))
    else:
        x0_int, y0_int = 0, 0
        x1_int, y1_int = img_w, img_h
    x0, y0, x1, y1 = torch.split(boxes, 1, dim=1)  # each (N, 1)
    num = masks.shape[0]

    # Pixel centers, mapped to grid_sample's [-1, 1] coordinates of each box.
    img_y = torch.arange(y0_int, y1_int, device=device, dtype=torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    gx = img_x[:, None, :].expand(num, img_y.size(1), img_x.size(1))
    gy = img_y[:, :, None].expand(num, img_y.size(1), img_x.size(1))
    grid = torch.stack([gx, gy], dim=3)

    if not masks.dtype.is_floating_point:
        masks = masks.float()
    img_masks = F.grid_sample(masks, grid.to(masks.dtype), align_corners=False)
    if skip_empty:
        return img_masks[:, 0], (slice(y0_int, y1_int), slice(x0_int, x1_int))
    return img_masks[:, 0], ()


def paste_masks_in_image(
    masks: torch.Tensor, boxes: torch.Tensor | Boxes, image_shape: tuple[int, int], threshold: float = 0.5
) -> torch.Tensor:
    """Paste (N, M, M) mask probabilities into (N, H, W) image masks at the XYXY ``boxes`` (Tensor or Boxes).

    Returns a bool tensor (``mask >= threshold``), or, when ``threshold`` < 0, uint8 values
    ``mask * 255`` for visualisation. On CPU masks are pasted one at a time over their box
    region only (fewest operations); on GPU in chunks over the whole image, each chunk
    bounded by ``GPU_MEM_LIMIT``. Same numbers as detectron2's paste_masks_in_image.
    """
    if not isinstance(boxes, torch.Tensor):
        boxes = boxes.tensor
    if masks.dim() != 3 or masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"paste_masks_in_image: masks must have shape (N, M, M), got {tuple(masks.shape)}")
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"paste_masks_in_image: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    out_dtype = torch.bool if threshold >= 0 else torch.uint8
    if is_exporting():
        # One paste over the whole image for all masks: no loop over a data-dependent count.
        # Same values as the per-box CPU path (pixels outside a box's margin come out 0 there too).
        img_masks, _ = _do_paste_mask(masks[:, None, :, :], boxes, image_shape[0], image_shape[1], skip_empty=False)
        return img_masks >= threshold if threshold >= 0 else (img_masks * 255).to(dtype=torch.uint8)
    num = len(masks)
    if len(boxes) != num:
        raise ValueError(f"paste_masks_in_image: got {num} masks but {len(boxes)} boxes")
    img_h, img_w = int(image_shape[0]), int(image_shape[1])
    if num == 0:
        return masks.new_empty((0, img_h, img_w), dtype=out_dtype)

    device = boxes.device
    if device.type == "cpu":
        num_chunks = num
    else:
        num_chunks = math.ceil(num * img_h * img_w * BYTES_PER_FLOAT / GPU_MEM_LIMIT)
        if num_chunks > num:
            raise RuntimeError("GPU_MEM_LIMIT in paste_masks.py is too small for one image; increase it")
    chunks = torch.chunk(torch.arange(num, device=device), num_chunks)

    img_masks = torch.zeros(num, img_h, img_w, device=device, dtype=out_dtype)
    for inds in chunks:  # one mask per chunk on CPU: each pastes only its own box region
        masks_chunk, spatial_inds = _do_paste_mask(
            masks[inds, None, :, :], boxes[inds], img_h, img_w, skip_empty=device.type == "cpu"
        )
        # threshold < 0 keeps soft values (x 255) for visualisation and debugging
        masks_chunk = masks_chunk >= threshold if threshold >= 0 else (masks_chunk * 255).to(dtype=torch.uint8)
        index: tuple[torch.Tensor | slice, ...] = (inds, *spatial_inds)
        img_masks[index] = masks_chunk
    return img_masks


def pad_masks(masks: torch.Tensor, padding: int) -> tuple[torch.Tensor, float]:
    """Surround (N, M, M) masks with ``padding`` zeros on every side.

    Returns the (N, M + 2p, M + 2p) masks and the factor ``(M + 2p) / M`` by which their boxes
    must grow (:func:`scale_boxes`) so each mask pixel keeps its place in the image.
    """
    if masks.dim() != 3 or masks.shape[-1] != masks.shape[-2]:
        raise ValueError(f"pad_masks: masks must have shape (N, M, M), got {tuple(masks.shape)}")
    size = masks.shape[-1]
    return F.pad(masks, (padding, padding, padding, padding)), float(size + 2 * padding) / size


def scale_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """(N, 4) XYXY boxes grown (or shrunk) by ``scale`` about their centres."""
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"scale_boxes: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    half_size = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    center = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    return torch.cat([center - half_size, center + half_size], dim=1)


def paste_mask_in_image_old(
    mask: torch.Tensor, box: torch.Tensor, img_h: int, img_w: int, threshold: float
) -> torch.Tensor:
    """Paste one (Hm, Wm) mask into an (img_h, img_w) uint8 image mask: Detectron's original method.

    The box is truncated to integer pixels and covers ``x1 - x0 + 1`` columns (and rows), the
    mask is resized to that with antialiased bilinear resampling, then thresholded (``> threshold``;
    a negative threshold keeps ``mask * 255``). Its quantisation error is larger than
    :func:`paste_masks_in_image`'s; detectron2 keeps it for comparisons, and so does modet.
    """
    x0, y0, x1, y1 = (int(v) for v in box.to(torch.int32).tolist())
    samples_h, samples_w = y1 - y0 + 1, x1 - x0 + 1
    resized = F.interpolate(
        mask[None, None].float().cpu(),
        size=(samples_h, samples_w),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )[0, 0]
    pasted = (resized > threshold).to(torch.uint8) if threshold >= 0 else (resized * 255).to(torch.uint8)
    image = torch.zeros((img_h, img_w), dtype=torch.uint8)
    left, right, top, bottom = max(x0, 0), min(x1 + 1, img_w), max(y0, 0), min(y1 + 1, img_h)
    if left < right and top < bottom:
        image[top:bottom, left:right] = pasted[top - y0 : bottom - y0, left - x0 : right - x0]
    return image
