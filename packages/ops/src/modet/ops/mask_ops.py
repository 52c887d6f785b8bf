"""``paste_masks_in_image``, ``pad_masks``, ``scale_boxes`` (detectron2.layers.mask_ops).

The implementation lives in ``modet.structures.paste_masks`` (``ROIMasks.to_bitmasks`` needs it
and structures must not import ops); this module re-exports it under detectron2's path.
``GPU_MEM_LIMIT`` is read from ``modet.structures.paste_masks``: change it there.
"""

from modet.structures.paste_masks import (
    BYTES_PER_FLOAT,
    GPU_MEM_LIMIT,
    pad_masks,
    paste_mask_in_image_old,
    paste_masks_in_image,
    scale_boxes,
)

__all__ = [
    "BYTES_PER_FLOAT",
    "GPU_MEM_LIMIT",
    "pad_masks",
    "paste_mask_in_image_old",
    "paste_masks_in_image",
    "scale_boxes",
]
