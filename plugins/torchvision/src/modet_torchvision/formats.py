"""A checkpoint format for torchvision's detection weights files.

torchvision saves plain state dicts in ``.pth`` files, like detectron2 users' own files; they
are told apart by name: the files torchvision downloads (``maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth``…)
and any ``*.tv.pth`` a user saves from ``model.state_dict()``.
"""

from __future__ import annotations

from typing import Any

import torch

from modet.checkpoint import CheckpointFormat

from .convert import convert_torchvision_detection, is_torchvision_detection_state_dict

TORCHVISION_FILES = (
    "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
    "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
    "keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
    "retinanet_resnet50_fpn_coco-eeacb38b.pth",
)


def load_torchvision_detection(path: str) -> dict[str, Any]:
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state_dict, dict) and "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    if not isinstance(state_dict, dict) or not is_torchvision_detection_state_dict(state_dict):
        raise ValueError(f"{path} is not the state dict of a torchvision detection model")
    return {
        "model": convert_torchvision_detection(state_dict),
        "__author__": "torchvision",
        "matching_heuristics": False,
    }


TORCHVISION_DETECTION_FORMAT = CheckpointFormat(
    name="torchvision-detection",
    suffixes=(".tv.pth", *TORCHVISION_FILES),
    load=load_torchvision_detection,
    description="state dicts of torchvision's Faster/Mask/Keypoint R-CNN and RetinaNet (ResNet-50 FPN)",
)
