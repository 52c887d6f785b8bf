"""Draw model outputs onto an image: boxes with class names and scores, masks, keypoints,
semantic and panoptic segmentation. Drawing is torchvision's (``draw_bounding_boxes``,
``draw_segmentation_masks``, ``draw_keypoints``); files are written with Pillow.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes, draw_keypoints, draw_segmentation_masks

__all__ = ["VisImage", "Visualizer", "class_color"]

# detectron2 draws a keypoint only when its score is above this.
KEYPOINT_THRESHOLD = 0.05


def class_color(class_id: int, stuff: bool = False) -> tuple[int, int, int]:
    """A fixed, well-spread color per class (golden-ratio hues), darker for stuff classes."""
    hue = (class_id * 0.618033988749895 + (0.5 if stuff else 0.0)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.75 if stuff else 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


class VisImage:
    """A drawn RGB image (HxWx3 uint8)."""

    def __init__(self, image: np.ndarray) -> None:
        self._image = image

    def get_image(self) -> np.ndarray:
        return self._image

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the image (PNG unless the file name says otherwise)."""
        Image.fromarray(self._image).save(path)


def _names(metadata: Any, attr: str) -> list[str] | None:
    names = getattr(metadata, attr, None) if metadata is not None else None
    return list(names) if names else None


class Visualizer:
    """Draws on an RGB image (HxWx3 uint8); each ``draw_*`` returns the accumulated :class:`VisImage`.

    ``metadata`` (a modet.data ``Metadata`` or any object) supplies ``thing_classes``,
    ``stuff_classes``, ``keypoint_names`` and ``keypoint_connection_rules`` when it has them;
    without names, classes are shown by id.
    """

    def __init__(self, img_rgb: np.ndarray, metadata: Any = None, scale: float = 1.0) -> None:
        if not isinstance(img_rgb, np.ndarray) or img_rgb.ndim != 3 or img_rgb.shape[2] != 3:
            raise ValueError(f"Visualizer needs an HxWx3 RGB image, got {getattr(img_rgb, 'shape', type(img_rgb))}")
        image = torch.from_numpy(np.ascontiguousarray(img_rgb.astype(np.uint8))).permute(2, 0, 1)
        if scale != 1.0:
            new_size = (round(image.shape[1] * scale), round(image.shape[2] * scale))
            image = torch.nn.functional.interpolate(image[None].float(), size=new_size, mode="bilinear")[0]
            image = image.round().clamp(0, 255).to(torch.uint8)
        self.scale = scale
        self.metadata = metadata
        self._canvas = image  # (3, H, W) uint8
        self._line_width = max(1, round(min(image.shape[1:]) / 300))

    @property
    def output(self) -> VisImage:
        return VisImage(self._canvas.permute(1, 2, 0).contiguous().numpy())

    def _class_name(self, class_id: int, attr: str = "thing_classes") -> str:
        names = _names(self.metadata, attr)
        if names is not None and 0 <= class_id < len(names):
            return names[class_id]
        return str(class_id)

    def _resize_masks(self, masks: torch.Tensor) -> torch.Tensor:
        if masks.shape[-2:] == self._canvas.shape[1:]:
            return masks
        resized = torch.nn.functional.interpolate(masks[None].float(), size=self._canvas.shape[1:], mode="nearest")[0]
        return resized > 0.5

    def draw_instance_predictions(self, predictions: Any, confidence_threshold: float = 0.0) -> VisImage:
        """Boxes with "class score%" labels, masks and keypoints of an ``Instances`` (on CPU or GPU)."""
        fields = predictions.get_fields()
        keep = torch.ones(len(predictions), dtype=torch.bool)
        scores = fields.get("scores")
        if scores is not None:
            keep = scores.detach().cpu() >= confidence_threshold
        classes = fields.get("pred_classes")
        classes = classes.detach().cpu()[keep].tolist() if classes is not None else [None] * int(keep.sum())
        colors = [class_color(c) if c is not None else (0, 200, 0) for c in classes]
        if not colors:
            return self.output
        if "pred_masks" in fields:
            masks = torch.as_tensor(fields["pred_masks"]).detach().cpu()[keep].bool()
            self._canvas = draw_segmentation_masks(self._canvas, self._resize_masks(masks), alpha=0.5, colors=colors)
        if "pred_boxes" in fields:
            boxes = fields["pred_boxes"].tensor.detach().cpu().float()[keep] * self.scale
            labels = []
            kept_scores = scores.detach().cpu()[keep].tolist() if scores is not None else [None] * len(boxes)
            for c, s in zip(classes, kept_scores):
                text = self._class_name(c) if c is not None else ""
                if s is not None:
                    text = f"{text} {s * 100:.0f}%".strip()
                labels.append(text)
            self._canvas = draw_bounding_boxes(
                self._canvas,
                boxes,
                labels=labels,
                colors=colors,
                width=self._line_width,
                label_colors="white",
                label_background_colors=colors,
                fill_labels=True,
            )
        if "pred_keypoints" in fields:
            self.draw_keypoints(torch.as_tensor(fields["pred_keypoints"]).detach().cpu()[keep])
        return self.output

    def _connectivity(self) -> list[tuple[int, int]] | None:
        names = _names(self.metadata, "keypoint_names")
        rules = getattr(self.metadata, "keypoint_connection_rules", None) if self.metadata is not None else None
        if not names or not rules:
            return None
        index = {name: i for i, name in enumerate(names)}
        return [(index[a], index[b]) for a, b, *_ in rules if a in index and b in index]

    def draw_keypoints(self, keypoints: torch.Tensor) -> VisImage:
        """Draw (N, K, 3) keypoints (x, y, score); points with score <= 0.05 are hidden."""
        if keypoints.numel() == 0:
            return self.output
        points = keypoints[..., :2].float() * self.scale
        visible = keypoints[..., 2] > KEYPOINT_THRESHOLD
        self._canvas = draw_keypoints(
            self._canvas,
            points,
            connectivity=self._connectivity(),
            colors=(255, 64, 64),
            radius=max(2, self._line_width + 1),
            width=self._line_width,
            visibility=visible,
        )
        return self.output

    def draw_sem_seg(self, sem_seg: torch.Tensor, alpha: float = 0.6) -> VisImage:
        """Color each pixel by its class: ``sem_seg`` is (C, H, W) scores or (H, W) class ids."""
        sem_seg = sem_seg.detach().cpu()
        labels = sem_seg.argmax(dim=0) if sem_seg.ndim == 3 else sem_seg.long()
        ids = torch.unique(labels)
        ids = ids[ids >= 0].tolist()
        if not ids:
            return self.output
        masks = torch.stack([labels == i for i in ids])
        colors = [class_color(i, stuff=True) for i in ids]
        self._canvas = draw_segmentation_masks(self._canvas, self._resize_masks(masks), alpha=alpha, colors=colors)
        return self.output

    def draw_panoptic_seg(
        self, panoptic_seg: torch.Tensor, segments_info: Sequence[dict] | None, alpha: float = 0.6
    ) -> VisImage:
        """Color each segment of an (H, W) segment-id map: things by thing class, stuff by stuff class."""
        panoptic_seg = panoptic_seg.detach().cpu()
        if segments_info is None:  # detectron2's convention: id // label_divisor is the class
            ids = [i for i in torch.unique(panoptic_seg).tolist() if i >= 0]
            segments_info = [{"id": i, "category_id": i, "isthing": False} for i in ids]
        segments = [s for s in segments_info if (panoptic_seg == s["id"]).any()]
        if not segments:
            return self.output
        masks = torch.stack([panoptic_seg == s["id"] for s in segments])
        colors = [class_color(s["category_id"], stuff=not s.get("isthing", False)) for s in segments]
        self._canvas = draw_segmentation_masks(self._canvas, self._resize_masks(masks), alpha=alpha, colors=colors)
        return self.output

    def draw_outputs(self, outputs: dict[str, Any], confidence_threshold: float = 0.0) -> VisImage:
        """Draw a model output dict the way detectron2's demo does: panoptic segmentation alone,
        otherwise semantic segmentation and instances (or proposals)."""
        if "panoptic_seg" in outputs:
            panoptic_seg, segments_info = outputs["panoptic_seg"]
            return self.draw_panoptic_seg(panoptic_seg, segments_info)
        if "sem_seg" in outputs:
            self.draw_sem_seg(outputs["sem_seg"])
        if "instances" in outputs:
            self.draw_instance_predictions(outputs["instances"], confidence_threshold)
        elif "proposals" in outputs:
            boxes = outputs["proposals"].proposal_boxes.tensor.detach().cpu().float()[:50] * self.scale
            if len(boxes):
                self._canvas = draw_bounding_boxes(self._canvas, boxes, colors=(0, 200, 0), width=self._line_width)
        return self.output
