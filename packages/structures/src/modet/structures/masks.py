"""Instance masks: full-image ``BitMasks``, COCO-style ``PolygonMasks`` and ROI-sized ``ROIMasks``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from torchvision.ops import roi_align

from .boxes import Boxes
from .paste_masks import paste_masks_in_image


def polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    """Area of one polygon from its vertex coordinates (shoelace formula)."""
    return 0.5 * np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def polygons_to_bitmask(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterise one instance's polygons (each a flat [x0, y0, x1, y1, ...] array) into a bool (H, W) mask."""
    if len(polygons) == 0:
        # pycocotools cannot rasterise an empty polygon list
        return np.zeros((height, width), dtype=bool)
    rles = mask_util.frPyObjects([np.asarray(p, dtype=np.float64) for p in polygons], height, width)
    rle = mask_util.merge(rles)
    return mask_util.decode(rle).astype(bool)


def rasterize_polygons_within_box(polygons: list[np.ndarray], box: np.ndarray, mask_size: int) -> torch.Tensor:
    """Rasterise polygons cropped to ``box`` (XYXY) and rescaled to a (mask_size, mask_size) bool tensor.

    This makes Mask R-CNN's mask targets from polygon annotations.
    """
    w, h = box[2] - box[0], box[3] - box[1]
    polygons = copy.deepcopy(polygons)
    for p in polygons:
        p[0::2] = p[0::2] - box[0]
        p[1::2] = p[1::2] - box[1]

    # max() avoids dividing by a tiny box side
    ratio_h = mask_size / max(h, 0.1)
    ratio_w = mask_size / max(w, 0.1)
    if ratio_h == ratio_w:
        for p in polygons:
            p *= ratio_h
    else:
        for p in polygons:
            p[0::2] *= ratio_w
            p[1::2] *= ratio_h
    return torch.from_numpy(polygons_to_bitmask(polygons, mask_size, mask_size))


def _boxes_tensor(boxes: torch.Tensor | Boxes, name: str) -> torch.Tensor:
    boxes = boxes.tensor if isinstance(boxes, Boxes) else boxes
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{name}: boxes must be an (N, 4) tensor or Boxes, got {shape}")
    return boxes


class BitMasks:
    """Masks of all instances in an image as an (N, H, W) bool tensor."""

    def __init__(self, tensor: torch.Tensor | np.ndarray):
        """``tensor``: (N, H, W) tensor or array of bool or numbers: nonzero is inside, as in detectron2.

        Float masks are accepted as detectron2 accepts them: any nonzero value (0.3 too) is inside;
        threshold soft masks first (``masks > 0.5``) to choose another cut.
        """
        if isinstance(tensor, torch.Tensor):
            if tensor.is_complex():
                raise TypeError(f"BitMasks expects a bool or real-valued tensor, got dtype {tensor.dtype}")
            tensor = tensor.to(torch.bool)
        elif isinstance(tensor, np.ndarray):
            if tensor.dtype.kind not in "biuf":
                raise TypeError(f"BitMasks expects a bool or real-valued array, got dtype {tensor.dtype}")
            tensor = torch.as_tensor(tensor.astype(bool), device=torch.device("cpu"))
        else:
            tensor = torch.as_tensor(tensor, dtype=torch.bool, device=torch.device("cpu"))
        if tensor.dim() != 3:
            raise ValueError(f"BitMasks expects a tensor of shape (N, H, W), got shape {tuple(tensor.shape)}")
        self.image_size = tensor.shape[1:]
        self.tensor = tensor

    def to(self, *args: Any, **kwargs: Any) -> BitMasks:
        return BitMasks(self.tensor.to(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __getitem__(self, item: int | slice | torch.Tensor) -> BitMasks:
        """Index by int (one mask), slice, bool mask or index tensor; may share storage."""
        if isinstance(item, int):
            return BitMasks(self.tensor[item].unsqueeze(0))
        m = self.tensor[item]
        if m.dim() != 3:
            raise IndexError(f"Indexing on BitMasks with {item} returns a tensor with shape {tuple(m.shape)}!")
        return BitMasks(m)

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield from self.tensor

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_instances={len(self.tensor)})"

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def nonempty(self) -> torch.Tensor:
        """Bool vector: True for masks with at least one pixel set."""
        return self.tensor.flatten(1).any(dim=1)

    @staticmethod
    def from_polygon_masks(polygon_masks: PolygonMasks | list[list[np.ndarray]], height: int, width: int) -> BitMasks:
        """Rasterise polygons (a PolygonMasks or list of per-instance polygon lists) at height x width."""
        if isinstance(polygon_masks, PolygonMasks):
            polygon_masks = polygon_masks.polygons
        masks = [polygons_to_bitmask(p, height, width) for p in polygon_masks]
        if len(masks):
            return BitMasks(torch.stack([torch.from_numpy(x) for x in masks]))
        return BitMasks(torch.empty(0, height, width, dtype=torch.bool))

    @staticmethod
    def from_roi_masks(roi_masks: ROIMasks, height: int, width: int, boxes: Boxes | torch.Tensor) -> BitMasks:
        """Paste ``roi_masks`` into ``boxes`` of a height x width image.

        detectron2's version omits the boxes the paste needs (and fails); here they are required.
        """
        return roi_masks.to_bitmasks(boxes, height, width)

    def crop_and_resize(self, boxes: torch.Tensor | Boxes, mask_size: int) -> torch.Tensor:
        """Crop mask i by box i and resize to (mask_size, mask_size) with aligned ROIAlign; bool (N, M, M).

        Box parts outside the mask read as 0 (ROIAlign's border handling). Used for Mask R-CNN targets.
        """
        boxes = _boxes_tensor(boxes, "BitMasks.crop_and_resize")
        if len(boxes) != len(self):
            raise ValueError(f"BitMasks.crop_and_resize: got {len(boxes)} boxes for {len(self)} masks")
        device = self.tensor.device
        batch_inds = torch.arange(len(boxes), device=device).to(dtype=boxes.dtype)[:, None]
        rois = torch.cat([batch_inds, boxes.to(device=device)], dim=1).to(torch.float32)
        bit_masks = self.tensor.to(dtype=torch.float32)
        output = roi_align(
            bit_masks[:, None, :, :], rois, (mask_size, mask_size), spatial_scale=1.0, sampling_ratio=0, aligned=True
        ).squeeze(1)
        return output >= 0.5

    def get_bounding_boxes(self) -> Boxes:
        """Tight XYXY boxes around each mask (pixel i covers [i, i + 1)); all zeros for empty masks."""
        num = self.tensor.shape[0]
        boxes = torch.zeros(num, 4, dtype=torch.float32, device=self.device)
        if num == 0:
            return Boxes(boxes)
        x_any = self.tensor.any(dim=1)  # (N, W)
        y_any = self.tensor.any(dim=2)  # (N, H)
        nonempty = x_any.any(dim=1)
        # argmax of a bool vector is its first True; flipped, the last True.
        x0 = x_any.to(torch.uint8).argmax(dim=1)
        y0 = y_any.to(torch.uint8).argmax(dim=1)
        x1 = x_any.shape[1] - x_any.flip(1).to(torch.uint8).argmax(dim=1)
        y1 = y_any.shape[1] - y_any.flip(1).to(torch.uint8).argmax(dim=1)
        found = torch.stack([x0, y0, x1, y1], dim=1).to(torch.float32)
        boxes[nonempty] = found[nonempty]
        return Boxes(boxes)

    @staticmethod
    def cat(bitmasks_list: list[BitMasks]) -> BitMasks:
        """Concatenate a non-empty list of BitMasks of the same image size."""
        _check_cat_list(bitmasks_list, BitMasks)
        return type(bitmasks_list[0])(torch.cat([bm.tensor for bm in bitmasks_list], dim=0))


def _check_cat_list(items: Any, cls: type) -> None:
    if not isinstance(items, (list, tuple)) or len(items) == 0:
        raise ValueError(f"{cls.__name__}.cat expects a non-empty list of {cls.__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise TypeError(f"{cls.__name__}.cat: element {i} is a {type(item).__name__}, not {cls.__name__}")


def _make_polygon_array(t: torch.Tensor | np.ndarray | list) -> np.ndarray:
    """One polygon as a float64 numpy vector (polygons always live on the CPU)."""
    if isinstance(t, torch.Tensor):
        t = t.cpu().numpy()
    return np.asarray(t).astype("float64")


class PolygonMasks:
    """Masks of all instances in an image as polygons: ``polygons[i]`` lists instance i's float64 polygons.

    Each polygon is a flat [x0, y0, x1, y1, ..., xn, yn] vector with n >= 3 vertices.
    """

    def __init__(self, polygons: list[list[Any]]):
        if not isinstance(polygons, list):
            raise TypeError(
                "Cannot create PolygonMasks: Expect a list of list of polygons per image. "
                f"Got '{type(polygons)}' instead."
            )

        def process_polygons(i: int, polygons_per_instance: list) -> list[np.ndarray]:
            if not isinstance(polygons_per_instance, list):
                raise TypeError(
                    f"Cannot create polygons: Expect a list of polygons per instance. "
                    f"Got '{type(polygons_per_instance)}' instead for instance {i}."
                )
            arrays = [_make_polygon_array(p) for p in polygons_per_instance]
            for j, polygon in enumerate(arrays):
                if polygon.ndim != 1 or len(polygon) % 2 != 0 or len(polygon) < 6:
                    raise ValueError(
                        f"Cannot create a polygon from {polygon.size} coordinates (instance {i}, polygon {j}): "
                        "need a flat vector of an even number >= 6 of coordinates"
                    )
            return arrays

        self.polygons: list[list[np.ndarray]] = [process_polygons(i, p) for i, p in enumerate(polygons)]

    def to(self, *args: Any, **kwargs: Any) -> PolygonMasks:
        return self

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _flat_vertices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All vertices (V, 2), the instance of each vertex and the polygon of each vertex."""
        polys = [p for inst in self.polygons for p in inst]
        if not polys:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros((0, 2)), empty, empty
        counts = np.array([len(p) // 2 for p in polys])
        per_instance = np.array([len(inst) for inst in self.polygons])
        polygon_instance = np.repeat(np.arange(len(self.polygons)), per_instance)
        vertices = np.concatenate(polys).reshape(-1, 2)
        polygon_of_vertex = np.repeat(np.arange(len(polys)), counts)
        return vertices, polygon_instance[polygon_of_vertex], polygon_of_vertex

    def get_bounding_boxes(self) -> Boxes:
        """Tight XYXY boxes around each instance's polygons.

        As in detectron2 the max corner starts at 0, so an instance with no polygon gets (inf, inf, 0, 0).
        """
        num = len(self.polygons)
        vertices, instance_of_vertex, _ = self._flat_vertices()
        coords = torch.from_numpy(vertices).to(torch.float32)
        index = torch.from_numpy(instance_of_vertex)[:, None].expand(-1, 2)
        minxy = torch.full((num, 2), float("inf")).scatter_reduce(0, index, coords, "amin")
        maxxy = torch.zeros(num, 2).scatter_reduce(0, index, coords, "amax")
        return Boxes(torch.cat([minxy, maxxy], dim=1))

    def nonempty(self) -> torch.Tensor:
        """Bool vector: True for instances with at least one polygon."""
        return torch.tensor([len(p) > 0 for p in self.polygons], dtype=torch.bool)

    def __getitem__(self, item: int | slice | list[int] | torch.Tensor) -> PolygonMasks:
        """Select instances by int, slice, list of ints, bool mask or int32/int64 index tensor."""
        if isinstance(item, int):
            selected = [self.polygons[item]]
        elif isinstance(item, slice):
            selected = self.polygons[item]
        elif isinstance(item, list):
            selected = [self.polygons[i] for i in item]
        elif isinstance(item, torch.Tensor):
            if item.dtype == torch.bool:
                if item.dim() != 1 or len(item) != len(self):
                    raise IndexError(
                        f"PolygonMasks: a bool index must have shape ({len(self)},), got {tuple(item.shape)}"
                    )
                indices: list[int] = item.nonzero().squeeze(1).cpu().numpy().tolist()
            elif item.dtype in (torch.int32, torch.int64):
                indices = item.reshape(-1).cpu().numpy().tolist()
            else:
                raise ValueError(f"Unsupported tensor dtype={item.dtype} for indexing PolygonMasks!")
            selected = [self.polygons[i] for i in indices]
        else:
            raise TypeError(f"PolygonMasks cannot be indexed by {type(item).__name__}")
        return PolygonMasks(selected)

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        """Yield the list of polygons of one instance at a time."""
        return iter(self.polygons)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_instances={len(self.polygons)})"

    def __len__(self) -> int:
        return len(self.polygons)

    def crop_and_resize(self, boxes: torch.Tensor | Boxes, mask_size: int) -> torch.Tensor:
        """Rasterise instance i inside box i at (mask_size, mask_size); bool (N, M, M) on the boxes' device."""
        boxes = _boxes_tensor(boxes, "PolygonMasks.crop_and_resize")
        if len(boxes) != len(self):
            raise ValueError(f"PolygonMasks.crop_and_resize: got {len(boxes)} boxes for {len(self)} masks")
        device = boxes.device
        # Polygons are ragged and small: rasterise on the CPU with pycocotools.
        boxes_np = boxes.detach().to(torch.device("cpu"), torch.float64).numpy()
        results = [rasterize_polygons_within_box(p, box, mask_size) for p, box in zip(self.polygons, boxes_np)]
        if len(results) == 0:
            return torch.empty(0, mask_size, mask_size, dtype=torch.bool, device=device)
        return torch.stack(results, dim=0).to(device=device)

    def area(self) -> torch.Tensor:
        """Area of each instance: the sum of its polygons' shoelace areas (float64)."""
        vertices, instance_of_vertex, polygon_of_vertex = self._flat_vertices()
        num_polys = int(polygon_of_vertex.max()) + 1 if len(polygon_of_vertex) else 0
        if num_polys == 0:
            return torch.zeros(len(self.polygons), dtype=torch.float64)
        # Previous vertex within the same polygon (np.roll(·, 1) per polygon).
        starts = np.flatnonzero(np.r_[True, polygon_of_vertex[1:] != polygon_of_vertex[:-1]])
        ends = np.r_[starts[1:], len(vertices)]
        prev = np.arange(len(vertices)) - 1
        prev[starts] = ends - 1
        x, y = vertices[:, 0], vertices[:, 1]
        terms = x * y[prev] - y * x[prev]
        poly_area = 0.5 * np.abs(np.add.reduceat(terms, starts))
        poly_instance = instance_of_vertex[starts]
        return torch.from_numpy(np.bincount(poly_instance, weights=poly_area, minlength=len(self.polygons)))

    @staticmethod
    def cat(polymasks_list: list[PolygonMasks]) -> PolygonMasks:
        """Concatenate a non-empty list of PolygonMasks."""
        _check_cat_list(polymasks_list, PolygonMasks)
        return type(polymasks_list[0])(list(itertools.chain.from_iterable(pm.polygons for pm in polymasks_list)))


class ROIMasks:
    """N masks of size M x M, each defined inside an ROI box; pasting at the boxes gives full-image masks."""

    def __init__(self, tensor: torch.Tensor):
        """``tensor``: (N, M, M) mask values (probabilities or logits-turned-probabilities) per ROI."""
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 3:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"ROIMasks must take a masks of 3 dimension (N, M, M), got {shape}")
        self.tensor = tensor

    def to(self, device: torch.device | str) -> ROIMasks:
        return ROIMasks(self.tensor.to(device))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __getitem__(self, item: int | slice | torch.Tensor) -> ROIMasks:
        """Index by slice, bool mask or index tensor (an int index would drop the instance dim)."""
        t = self.tensor[item]
        if t.dim() != 3:
            raise ValueError(f"Indexing on ROIMasks with {item} returns a tensor with shape {tuple(t.shape)}!")
        return ROIMasks(t)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_instances={len(self.tensor)})"

    def to_bitmasks(self, boxes: Boxes | torch.Tensor, height: int, width: int, threshold: float = 0.5) -> BitMasks:
        """Paste each mask into its XYXY box of a height x width image (see ``paste_masks_in_image``)."""
        return BitMasks(paste_masks_in_image(self.tensor, boxes, (height, width), threshold=threshold))
