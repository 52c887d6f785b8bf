"""``paste_masks_in_image`` (detectron2.layers.mask_ops).

The implementation lives in ``modet.structures.paste_masks`` (``ROIMasks.to_bitmasks`` needs it
and structures must not import ops); this module re-exports it under detectron2's path.
``GPU_MEM_LIMIT`` is read from ``modet.structures.paste_masks``: change it there.
"""

from modet.structures.paste_masks import BYTES_PER_FLOAT, GPU_MEM_LIMIT, paste_masks_in_image

__all__ = ["BYTES_PER_FLOAT", "GPU_MEM_LIMIT", "paste_masks_in_image"]
