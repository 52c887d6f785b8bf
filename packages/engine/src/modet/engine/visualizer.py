"""Draw detections, segmentations, keypoints and dataset annotations on an image, with
detectron2's ``Visualizer`` API (``detectron2.utils.visualizer``).

Drawing is matplotlib's (an off-screen Agg canvas the size of the output image): antialiased
shapes, polygons with holes, and text whose size follows the image, measured and placed by the
renderer. ``Visualizer(img_rgb, metadata, scale, instance_mode)``; each ``draw_*`` /
``overlay_*`` call draws on the same canvas and returns the :class:`VisImage`, whose
``get_image()`` is the RGB uint8 picture and ``save(path)`` writes it.
"""

from __future__ import annotations

import colorsys
import math
import os
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import matplotlib.colors as mplc
import matplotlib.figure as mplfigure
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from modet.structures import BitMasks, Boxes, BoxMode, Keypoints, PolygonMasks, RotatedBoxes

from .colormap import random_color
from .mask_shapes import GenericMask, trace_regions

if TYPE_CHECKING:
    from matplotlib.typing import LineStyleType

__all__ = ["ColorMode", "GenericMask", "VisImage", "Visualizer", "create_text_labels"]

_SMALL_OBJECT_AREA = 1000  # pixels (x scale): labels of smaller objects go below their box
_LARGE_MASK_AREA = 120000  # pixels: every mask part this large gets its own label
_OFF_WHITE = (1.0, 1.0, 240.0 / 255)
_RED = (1.0, 0.0, 0.0)
_KEYPOINT_THRESHOLD = 0.05  # keypoints with a lower score are not drawn


class ColorMode(Enum):
    """How instances are coloured.

    IMAGE: a random palette colour per instance. SEGMENTATION: each class's ``thing_colors``
    colour (jittered per instance). IMAGE_BW: like IMAGE, on a grey image where only the
    instances' pixels keep their colour.
    """

    IMAGE = 0
    SEGMENTATION = 1
    IMAGE_BW = 2


def create_text_labels(
    classes: Sequence[int] | None,
    scores: Sequence[float] | np.ndarray | None,
    class_names: Sequence[str] | None,
    is_crowd: Sequence[bool] | None = None,
) -> list[str] | None:
    """Labels such as ``"dog 97%"`` (the class id for classes without a name; ``"|crowd"`` marks crowds)."""
    labels = None
    if classes is not None:
        names = list(class_names or [])
        labels = [names[i] if 0 <= i < len(names) else str(i) for i in classes]
    if scores is not None:
        percents = [f"{float(s) * 100:.0f}%" for s in scores]
        labels = percents if labels is None else [f"{label} {p}" for label, p in zip(labels, percents)]
    if labels is not None and is_crowd is not None:
        labels = [label + ("|crowd" if crowd else "") for label, crowd in zip(labels, is_crowd)]
    return labels


def _rgb(color: Any) -> tuple[float, float, float]:
    """Any matplotlib colour (name, hex, RGB in [0, 1]) as an RGB tuple."""
    return tuple(float(c) for c in mplc.to_rgb(color))  # type: ignore[return-value]


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class VisImage:
    """The canvas: the image drawn at ``scale`` on a matplotlib figure of exactly its size."""

    def __init__(self, img: np.ndarray, scale: float = 1.0) -> None:
        self.img = img
        self.scale = scale
        self.height, self.width = img.shape[:2]
        self.fig = mplfigure.Figure(frameon=False)
        self.dpi = self.fig.get_dpi()
        # the small extra keeps matplotlib's rounding from losing a pixel row or column
        self.fig.set_size_inches((self.width * scale + 1e-2) / self.dpi, (self.height * scale + 1e-2) / self.dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.axis("off")
        self.reset_image(img)

    def reset_image(self, img: np.ndarray) -> None:
        """Draw ``img`` (H, W, 3) as the background, replacing what was under it."""
        self.ax.imshow(img.astype(np.uint8), extent=(0, self.width, self.height, 0), interpolation="nearest")

    def get_image(self) -> np.ndarray:
        """The drawing as an (H * scale, W * scale, 3) RGB uint8 array."""
        buffer, (width, height) = self.canvas.print_to_buffer()
        rgba = np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 4)
        return rgba[:, :, :3].copy()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the drawing to ``path`` (the format from the file name's suffix, e.g. PNG)."""
        self.fig.savefig(os.fspath(path))


class Visualizer:
    """Draws on an RGB image (H, W, 3, values in [0, 255]) with detectron2's drawing API.

    ``metadata`` (a ``modet.data`` ``Metadata`` or any object with the same attributes) supplies
    ``thing_classes``, ``thing_colors``, ``stuff_classes``, ``stuff_colors``, ``keypoint_names``,
    ``keypoint_connection_rules`` and ``label_divisor`` when it has them.
    """

    def __init__(
        self,
        img_rgb: np.ndarray,
        metadata: Any = None,
        scale: float = 1.0,
        instance_mode: ColorMode = ColorMode.IMAGE,
        font_size_scale: float = 1.0,
    ) -> None:
        image = np.asarray(img_rgb)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"Visualizer needs an (H, W, 3) RGB image, got shape {image.shape}")
        self.img = image.clip(0, 255).astype(np.uint8)
        self.metadata = metadata
        self.output = VisImage(self.img, scale=scale)
        self.cpu_device = torch.device("cpu")
        # text scales with the image's size; never smaller than 10 points on the output
        self._default_font_size = (
            max(np.sqrt(self.output.height * self.output.width) // 90, 10 // scale) * font_size_scale
        )
        self._instance_mode = instance_mode
        self.keypoint_threshold = _KEYPOINT_THRESHOLD
        self._label_extents: list[Any] = []  # display-space boxes of the instance labels drawn so far

    def _meta(self, key: str, default: Any = None) -> Any:
        if self.metadata is None:
            return default
        getter = getattr(self.metadata, "get", None)
        if callable(getter):
            value = getter(key, default)
            return default if value is None else value
        return getattr(self.metadata, key, default)

    # -- whole predictions and annotations ------------------------------------------------

    def draw_instance_predictions(
        self, predictions: Any, jittering: bool = True, *, confidence_threshold: float = 0.0
    ) -> VisImage:
        """Boxes, class-and-score labels, masks and keypoints of an ``Instances`` (any device).

        ``confidence_threshold`` (modet's addition) leaves out instances scoring below it.
        """
        if predictions.has("scores") and confidence_threshold > 0:
            predictions = predictions[_numpy(predictions.scores) >= confidence_threshold]
        fields = predictions.get_fields()
        boxes = fields.get("pred_boxes")
        scores = _numpy(fields["scores"]) if "scores" in fields else None
        classes = _numpy(fields["pred_classes"]).tolist() if "pred_classes" in fields else None
        labels = create_text_labels(classes, scores, self._meta("thing_classes"))
        keypoints = fields.get("pred_keypoints")
        masks = None
        if "pred_masks" in fields:
            masks = [GenericMask(m, self.output.height, self.output.width) for m in _numpy(fields["pred_masks"])]

        colors, alpha = None, 0.5
        thing_colors = self._meta("thing_colors")
        if self._instance_mode == ColorMode.SEGMENTATION and thing_colors and classes is not None:
            base = [[c / 255 for c in thing_colors[k]] for k in classes]
            colors = [self._jitter(c) if jittering else _rgb(c) for c in base]
            alpha = 0.8
        if self._instance_mode == ColorMode.IMAGE_BW:
            keep = np.asarray(_numpy(fields["pred_masks"]).any(axis=0)) if "pred_masks" in fields else None
            self.output.reset_image(self._create_grayscale_image(keep))
            alpha = 0.3
        return self.overlay_instances(
            masks=masks, boxes=boxes, labels=labels, keypoints=keypoints, assigned_colors=colors, alpha=alpha
        )

    def draw_sem_seg(
        self,
        sem_seg: Any,
        area_threshold: int | None = None,
        alpha: float = 0.8,
        draw_text: bool = True,
        edge_color: Any = _OFF_WHITE,
    ) -> VisImage:
        """Colour each class region of an (H, W) label map (or the argmax of (C, H, W) scores).

        Regions are named by ``stuff_classes`` and coloured by ``stuff_colors`` (random without
        them); labels past the known classes are skipped, largest regions are drawn first.
        """
        sem_seg = _numpy(sem_seg)
        if sem_seg.ndim == 3:  # per-class scores, as models return them
            sem_seg = sem_seg.argmax(axis=0)
        labels, areas = np.unique(sem_seg, return_counts=True)
        names = self._meta("stuff_classes")
        colors = self._meta("stuff_colors")
        for label in labels[np.argsort(-areas, kind="stable")].tolist():
            if label < 0 or (names is not None and label >= len(names)):
                continue
            color = [c / 255 for c in colors[label]] if colors is not None and label < len(colors) else None
            text = (names[label] if names is not None else str(label)) if draw_text else None
            self.draw_binary_mask(
                sem_seg == label,
                color=color,
                edge_color=edge_color,
                text=text,
                alpha=alpha,
                area_threshold=area_threshold,
            )
        return self.output

    def draw_panoptic_seg(
        self, panoptic_seg: Any, segments_info: list[dict] | None, area_threshold: int | None = None, alpha: float = 0.7
    ) -> VisImage:
        """Draw an (H, W) segment-id map: stuff segments like ``draw_sem_seg``, things like instances.

        ``segments_info`` has one dict per segment (``id``, ``category_id``, ``isthing``, optional
        ``score``/``iscrowd``); when None, a pixel's class is its id // ``metadata.label_divisor``.
        """
        seg = _numpy(panoptic_seg)
        ids, areas = np.unique(seg, return_counts=True)
        order = np.argsort(-areas, kind="stable")
        ids, areas = ids[order].tolist(), areas[order].tolist()
        if segments_info is None:
            divisor = self._meta("label_divisor")
            if divisor is None:
                raise ValueError("draw_panoptic_seg without segments_info needs metadata.label_divisor")
            thing_ids = set((self._meta("thing_dataset_id_to_contiguous_id") or {}).values())
            segments_info = [
                {"id": i, "category_id": i // divisor, "isthing": i // divisor in thing_ids} for i in ids if i != -1
            ]
        info = {s["id"]: s for s in segments_info}

        if self._instance_mode == ColorMode.IMAGE_BW:
            unlabeled = [i for i in ids if i not in info]
            if len(unlabeled) > 1:
                raise ValueError(f"panoptic_seg has several ids without segments_info: {unlabeled}")
            self.output.reset_image(self._create_grayscale_image(seg != unlabeled[0] if unlabeled else None))

        stuff_names = self._meta("stuff_classes")
        stuff_colors = self._meta("stuff_colors")
        for segment_id in ids:
            segment = info.get(segment_id)
            if segment is None or segment.get("isthing"):
                continue
            category = segment["category_id"]
            color = [c / 255 for c in stuff_colors[category]] if stuff_colors is not None else None
            text = stuff_names[category] if stuff_names is not None else str(category)
            self.draw_binary_mask(
                seg == segment_id,
                color=color,
                edge_color=_OFF_WHITE,
                text=text,
                alpha=alpha,
                area_threshold=area_threshold,
            )

        things = [(seg == i, info[i]) for i in ids if i in info and info[i].get("isthing")]
        things = [(m, s) for m, s in things if m.any()]
        if not things:
            return self.output
        masks, infos = zip(*things)
        categories = [s["category_id"] for s in infos]
        scores = [s["score"] for s in infos] if all("score" in s for s in infos) else None
        labels = create_text_labels(
            categories, scores, self._meta("thing_classes"), [s.get("iscrowd", 0) for s in infos]
        )
        thing_colors = self._meta("thing_colors")
        colors = [self._jitter([c / 255 for c in thing_colors[k]]) for k in categories] if thing_colors else None
        return self.overlay_instances(masks=list(masks), labels=labels, assigned_colors=colors, alpha=alpha)

    draw_panoptic_seg_predictions = draw_panoptic_seg  # detectron2's older name

    def draw_dataset_dict(self, dic: dict[str, Any]) -> VisImage:
        """Draw one dataset record: its annotations (boxes, masks, keypoints, class names),
        ``sem_seg`` / ``sem_seg_file_name`` and ``pan_seg`` / ``pan_seg_file_name`` + ``segments_info``."""
        annotations = dic.get("annotations")
        if annotations:
            masks = [a["segmentation"] for a in annotations] if "segmentation" in annotations[0] else None
            keypoints = None
            if "keypoints" in annotations[0]:
                keypoints = np.array([a["keypoints"] for a in annotations]).reshape(len(annotations), -1, 3)
            boxes = np.array(
                [
                    BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) if len(a["bbox"]) == 4 else a["bbox"]
                    for a in annotations
                ],
                dtype=np.float64,
            )
            categories = [a["category_id"] for a in annotations]
            colors = None
            thing_colors = self._meta("thing_colors")
            if self._instance_mode == ColorMode.SEGMENTATION and thing_colors:
                colors = [self._jitter([c / 255 for c in thing_colors[k]]) for k in categories]
            labels = create_text_labels(
                categories, None, self._meta("thing_classes"), [a.get("iscrowd", 0) for a in annotations]
            )
            self.overlay_instances(labels=labels, boxes=boxes, masks=masks, keypoints=keypoints, assigned_colors=colors)

        sem_seg = dic.get("sem_seg")
        if sem_seg is None and "sem_seg_file_name" in dic:
            with Image.open(dic["sem_seg_file_name"]) as f:
                sem_seg = np.asarray(f, dtype=np.uint8)
        if sem_seg is not None:
            self.draw_sem_seg(sem_seg, area_threshold=0, alpha=0.5)

        pan_seg = dic.get("pan_seg")
        if pan_seg is None and "pan_seg_file_name" in dic:
            with Image.open(dic["pan_seg_file_name"]) as f:
                rgb = np.asarray(f.convert("RGB"), dtype=np.int64)
            pan_seg = rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]  # COCO panoptic PNG ids
        if pan_seg is not None:
            self.draw_panoptic_seg(pan_seg, dic["segments_info"], area_threshold=0, alpha=0.5)
        return self.output

    def draw_outputs(self, outputs: dict[str, Any], confidence_threshold: float = 0.0) -> VisImage:
        """Draw a model's output dict (modet's addition): panoptic segmentation alone, otherwise
        semantic segmentation, then instances (or the top 50 proposals)."""
        if "panoptic_seg" in outputs:
            panoptic_seg, segments_info = outputs["panoptic_seg"]
            return self.draw_panoptic_seg(panoptic_seg, segments_info)
        if "sem_seg" in outputs:
            self.draw_sem_seg(outputs["sem_seg"])
        if "instances" in outputs:
            return self.draw_instance_predictions(outputs["instances"], confidence_threshold=confidence_threshold)
        if "proposals" in outputs:
            boxes = outputs["proposals"].proposal_boxes[:50]
            return self.overlay_instances(boxes=boxes, assigned_colors=[(0.0, 0.8, 0.0)] * len(boxes))
        return self.output

    # -- several instances --------------------------------------------------------------

    def overlay_instances(
        self,
        *,
        boxes: Any = None,
        labels: Sequence[str] | None = None,
        masks: Any = None,
        keypoints: Any = None,
        assigned_colors: Sequence[Any] | None = None,
        alpha: float = 0.5,
    ) -> VisImage:
        """Draw N instances, largest first so small ones stay visible on top.

        ``boxes``: ``Boxes``, ``RotatedBoxes``, (N, 4) XYXY or (N, 5) rotated array. ``masks``:
        ``BitMasks``, ``PolygonMasks``, (N, H, W) array, or a list of binary arrays, polygon lists or
        COCO RLE dicts. ``keypoints``: ``Keypoints`` or (N, K, 3). ``labels``: one text each.
        ``assigned_colors``: one matplotlib colour each (random palette colours by default).
        """
        count = 0
        if boxes is not None:
            boxes = self._convert_boxes(boxes)
            count = len(boxes)
        if masks is not None:
            masks = self._convert_masks(masks)
            count = _check_count("masks", len(masks), count)
        if keypoints is not None:
            keypoints = self._convert_keypoints(keypoints)
            count = _check_count("keypoints", len(keypoints), count)
        if labels is not None:
            _check_count("labels", len(labels), count)
        if assigned_colors is None:
            assigned_colors = [random_color(rgb=True, maximum=1) for _ in range(count)]
        _check_count("assigned_colors", len(assigned_colors), count)
        if count == 0:
            return self.output
        if boxes is not None and boxes.shape[1] == 5:
            return self.overlay_rotated_instances(boxes=boxes, labels=labels, assigned_colors=assigned_colors)

        if boxes is not None:
            areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        elif masks is not None:
            areas = np.array([m.area() for m in masks])
        else:
            areas = np.zeros(count)
        order = np.argsort(-areas, kind="stable").tolist()

        for i in order:
            color = assigned_colors[i]
            if boxes is not None:
                self.draw_box(boxes[i], edge_color=color)
            if masks is not None:
                for region in masks[i].regions:
                    self._draw_region(region, color, alpha=alpha)
            if labels is not None:
                self._label_instance(
                    labels[i], color, boxes[i] if boxes is not None else None, masks[i] if masks is not None else None
                )
        if keypoints is not None:
            for instance_keypoints in keypoints:
                self.draw_and_connect_keypoints(instance_keypoints)
        return self.output

    def _label_instance(self, text: str, color: Any, box: np.ndarray | None, mask: GenericMask | None) -> None:
        if box is not None:
            x0, y0, x1, y1 = box
            position, align = (x0, y0), "left"  # on the box's top-left corner
        elif mask is not None and mask.regions:
            x0, y0, x1, y1 = mask.bbox()
            ys, xs = np.nonzero(mask.mask)
            position, align = (np.median(xs), np.median(ys)), "center"
        else:
            return  # a label for keypoints alone would hide them
        scale = self.output.scale
        if (y1 - y0) * (x1 - x0) < _SMALL_OBJECT_AREA * scale or y1 - y0 < 40 * scale:
            # small objects: the label goes under the box (above its bottom edge at the image's foot)
            position = (x1, y0) if y1 >= self.output.height - 5 else (x0, y1)
        height_ratio = (y1 - y0) / np.sqrt(self.output.height * self.output.width)
        font_size = np.clip((height_ratio - 0.02) / 0.08 + 1, 1.2, 2) * 0.5 * self._default_font_size
        self.draw_text(
            text,
            position,
            color=self._change_color_brightness(color, brightness_factor=0.7),
            horizontal_alignment=align,
            font_size=font_size,
        )
        self._move_clear_of_other_labels(self.output.ax.texts[-1])

    def _move_clear_of_other_labels(self, label: Any) -> None:
        """Shift an instance label down (or up, at the image's foot) by its own height until it
        covers no earlier label of this drawing (modet's addition: detectron2 lets them overlap)."""
        renderer = self.output.canvas.get_renderer()
        placed = self._label_extents
        extent = label.get_window_extent(renderer=renderer).expanded(1.0, 1.15)
        step = extent.height / self.output.scale  # in image pixels
        x, y = label.get_position()
        candidates = [y + k * step for k in range(1, 12)] + [y - k * step for k in range(1, 12)]
        candidates = [c for c in candidates if 0 <= c <= self.output.height - step]
        while any(extent.overlaps(other) for other in placed) and candidates:
            label.set_position((x, candidates.pop(0)))
            extent = label.get_window_extent(renderer=renderer).expanded(1.0, 1.15)
        placed.append(extent)

    def overlay_rotated_instances(
        self, boxes: Any = None, labels: Sequence[str] | None = None, assigned_colors: Sequence[Any] | None = None
    ) -> VisImage:
        """Draw (N, 5) rotated boxes (cx, cy, w, h, angle in degrees) with their labels, largest first."""
        boxes = self._convert_boxes(boxes) if boxes is not None else np.zeros((0, 5))
        if assigned_colors is None:
            assigned_colors = [random_color(rgb=True, maximum=1) for _ in range(len(boxes))]
        if len(boxes) == 0:
            return self.output
        for i in np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable").tolist():
            self.draw_rotated_box_with_label(
                boxes[i], edge_color=assigned_colors[i], label=labels[i] if labels is not None else None
            )
        return self.output

    def draw_and_connect_keypoints(self, keypoints: Any) -> VisImage:
        """One instance's (K, 3) keypoints (x, y, score): points above the threshold, the
        metadata's skeleton lines between them, and nose/shoulders/hips centre lines for people."""
        visible: dict[Any, tuple[float, float]] = {}
        names = self._meta("keypoint_names")
        for index, (x, y, score) in enumerate(_numpy(keypoints).tolist()):
            if score > self.keypoint_threshold:
                self.draw_circle((x, y), color=_RED)
                if names:
                    visible[names[index]] = (x, y)
        for first, second, color in self._meta("keypoint_connection_rules") or []:
            if first in visible and second in visible:
                (x0, y0), (x1, y1) = visible[first], visible[second]
                self.draw_line([x0, x1], [y0, y1], color=tuple(c / 255.0 for c in color))
        if "left_shoulder" in visible and "right_shoulder" in visible:
            mid_shoulder = np.mean([visible["left_shoulder"], visible["right_shoulder"]], axis=0)
            if "nose" in visible:
                nose = visible["nose"]
                self.draw_line([nose[0], mid_shoulder[0]], [nose[1], mid_shoulder[1]], color=_RED)
            if "left_hip" in visible and "right_hip" in visible:
                mid_hip = np.mean([visible["left_hip"], visible["right_hip"]], axis=0)
                self.draw_line([mid_hip[0], mid_shoulder[0]], [mid_hip[1], mid_shoulder[1]], color=_RED)
        return self.output

    def draw_keypoints(self, keypoints: Any) -> VisImage:
        """(N, K, 3) keypoints of N instances (modet's shorthand for ``draw_and_connect_keypoints`` on each)."""
        for instance_keypoints in self._convert_keypoints(keypoints):
            self.draw_and_connect_keypoints(instance_keypoints)
        return self.output

    # -- primitives -----------------------------------------------------------------------

    def draw_text(
        self,
        text: str,
        position: tuple[float, float],
        *,
        font_size: float | None = None,
        color: Any = "g",
        horizontal_alignment: str = "center",
        rotation: float = 0,
    ) -> VisImage:
        """Text on a dark box at ``position`` (x, y in input-image pixels), kept light enough to read."""
        font_size = font_size or self._default_font_size
        rgb = np.maximum(_rgb(color), 0.2)
        rgb[np.argmax(rgb)] = max(0.8, float(np.max(rgb)))
        x, y = position
        self.output.ax.text(
            x,
            y,
            text,
            size=font_size * self.output.scale,
            family="sans-serif",
            bbox={"facecolor": "black", "alpha": 0.8, "pad": 0.7, "edgecolor": "none"},
            verticalalignment="top",
            horizontalalignment=horizontal_alignment,
            color=tuple(rgb),
            zorder=10,
            rotation=rotation,
        )
        return self.output

    def draw_box(
        self, box_coord: Sequence[float], alpha: float = 0.5, edge_color: Any = "g", line_style: str = "-"
    ) -> VisImage:
        """An XYXY box outline."""
        x0, y0, x1, y1 = box_coord
        line_width = max(self._default_font_size / 4, 1) * self.output.scale
        self.output.ax.add_patch(
            mpl.patches.Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                fill=False,
                edgecolor=edge_color,
                linewidth=line_width,
                alpha=alpha,
                linestyle=line_style,
            )
        )
        return self.output

    def draw_rotated_box_with_label(
        self,
        rotated_box: Sequence[float],
        alpha: float = 0.5,
        edge_color: Any = "g",
        line_style: LineStyleType = "-",
        label: str | None = None,
    ) -> VisImage:
        """A (cx, cy, w, h, angle) box, counter-clockwise in degrees; its top edge is dashed."""
        cx, cy, w, h, angle = (float(v) for v in rotated_box)
        line_width = self._default_font_size / (6 if w * h < _SMALL_OBJECT_AREA * self.output.scale else 3)
        theta = math.radians(angle)
        cos, sin = math.cos(theta), math.sin(theta)
        corners = [(-w / 2, h / 2), (-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2)]
        points = [(sin * yy + cos * xx + cx, cos * yy - sin * xx + cy) for xx, yy in corners]
        for k in range(4):
            (xa, ya), (xb, yb) = points[k], points[(k + 1) % 4]
            self.draw_line(
                [xa, xb], [ya, yb], color=edge_color, linestyle="--" if k == 1 else line_style, linewidth=line_width
            )
        if label is not None:
            height_ratio = h / np.sqrt(self.output.height * self.output.width)
            font_size = np.clip((height_ratio - 0.02) / 0.08 + 1, 1.2, 2) * 0.5 * self._default_font_size
            color = self._change_color_brightness(edge_color, brightness_factor=0.7)
            self.draw_text(label, points[1], color=color, font_size=font_size, rotation=angle)
        return self.output

    def draw_circle(self, circle_coord: tuple[float, float], color: Any, radius: float = 3) -> VisImage:
        self.output.ax.add_patch(mpl.patches.Circle(circle_coord, radius=radius, fill=True, color=color))
        return self.output

    def draw_line(
        self,
        x_data: Sequence[float],
        y_data: Sequence[float],
        color: Any,
        linestyle: LineStyleType = "-",
        linewidth: float | None = None,
    ) -> VisImage:
        linewidth = max(self._default_font_size / 3 if linewidth is None else linewidth, 1)
        self.output.ax.add_line(
            mpl.lines.Line2D(x_data, y_data, linewidth=linewidth * self.output.scale, color=color, linestyle=linestyle)
        )
        return self.output

    def draw_binary_mask(
        self,
        binary_mask: np.ndarray,
        color: Any = None,
        *,
        edge_color: Any = None,
        text: str | None = None,
        alpha: float = 0.5,
        area_threshold: float | None = 10,
    ) -> VisImage:
        """Fill an (H, W) mask. Parts smaller than ``area_threshold`` pixels are left out; a mask
        with holes is painted pixel by pixel (exact holes, no outline), others as outlined shapes."""
        color = _rgb(random_color(rgb=True, maximum=1) if color is None else color)
        binary_mask = _numpy(binary_mask).astype(np.uint8)
        mask = GenericMask(binary_mask, self.output.height, self.output.width)
        drawn = False
        if not mask.has_holes:
            for region in mask.regions:
                if region.area < (area_threshold or 0):
                    continue
                drawn = True
                self._draw_region(region, color, edge_color=edge_color, alpha=alpha)
        elif mask.area() > 0:
            drawn = True
            self._paint(mask.mask.astype(np.float32) * alpha, color)
        if text is not None and drawn:
            self._draw_text_in_mask(binary_mask, text, self._change_color_brightness(color, brightness_factor=0.7))
        return self.output

    def draw_soft_mask(
        self, soft_mask: np.ndarray, color: Any = None, *, text: str | None = None, alpha: float = 0.5
    ) -> VisImage:
        """Paint an (H, W) mask of values in [0, 1], each pixel's opacity ``value * alpha``."""
        color = _rgb(random_color(rgb=True, maximum=1) if color is None else color)
        soft_mask = _numpy(soft_mask).astype(np.float32)
        self._paint(soft_mask * alpha, color)
        if text is not None:
            self._draw_text_in_mask(
                (soft_mask > 0.5).astype(np.uint8), text, self._change_color_brightness(color, brightness_factor=0.7)
            )
        return self.output

    def draw_polygon(self, segment: np.ndarray, color: Any, edge_color: Any = None, alpha: float = 0.5) -> VisImage:
        """A filled (K, 2) polygon; its edge is darker than the fill when the fill is nearly opaque."""
        if edge_color is None:
            edge_color = self._change_color_brightness(color, brightness_factor=-0.7) if alpha > 0.8 else color
        self.output.ax.add_patch(
            mpl.patches.Polygon(
                np.asarray(segment).reshape(-1, 2),
                fill=True,
                facecolor=(*_rgb(color), alpha),
                edgecolor=(*_rgb(edge_color), 1),
                linewidth=self._edge_width(),
            )
        )
        return self.output

    def get_output(self) -> VisImage:
        return self.output

    # -- helpers --------------------------------------------------------------------------

    def _edge_width(self) -> float:
        return max(self._default_font_size // 15 * self.output.scale, 1)

    def _draw_region(self, region: Any, color: Any, edge_color: Any = None, alpha: float = 0.5) -> None:
        """A mask region (outer ring and holes) as one filled, outlined shape."""
        if edge_color is None:
            edge_color = self._change_color_brightness(color, brightness_factor=-0.7) if alpha > 0.8 else color
        self.output.ax.add_patch(
            mpl.patches.PathPatch(
                region.path(),
                facecolor=(*_rgb(color), alpha),
                edgecolor=(*_rgb(edge_color), 1),
                linewidth=self._edge_width(),
            )
        )

    def _paint(self, opacity: np.ndarray, color: tuple[float, float, float]) -> None:
        rgba = np.zeros((*opacity.shape, 4), dtype=np.float32)
        rgba[:, :, :3] = color
        rgba[:, :, 3] = opacity
        self.output.ax.imshow(rgba, extent=(0, self.output.width, self.output.height, 0), interpolation="nearest")

    def _draw_text_in_mask(self, binary_mask: np.ndarray, text: str, color: Any) -> None:
        """Label the largest part of a mask (and every very large part) at its median pixel."""
        regions = trace_regions(binary_mask)
        if not regions:
            return
        ys, xs = np.nonzero(binary_mask)
        centers = np.stack([xs + 0.5, ys + 0.5], axis=1)
        for index, region in enumerate(regions):
            if index > 0 and region.area <= _LARGE_MASK_AREA:
                continue
            inside = region.path().contains_points(centers)
            if inside.any():
                self.draw_text(text, tuple(np.median(np.stack([xs[inside], ys[inside]]), axis=1)), color=color)

    def _jitter(self, color: Any) -> tuple[float, float, float]:
        """The colour moved by a random step of length 0.5 in RGB space (tells same-class instances apart)."""
        step = np.random.rand(3)
        step = step / np.linalg.norm(step) * 0.5
        return tuple(np.clip(step + np.array(_rgb(color)), 0, 1).tolist())

    def _create_grayscale_image(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The image in grey, except the pixels of ``mask`` which keep their colour."""
        grey = np.repeat(self.img.astype(np.float32).mean(axis=2, keepdims=True), 3, axis=2)
        if mask is not None:
            grey[mask] = self.img[mask]
        return grey

    def _change_color_brightness(self, color: Any, brightness_factor: float) -> tuple[float, float, float]:
        """The colour with its lightness scaled by ``1 + brightness_factor`` (factor in [-1, 1])."""
        if not -1.0 <= brightness_factor <= 1.0:
            raise ValueError(f"brightness_factor must be in [-1, 1], got {brightness_factor}")
        hue, lightness, saturation = colorsys.rgb_to_hls(*_rgb(color))
        lightness = min(max(lightness * (1 + brightness_factor), 0.0), 1.0)
        return tuple(np.clip(colorsys.hls_to_rgb(hue, lightness, saturation), 0.0, 1.0).tolist())

    def _convert_boxes(self, boxes: Any) -> np.ndarray:
        if isinstance(boxes, (Boxes, RotatedBoxes)):
            boxes = boxes.tensor
        boxes = _numpy(boxes).astype(np.float64)
        if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
            raise ValueError(f"boxes must be (N, 4) XYXY or (N, 5) rotated, got shape {boxes.shape}")
        return boxes

    def _convert_masks(self, masks: Any) -> list[GenericMask]:
        if isinstance(masks, PolygonMasks):
            masks = masks.polygons
        elif isinstance(masks, BitMasks):
            masks = masks.tensor
        if isinstance(masks, torch.Tensor):
            masks = _numpy(masks)
        return [
            m
            if isinstance(m, GenericMask)
            else GenericMask(_numpy(m) if isinstance(m, torch.Tensor) else m, self.output.height, self.output.width)
            for m in masks
        ]

    def _convert_keypoints(self, keypoints: Any) -> np.ndarray:
        if isinstance(keypoints, Keypoints):
            keypoints = keypoints.tensor
        return _numpy(keypoints)


def _check_count(what: str, got: int, expected: int) -> int:
    if expected and got != expected:
        raise ValueError(f"overlay_instances: {got} {what} for {expected} instances")
    return got or expected
