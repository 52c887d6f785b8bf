"""What the rotated, FCOS and RegNet-FPN parity cases feed their models, shared by the recorder
(``record_new_families.py``, run with detectron2) and ``test_parity_new_families.py``."""

from __future__ import annotations

from pathlib import Path

import torch
import zoo_models

from modet_test_support.parity import load_inputs

ROTATED_YAML = Path(__file__).parent / "fixtures" / "configs" / "rotated_faster_rcnn_R_50_FPN_1x.yaml"
# The tiny overrides of shared/parity/README.md that apply to the rotated model, and fewer kept
# proposals than the YAML's 1000 per level so that the test runs in seconds.
ROTATED_OVERRIDES = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
    "TEST.DETECTIONS_PER_IMAGE", 20,
    "MODEL.WEIGHTS", "",
    "MODEL.DEVICE", "cpu",
    "MODEL.RPN.PRE_NMS_TOPK_TEST", 300,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 300,
]  # fmt: skip
ROTATED_GT_CLASSES = [3, 17, 3]
FCOS_MAX_DETECTIONS = 20
FCOS_GT_CLASSES = [0, 5, 41]


def rotated_gt(image_size: tuple[int, int]) -> torch.Tensor:
    """Rotated training ground truth (cx, cy, w, h, angle), scaled to the image."""
    h, w = image_size
    base = torch.tensor([[0.3, 0.4, 0.35, 0.15, 30.0], [0.7, 0.6, 0.2, 0.3, -60.0], [0.5, 0.5, 0.15, 0.15, 0.0]])
    return base * torch.tensor([w, h, w, h, 1.0])


def axis_aligned_gt(image_size: tuple[int, int]) -> torch.Tensor:
    """FCOS training ground truth, XYXY boxes scaled to the image."""
    h, w = image_size
    base = torch.tensor([[0.1, 0.2, 0.45, 0.6], [0.5, 0.3, 0.9, 0.95], [0.4, 0.05, 0.55, 0.25]])
    return base * torch.tensor([w, h, w, h])


def feature_input() -> torch.Tensor:
    """The RegNet-FPN input: the first parity image's top-left 64x64, normalised by ImageNet's mean/std."""
    image = load_inputs()[0]["image"][:, :64, :64].float()
    mean = torch.tensor(zoo_models.IMAGENET_BGR_MEAN).view(3, 1, 1)
    std = torch.tensor(zoo_models.IMAGENET_BGR_STD).view(3, 1, 1)
    return ((image - mean) / std)[None]


def training_batch(make_instances) -> list[dict]:
    """The parity inputs, each with ``make_instances(image_size)`` as its ``instances``."""
    batch = []
    for item in load_inputs():
        item = dict(item)
        item["instances"] = make_instances(tuple(item["image"].shape[1:]))
        batch.append(item)
    return batch
