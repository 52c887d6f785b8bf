"""Helpers shared by dataset mappers: image reading, annotation transforms, ``Instances`` building."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from modet.structures import (
    BitMasks,
    Boxes,
    BoxMode,
    Instances,
    Keypoints,
    PolygonMasks,
    RotatedBoxes,
    polygons_to_bitmask,
)

from . import transforms as T
from .catalog import MetadataCatalog

__all__ = [
    "SizeMismatchError",
    "annotations_to_instances",
    "annotations_to_instances_rotated",
    "build_augmentation",
    "check_image_size",
    "check_metadata_consistency",
    "convert_PIL_to_numpy",
    "convert_image_to_rgb",
    "create_keypoint_hflip_indices",
    "filter_empty_instances",
    "gen_crop_transform_with_instance",
    "read_image",
    "transform_instance_annotations",
    "transform_keypoint_annotations",
]

logger = logging.getLogger(__name__)

# ITU-R BT.601 RGB -> YUV
_M_RGB2YUV = np.array([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])
# ... and back (detectron2's rounded coefficients, not the exact inverse)
_M_YUV2RGB = np.array([[1.0, 0.0, 1.13983], [1.0, -0.39465, -0.58060], [1.0, 2.03211, 0.0]])


class SizeMismatchError(ValueError):
    """The image read from disk does not have the size its dataset record claims."""


def convert_PIL_to_numpy(image: Image.Image, format: str | None) -> np.ndarray:
    """An ``(H, W, C)`` uint8 array (float for YUV) in ``format``: a PIL mode, ``"BGR"`` or ``"YUV-BT.601"``."""
    if format is not None:
        conversion = format
        if format in ("BGR", "YUV-BT.601"):
            conversion = "RGB"
        image = image.convert(conversion)
    array = np.asarray(image)
    if format == "L":
        array = array[:, :, None]
    elif format == "BGR":
        array = array[:, :, ::-1]
    elif format == "YUV-BT.601":
        array = np.dot(array / 255.0, _M_RGB2YUV.T)
    return np.ascontiguousarray(array)


def read_image(file_name: str | os.PathLike[str], format: str | None = None) -> np.ndarray:
    """Read an image file into an ``(H, W, C)`` array, rotated upright by its EXIF orientation.

    ``format`` is a PIL mode (``"RGB"``, ``"L"``…), ``"BGR"`` or ``"YUV-BT.601"``.
    """
    file_name = os.fspath(file_name)
    try:
        with Image.open(file_name) as image:
            image = ImageOps.exif_transpose(image)
            return convert_PIL_to_numpy(image, format)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {file_name}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise OSError(f"cannot read image file {file_name}: {exc}") from exc


def convert_image_to_rgb(image: np.ndarray | torch.Tensor, format: str) -> np.ndarray:
    """An (H, W, 3) RGB image from one in ``format`` ("BGR", "RGB", "L", "YUV-BT.601" or another
    PIL mode), e.g. a model input back for drawing. YUV input is float, in detectron2's scaling."""
    if isinstance(image, torch.Tensor):
        image = image.cpu().numpy()
    if format == "BGR":
        return image[:, :, [2, 1, 0]]
    if format == "YUV-BT.601":
        return np.dot(image, _M_YUV2RGB.T) * 255.0
    if format == "L":
        image = image[:, :, 0]
    return np.asarray(Image.fromarray(image.astype(np.uint8), mode=format).convert("RGB"))


def check_image_size(dataset_dict: dict[str, Any], image: np.ndarray) -> None:
    """Raise if the image size disagrees with the record's height/width; fill them in if absent."""
    image_wh = (image.shape[1], image.shape[0])
    if "width" in dataset_dict or "height" in dataset_dict:
        expected_wh = (dataset_dict.get("width", image_wh[0]), dataset_dict.get("height", image_wh[1]))
        if tuple(expected_wh) != image_wh:
            raise SizeMismatchError(
                f"Mismatched image shape for image {dataset_dict.get('file_name', '')!r} "
                f"(image_id={dataset_dict.get('image_id')}): got (width, height) {image_wh}, "
                f"expected {tuple(expected_wh)} from the dataset record. Please check the width/height in your annotation."
            )
    dataset_dict.setdefault("width", image_wh[0])
    dataset_dict.setdefault("height", image_wh[1])


def transform_keypoint_annotations(
    keypoints: Sequence[float] | np.ndarray,
    transforms: T.Transform,
    image_size: tuple[int, int],
    keypoint_hflip_indices: np.ndarray | None = None,
) -> np.ndarray:
    """Transform COCO keypoints ``[x1, y1, v1, ...]`` to an ``(K, 3)`` array.

    Keypoints that land outside the image become unlabeled (v=0). An odd number of horizontal
    flips also swaps left/right keypoints by ``keypoint_hflip_indices``. Unlabeled keypoints keep
    COCO's convention: all three values are 0.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    xy = transforms.apply_coords(keypoints[:, :2])
    inside = ((xy >= np.array([0, 0])) & (xy <= np.array(image_size[::-1]))).all(axis=1)
    keypoints[:, :2] = xy
    keypoints[~inside, 2] = 0
    flips = transforms.transforms if isinstance(transforms, T.TransformList) else [transforms]
    if sum(isinstance(t, T.HFlipTransform) for t in flips) % 2 == 1:
        if keypoint_hflip_indices is None:
            raise ValueError("Cannot flip keypoints without keypoint_hflip_indices (metadata keypoint_flip_map)")
        if len(keypoints) != len(keypoint_hflip_indices):
            raise ValueError(
                f"Keypoint data has {len(keypoints)} points, but metadata contains {len(keypoint_hflip_indices)} points!"
            )
        keypoints = keypoints[np.asarray(keypoint_hflip_indices, dtype=np.int64)]
    keypoints[keypoints[:, 2] == 0] = 0
    return keypoints


def transform_instance_annotations(
    annotation: dict[str, Any],
    transforms: T.Transform,
    image_size: tuple[int, int],
    *,
    keypoint_hflip_indices: np.ndarray | None = None,
) -> dict[str, Any]:
    """Apply ``transforms`` to one instance's bbox (-> XYXY_ABS, clipped), segmentation and keypoints.

    Polygons stay lists of flat float arrays; an RLE mask is decoded and becomes an ``(H, W)`` array.
    """
    if isinstance(transforms, (tuple, list)):
        transforms = T.TransformList(transforms)
    bbox = BoxMode.convert(annotation["bbox"], annotation["bbox_mode"], BoxMode.XYXY_ABS)
    bbox = transforms.apply_box(np.array([bbox]))[0].clip(min=0)
    annotation["bbox"] = np.minimum(bbox, list(image_size + image_size)[::-1])
    annotation["bbox_mode"] = BoxMode.XYXY_ABS

    if "segmentation" in annotation:
        segm = annotation["segmentation"]
        if isinstance(segm, list):
            polygons = [np.asarray(p).reshape(-1, 2) for p in segm]
            annotation["segmentation"] = [p.reshape(-1) for p in transforms.apply_polygons(polygons)]
        elif isinstance(segm, dict):
            mask = mask_util.decode(segm)
            mask = transforms.apply_segmentation(mask)
            if tuple(mask.shape[:2]) != tuple(image_size):
                raise ValueError(f"transformed RLE mask has shape {mask.shape[:2]}, expected {tuple(image_size)}")
            annotation["segmentation"] = mask
        elif isinstance(segm, np.ndarray):
            annotation["segmentation"] = transforms.apply_segmentation(segm)
        else:
            raise ValueError(
                f"Cannot transform segmentation of type {type(segm).__name__}! Supported types are: "
                "polygons as list[list[float]] or ndarray, COCO-style RLE as a dict."
            )

    if "keypoints" in annotation:
        annotation["keypoints"] = transform_keypoint_annotations(
            annotation["keypoints"], transforms, image_size, keypoint_hflip_indices
        )
    return annotation


def annotations_to_instances(
    annos: list[dict[str, Any]], image_size: tuple[int, int], mask_format: str = "polygon"
) -> Instances:
    """Build the model's ``Instances`` (gt_boxes, gt_classes, gt_masks, gt_keypoints) from annotations."""
    if annos:
        boxes = np.stack([BoxMode.convert(obj["bbox"], obj["bbox_mode"], BoxMode.XYXY_ABS) for obj in annos])
    else:
        boxes = np.zeros((0, 4))
    target = Instances(image_size)
    target.gt_boxes = Boxes(torch.as_tensor(np.asarray(boxes, dtype=np.float32)))
    target.gt_classes = torch.tensor([int(obj["category_id"]) for obj in annos], dtype=torch.int64)

    if annos and "segmentation" in annos[0]:
        segms = [obj["segmentation"] for obj in annos]
        masks: PolygonMasks | BitMasks
        if mask_format == "polygon":
            try:
                masks = PolygonMasks(segms)
            except (ValueError, AssertionError, TypeError) as exc:
                raise ValueError(
                    "Failed to use mask_format=='polygon' from the given annotations "
                    "(RLE or bitmask segmentations need INPUT.MASK_FORMAT='bitmask')"
                ) from exc
        elif mask_format == "bitmask":
            bitmasks = []
            for segm in segms:
                if isinstance(segm, list):
                    bitmasks.append(polygons_to_bitmask(segm, *image_size))
                elif isinstance(segm, dict):
                    bitmasks.append(mask_util.decode(segm))
                elif isinstance(segm, np.ndarray):
                    if segm.ndim != 2:
                        raise ValueError(f"Expect segmentation of 2 dimensions, got {segm.ndim}.")
                    bitmasks.append(segm)
                else:
                    raise ValueError(
                        f"Cannot convert segmentation of type '{type(segm).__name__}' to BitMasks! Supported "
                        "types are: polygons as list[list[float]] or ndarray, COCO-style RLE as a dict, "
                        "or a binary segmentation mask in a 2D numpy array of shape HxW."
                    )
            masks = BitMasks(torch.stack([torch.from_numpy(np.ascontiguousarray(m)).to(torch.bool) for m in bitmasks]))
        else:
            raise ValueError(f"INPUT.MASK_FORMAT must be 'polygon' or 'bitmask', got {mask_format!r}")
        target.gt_masks = masks

    if annos and "keypoints" in annos[0]:
        keypoints = np.stack([np.asarray(obj["keypoints"], dtype=np.float32).reshape(-1, 3) for obj in annos])
        target.gt_keypoints = Keypoints(torch.as_tensor(keypoints))
    return target


def annotations_to_instances_rotated(annos: list[dict[str, Any]], image_size: tuple[int, int]) -> Instances:
    """``Instances`` with ``gt_boxes`` (``RotatedBoxes`` from each annotation's 5-value XYWHA ``bbox``)
    and ``gt_classes``, for rotated-box models."""
    boxes = [obj["bbox"] for obj in annos]
    bad = [b for b in boxes if len(b) != 5]
    if bad:
        raise ValueError(f"Rotated boxes have 5 values (cx, cy, w, h, angle), got {bad[0]!r}")
    target = Instances(image_size)
    target.gt_boxes = RotatedBoxes(torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 5)))
    target.gt_classes = torch.tensor([int(obj["category_id"]) for obj in annos], dtype=torch.int64)
    return target


def filter_empty_instances(
    instances: Instances,
    by_box: bool = True,
    by_mask: bool = True,
    box_threshold: float = 1e-5,
    return_mask: bool = False,
):
    """Drop instances whose box or mask is empty (after cropping, say)."""
    if not (by_box or by_mask):
        raise ValueError("filter_empty_instances: enable by_box or by_mask")
    keep = []
    if by_box:
        keep.append(instances.gt_boxes.nonempty(threshold=box_threshold))
    if instances.has("gt_masks") and by_mask:
        keep.append(instances.gt_masks.nonempty())
    if not keep:
        return instances
    m = keep[0]
    for x in keep[1:]:
        m = m & x
    if return_mask:
        return instances[m], m
    return instances[m]


def create_keypoint_hflip_indices(dataset_names: str | Sequence[str]) -> np.ndarray:
    """Index array mapping each keypoint to its mirror image under a horizontal flip."""
    if isinstance(dataset_names, str):
        dataset_names = [dataset_names]
    check_metadata_consistency("keypoint_names", dataset_names)
    check_metadata_consistency("keypoint_flip_map", dataset_names)
    meta = MetadataCatalog.get(dataset_names[0])
    names = list(meta.keypoint_names)
    flip_map = dict(meta.keypoint_flip_map)
    flip_map.update({v: k for k, v in flip_map.items()})
    flipped_names = [flip_map.get(name, name) for name in names]
    return np.asarray([names.index(name) for name in flipped_names], dtype=np.int32)


def check_metadata_consistency(key: str, dataset_names: Sequence[str]) -> None:
    """Raise unless every dataset that has metadata ``key`` has the same value for it."""
    if not dataset_names:
        return
    entries = [MetadataCatalog.get(name).get(key) for name in dataset_names]
    for name, entry in zip(dataset_names, entries):
        if entry != entries[0]:
            raise ValueError(
                f"Metadata '{key}' for dataset '{name}' is {entry}, but for dataset '{dataset_names[0]}' "
                f"it is {entries[0]}; datasets used together must agree"
            )


def get_fed_loss_cls_weights(dataset_names: str | Sequence[str], freq_weight_power: float = 1.0) -> torch.Tensor:
    """Per-class weights for the federated loss: image counts (``class_image_count`` metadata,
    as LVIS provides) to the power ``freq_weight_power``, ordered by category id."""
    if isinstance(dataset_names, str):
        dataset_names = [dataset_names]
    if not dataset_names:
        raise ValueError("federated loss weights need at least one training dataset (DATASETS.TRAIN is empty)")
    check_metadata_consistency("class_image_count", dataset_names)
    counts = MetadataCatalog.get(dataset_names[0]).get("class_image_count")
    if counts is None:
        raise KeyError(
            f"dataset '{dataset_names[0]}' has no 'class_image_count' metadata (a list of "
            "{'id': category_id, 'image_count': n}), which the federated loss needs"
        )
    frequencies = torch.tensor([c["image_count"] for c in sorted(counts, key=lambda c: c["id"])])
    return frequencies.float() ** freq_weight_power


def build_augmentation(cfg: Any, is_train: bool) -> list[T.Augmentation]:
    """detectron2's default augmentations from ``cfg.INPUT``: ResizeShortestEdge, plus RandomFlip in training."""
    if is_train:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN
        sample_style = cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
    else:
        min_size, max_size, sample_style = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice"
    augmentation: list[T.Augmentation] = [T.ResizeShortestEdge(min_size, max_size, sample_style)]
    if is_train and cfg.INPUT.RANDOM_FLIP != "none":
        augmentation.append(
            T.RandomFlip(
                horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                vertical=cfg.INPUT.RANDOM_FLIP == "vertical",
            )
        )
    return augmentation


build_transform_gen = build_augmentation  # detectron2's old name


def gen_crop_transform_with_instance(
    crop_size: Sequence[int], image_size: Sequence[int], instance: dict[str, Any]
) -> T.CropTransform:
    """A random ``crop_size`` (h, w) ``CropTransform`` inside ``image_size`` (h, w) whose region
    contains the centre of ``instance``'s box.

    Raises ``AssertionError`` (detectron2's contract) when the box centre lies outside the image
    or the crop is larger than the image.
    """
    crop_h, crop_w = (int(v) for v in crop_size)
    bbox = BoxMode.convert(instance["bbox"], instance["bbox_mode"], BoxMode.XYXY_ABS)
    center_y, center_x = (bbox[1] + bbox[3]) * 0.5, (bbox[0] + bbox[2]) * 0.5
    if not (image_size[0] >= center_y and image_size[1] >= center_x):
        raise AssertionError(f"The annotation bounding box {list(bbox)} is outside of the image of size {image_size}!")
    if not (image_size[0] >= crop_h and image_size[1] >= crop_w):
        raise AssertionError(f"Crop size {(crop_h, crop_w)} is larger than image size {tuple(image_size)}!")
    # the crop's top-left corner: low enough to include the centre, and keeping the crop inside the image
    low_y, low_x = max(int(np.floor(center_y)) - crop_h, 0), max(int(np.floor(center_x)) - crop_w, 0)
    high_y = min(max(int(image_size[0]) - crop_h, 0), int(np.ceil(center_y)))
    high_x = min(max(int(image_size[1]) - crop_w, 0), int(np.ceil(center_x)))
    y0 = np.random.randint(low_y, high_y + 1)
    x0 = np.random.randint(low_x, high_x + 1)
    return T.CropTransform(int(x0), int(y0), crop_w, crop_h)
