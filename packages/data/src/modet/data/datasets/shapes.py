"""The embedded ``shapes`` dataset: a deterministic generator of a small COCO-format dataset.

Images show squares, triangles and ellipses in random colours on textured backgrounds. Each
shape has a box, a polygon mask and four keypoints named ``top``, ``right``, ``bottom`` and
``left``: a rotated square's four corners, a triangle's three corners (its flat bottom has no
corner: ``bottom`` is unlabelled, v=0) and an ellipse's four extreme points. Shapes never
overlap, so every polygon is the exact visible mask. A semantic label map (0 background,
1 + category index per shape) comes with each image.

Everything is written as real files (PNG images, PNG label maps, a COCO instances json per
split) and registered through ``register_coco_instances`` like any user dataset.
"""

from __future__ import annotations

import colorsys
import functools
import json
import logging
import os
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..catalog import DatasetCatalog, MetadataCatalog
from .coco import load_sem_seg, register_coco_instances, unique_temporary, write_json_whole

__all__ = [
    "SHAPES_CATEGORIES",
    "SHAPES_KEYPOINT_FLIP_MAP",
    "SHAPES_KEYPOINT_NAMES",
    "generate_shapes_dataset",
    "register_shapes",
]

logger = logging.getLogger(__name__)

SHAPES_CATEGORIES = ("square", "triangle", "ellipse")
SHAPES_KEYPOINT_NAMES = ("top", "right", "bottom", "left")
SHAPES_KEYPOINT_FLIP_MAP = (("left", "right"),)
SHAPES_THING_COLORS = ((230, 25, 75), (60, 180, 75), (0, 130, 200))
_GENERATOR_VERSION = 2
_IMAGE_SIZES = ((128, 128), (128, 160), (160, 128))  # (height, width)


def _texture(rng: np.random.RandomState, height: int, width: int) -> np.ndarray:
    """A muted background: a base colour, smooth blotches and faint stripes, float (H, W, 3)."""
    hue, sat, val = rng.rand(), rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.8)
    base = np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255.0
    grid = rng.uniform(-35, 35, size=(5, 5, 3)).astype(np.float32)
    blotches = np.stack(
        [
            np.asarray(Image.fromarray(grid[:, :, c]).resize((width, height), Image.Resampling.BICUBIC.value))
            for c in range(3)
        ],
        axis=2,
    )
    yy, xx = np.mgrid[0:height, 0:width]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 16)
    stripes = 12.0 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    return base + blotches + stripes[:, :, None]


def _shape_polygon(
    rng: np.random.RandomState, category: str, cx: float, cy: float, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(polygon (K, 2), keypoints (4, 3))`` of one shape; keypoints in continuous coordinates."""
    keypoints = np.zeros((4, 3))
    if category == "square":
        # 45 degrees is axis-aligned (two corners share the top row): rotate at least 10 degrees
        # away from it so that each of top/right/bottom/left is one distinct corner.
        theta = np.deg2rad(45 + rng.uniform(10, 80))
        angles = theta + np.arange(4) * np.pi / 2
        poly = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
        order = [poly[:, 1].argmin(), poly[:, 0].argmax(), poly[:, 1].argmax(), poly[:, 0].argmin()]
        keypoints[:, :2] = poly[order]
        keypoints[:, 2] = 2
    elif category == "triangle":
        apex = (cx + rng.uniform(-0.3, 0.3) * radius, cy - radius)
        base_y = cy + rng.uniform(0.5, 0.8) * radius
        left = (cx - rng.uniform(0.75, 1.0) * radius, base_y)
        right = (cx + rng.uniform(0.75, 1.0) * radius, base_y)
        poly = np.array([apex, right, left])
        keypoints[[0, 1, 3], :2] = [apex, right, left]
        keypoints[[0, 1, 3], 2] = 2
    else:  # ellipse, axis-aligned, as a 32-gon
        ax, ay = radius * rng.uniform(0.65, 1.0), radius * rng.uniform(0.65, 1.0)
        angles = np.arange(32) * 2 * np.pi / 32
        poly = np.stack([cx + ax * np.cos(angles), cy + ay * np.sin(angles)], axis=1)
        keypoints[:, :2] = [(cx, cy - ay), (cx + ax, cy), (cx, cy + ay), (cx - ax, cy)]
        keypoints[:, 2] = 2
    return poly, keypoints


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _place_shapes(rng: np.random.RandomState, height: int, width: int) -> list[tuple[float, float, float]]:
    """Up to 4 non-overlapping circles ``(cx, cy, radius)`` fully inside the image."""
    circles: list[tuple[float, float, float]] = []
    wanted = rng.randint(1, 5)
    for _ in range(60):
        if len(circles) == wanted:
            break
        radius = rng.uniform(0.09, 0.22) * min(height, width)
        cx = rng.uniform(radius + 1, width - radius - 1)
        cy = rng.uniform(radius + 1, height - radius - 1)
        if all(np.hypot(cx - x, cy - y) > radius + r + 3 for x, y, r in circles):
            circles.append((cx, cy, radius))
    return circles


def _make_image(rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    height, width = _IMAGE_SIZES[rng.randint(len(_IMAGE_SIZES))]
    canvas = Image.fromarray(np.clip(_texture(rng, height, width), 0, 255).astype(np.uint8))
    label_map = Image.new("L", (width, height), 0)
    draw, draw_label = ImageDraw.Draw(canvas), ImageDraw.Draw(label_map)
    objects = []
    for cx, cy, radius in _place_shapes(rng, height, width):
        category_index = rng.randint(len(SHAPES_CATEGORIES))
        poly, keypoints = _shape_polygon(rng, SHAPES_CATEGORIES[category_index], cx, cy, radius)
        color = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(rng.rand(), rng.uniform(0.6, 1), rng.uniform(0.6, 1)))
        vertices = [tuple(p) for p in poly]
        draw.polygon(vertices, fill=color)
        draw_label.polygon(vertices, fill=category_index + 1)
        objects.append({"category_index": category_index, "polygon": poly, "keypoints": keypoints})
    image = np.asarray(canvas).astype(np.float32) + rng.normal(0, 4, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), np.asarray(label_map), objects


def _coco_annotation(obj: dict[str, Any], ann_id: int, image_id: int) -> dict[str, Any]:
    poly = obj["polygon"]
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    keypoints = obj["keypoints"].copy()
    labelled = keypoints[:, 2] > 0
    keypoints[labelled, :2] -= 0.5  # COCO stores keypoints as pixel indices
    keypoints[~labelled] = 0
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": obj["category_index"] + 1,
        "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
        "area": round(_polygon_area(poly), 2),
        "segmentation": [[round(float(v), 2) for v in poly.reshape(-1)]],
        "iscrowd": 0,
        "keypoints": [round(float(v), 2) for v in keypoints.reshape(-1)],
        "num_keypoints": int(labelled.sum()),
    }


def _split_paths(root: str, split: str) -> dict[str, str]:
    return {
        "image_root": os.path.join(root, "images", split),
        "sem_seg_root": os.path.join(root, "sem_seg", split),
        "json_file": os.path.join(root, "annotations", f"instances_{split}.json"),
    }


def generate_shapes_dataset(
    root: str | os.PathLike[str], num_train: int = 400, num_val: int = 50, seed: int = 0
) -> dict[str, dict[str, str]]:
    """Write the dataset under ``root`` (skipped when ``root`` already holds the same one).

    Returns ``{split: {"image_root", "sem_seg_root", "json_file"}}`` for ``train`` and ``val``.
    The same arguments always produce the same bytes.
    """
    root = os.fspath(root)
    params = {"version": _GENERATOR_VERSION, "num_train": num_train, "num_val": num_val, "seed": seed}
    manifest = os.path.join(root, "shapes_manifest.json")
    splits = {"train": num_train, "val": num_val}
    paths = {split: _split_paths(root, split) for split in splits}
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            if json.load(f) == params and all(os.path.exists(p["json_file"]) for p in paths.values()):
                return paths
    categories = [
        {"id": i + 1, "name": name, "supercategory": "shape", "keypoints": list(SHAPES_KEYPOINT_NAMES), "skeleton": []}
        for i, name in enumerate(SHAPES_CATEGORIES)
    ]
    for split_index, (split, count) in enumerate(splits.items()):
        split_paths = paths[split]
        for key in ("image_root", "sem_seg_root"):
            os.makedirs(split_paths[key], exist_ok=True)
        os.makedirs(os.path.dirname(split_paths["json_file"]), exist_ok=True)
        rng = np.random.RandomState([seed, split_index])
        images: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        for image_id in range(1, count + 1):
            image, label_map, objects = _make_image(rng)
            file_name = f"{image_id:05d}.png"
            _save_png(image, os.path.join(split_paths["image_root"], file_name))
            _save_png(label_map, os.path.join(split_paths["sem_seg_root"], file_name))
            images.append({"id": image_id, "file_name": file_name, "height": image.shape[0], "width": image.shape[1]})
            for obj in objects:
                annotations.append(_coco_annotation(obj, len(annotations) + 1, image_id))
        coco = {
            "info": {"description": f"modet shapes dataset, {split} split", "version": str(_GENERATOR_VERSION)},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        write_json_whole(coco, split_paths["json_file"])
    write_json_whole(params, manifest)
    logger.info("Generated the shapes dataset in %s (%d train, %d val images)", root, num_train, num_val)
    return paths


def _save_png(pixels: np.ndarray, path: str) -> None:
    # Written whole, then renamed, as write_json_whole: DDP ranks may generate one dataset at once.
    tmp = unique_temporary(path)
    Image.fromarray(pixels).save(tmp, format="PNG")
    os.replace(tmp, path)


def shapes_metadata() -> dict[str, Any]:
    return {
        "thing_classes": list(SHAPES_CATEGORIES),
        "thing_colors": [list(c) for c in SHAPES_THING_COLORS],
        "keypoint_names": list(SHAPES_KEYPOINT_NAMES),
        "keypoint_flip_map": [list(p) for p in SHAPES_KEYPOINT_FLIP_MAP],
        "keypoint_connection_rules": [
            ("top", "right", (255, 255, 255)),
            ("right", "bottom", (255, 255, 255)),
            ("bottom", "left", (255, 255, 255)),
            ("left", "top", (255, 255, 255)),
        ],
    }


def register_shapes(root: str | os.PathLike[str], prefix: str = "shapes", **generate_kwargs: Any) -> list[str]:
    """Generate (if needed) and register ``{prefix}_train``/``{prefix}_val`` (COCO instances) and
    ``{prefix}_train_sem_seg``/``{prefix}_val_sem_seg`` (semantic segmentation). Returns the names.

    Registering the same root twice is a no-op; a different root under the same name is an error.
    """
    paths = generate_shapes_dataset(root, **generate_kwargs)
    names = []
    for split, split_paths in paths.items():
        name = f"{prefix}_{split}"
        sem_name = f"{name}_sem_seg"
        names += [name, sem_name]
        if name in DatasetCatalog:
            registered = MetadataCatalog.get(name).get("json_file")
            if registered != split_paths["json_file"]:
                raise KeyError(f"Dataset '{name}' is already registered with json_file {registered}")
            continue
        register_coco_instances(name, shapes_metadata(), split_paths["json_file"], split_paths["image_root"])
        image_root, gt_root = split_paths["image_root"], split_paths["sem_seg_root"]
        DatasetCatalog.register(sem_name, functools.partial(load_sem_seg, gt_root, image_root, "png", "png"))
        MetadataCatalog.get(sem_name).set(
            image_root=image_root,
            sem_seg_root=gt_root,
            stuff_classes=["background", *SHAPES_CATEGORIES],
            ignore_label=255,
            evaluator_type="sem_seg",
        )
    return names
