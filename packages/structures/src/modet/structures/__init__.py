"""detectron2's data structures: boxes, rotated boxes, instances, image lists, masks and keypoints."""

from importlib.metadata import version as _distribution_version

from .boxes import Boxes, BoxMode, pairwise_ioa, pairwise_iou, pairwise_point_box_distance
from .image_list import ImageList
from .instances import Instances
from .keypoints import Keypoints, heatmaps_to_keypoints
from .masks import BitMasks, PolygonMasks, ROIMasks, polygons_to_bitmask
from .rotated_boxes import RotatedBoxes
from .rotated_boxes import pairwise_iou as pairwise_iou_rotated

__version__ = _distribution_version("modet-structures")  # the one source of the version is pyproject.toml

__all__ = [
    "BitMasks",
    "BoxMode",
    "Boxes",
    "ImageList",
    "Instances",
    "Keypoints",
    "PolygonMasks",
    "ROIMasks",
    "RotatedBoxes",
    "heatmaps_to_keypoints",
    "pairwise_ioa",
    "pairwise_iou",
    "pairwise_iou_rotated",
    "pairwise_point_box_distance",
    "polygons_to_bitmask",
]
