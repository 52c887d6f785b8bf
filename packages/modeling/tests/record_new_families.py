"""Record the parity fixtures of the rotated Faster R-CNN, FCOS and RegNet-FPN cases with detectron2.

Not part of the test suite and never run by CI: it needs detectron2 itself. It was run once as

    /path/to/detectron2-venv/bin/python packages/modeling/tests/record_new_families.py

(detectron2 at the commit in each case.json, torch 2.14.1, CPU, fp32). It builds each model with
detectron2's classes, fills the weights by the parity rule (``modet_test_support.parity.fill_weights``,
the FrozenBN statistics of the modet-test-support parity case named in ``norm_stats_from``), and
writes per case folder of ``fixtures/parity_new_families/``:

- ``case.json``: how the model was built, its state_dict keys and shapes;
- ``config.yaml``: detectron2's resolved config (the rotated case, built from a YAML);
- ``outputs.pt``: eval outputs on ``inputs.pt`` one image at a time (``single``) and batched
  (``batched``), and the training ``losses`` of one forward on ``train_batch`` (ground truth
  in ``tests/new_family_cases.py``) after ``torch.manual_seed(0)``; for the RegNet cases the FPN
  features of ``new_family_cases.feature_input()``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[2]
# detectron2's environment has neither this folder nor modet-test-support on its path.
sys.path[:0] = [str(TESTS), str(ROOT / "tests" / "support" / "src")]

import zoo_models  # noqa: E402
from new_family_cases import (  # noqa: E402
    FCOS_GT_CLASSES,
    FCOS_MAX_DETECTIONS,
    ROTATED_GT_CLASSES,
    ROTATED_OVERRIDES,
    ROTATED_YAML,
    axis_aligned_gt,
    feature_input,
    rotated_gt,
    training_batch,
)

from modet_test_support.parity import FIXTURES, fill_weights, load_inputs  # noqa: E402

OUT = TESTS / "fixtures" / "parity_new_families"


def plain_instances(instances) -> dict:
    return {
        "image_size": list(instances.image_size),
        "pred_boxes": instances.pred_boxes.tensor.detach().clone(),
        "scores": instances.scores.detach().clone(),
        "pred_classes": instances.pred_classes.detach().clone(),
    }


def eval_outputs(model) -> dict:
    inputs = load_inputs()
    model.eval()
    with torch.no_grad():
        single = [{"instances": plain_instances(model([dict(x)])[0]["instances"])} for x in inputs]
        batched = [{"instances": plain_instances(o["instances"])} for o in model([dict(x) for x in inputs])]
    return {"single": single, "batched": batched}


def train_losses(model, make_instances) -> dict:
    from detectron2.utils.events import EventStorage

    batch = training_batch(make_instances)
    model.train()
    torch.manual_seed(0)
    with EventStorage():
        losses = model(batch)
    return {k: float(v) for k, v in losses.items()}


def write_case(name: str, model, info: dict, outputs: dict, config_dump: str | None = None) -> None:
    folder = OUT / name
    folder.mkdir(exist_ok=True)
    import detectron2

    info = {
        "detectron2_commit": getattr(detectron2, "__commit__", None) or _commit(),
        **info,
        "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
    }
    (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    torch.save(outputs, folder / "outputs.pt")
    if config_dump is not None:
        (folder / "config.yaml").write_text(config_dump)


def _commit() -> str:
    import subprocess

    import detectron2

    root = Path(detectron2.__file__).resolve().parents[1]
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def detectron2_lib() -> SimpleNamespace:
    """detectron2's classes under the names ``zoo_models``' builders use."""
    return zoo_models.load_lib(
        {
            "detectron2.layers": ("ShapeSpec",),
            "detectron2.modeling.anchor_generator": ("DefaultAnchorGenerator",),
            "detectron2.modeling.backbone": ("FPN", "BasicStem", "BottleneckBlock", "ResNet"),
            "detectron2.modeling.backbone.fpn": ("LastLevelMaxPool", "LastLevelP6P7"),
            "detectron2.modeling.backbone.regnet": ("RegNet", "ResBottleneckBlock", "SimpleStem"),
            "detectron2.modeling.box_regression": ("Box2BoxTransform",),
            "detectron2.modeling.matcher": ("Matcher",),
            "detectron2.modeling.meta_arch": ("GeneralizedRCNN",),
            "detectron2.modeling.meta_arch.fcos": ("FCOS", "FCOSHead"),
            "detectron2.modeling.poolers": ("ROIPooler",),
            "detectron2.modeling.proposal_generator": ("RPN", "StandardRPNHead"),
            "detectron2.modeling.roi_heads": (
                "FastRCNNConvFCHead",
                "FastRCNNOutputLayers",
                "MaskRCNNConvUpsampleHead",
                "StandardROIHeads",
            ),
        }
    )


def record_rotated() -> None:
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.structures import Instances, RotatedBoxes

    cfg = get_cfg()
    cfg.merge_from_file(str(ROTATED_YAML))
    cfg.merge_from_list(ROTATED_OVERRIDES)
    model = build_model(cfg)
    fill_weights(model, torch.load(FIXTURES / "faster_rcnn_R_50_FPN" / "norm_stats.pt", weights_only=True))

    def make_instances(image_size):
        inst = Instances(image_size)
        inst.gt_boxes = RotatedBoxes(rotated_gt(image_size))
        inst.gt_classes = torch.tensor(ROTATED_GT_CLASSES)
        return inst

    outputs = eval_outputs(model)
    outputs["losses"] = train_losses(model, make_instances)
    info = {
        "config": "tests/fixtures/configs/rotated_faster_rcnn_R_50_FPN_1x.yaml",
        "overrides": ROTATED_OVERRIDES,
        "weights": "parity.fill_weights, FrozenBN running stats from norm_stats_from",
        "norm_stats_from": "faster_rcnn_R_50_FPN",
        "train_batch": "new_family_cases.training_batch with rotated_gt, classes ROTATED_GT_CLASSES",
    }
    write_case("rotated_faster_rcnn_R_50_FPN", model, info, outputs, cfg.dump())


def record_fcos(lib) -> None:
    from detectron2.structures import Boxes, Instances

    model = zoo_models.fcos_r50_fpn(lib, zoo_models.TINY)
    model.max_detections_per_image = FCOS_MAX_DETECTIONS
    fill_weights(model, torch.load(FIXTURES / "retinanet_R_50_FPN" / "norm_stats.pt", weights_only=True))

    def make_instances(image_size):
        inst = Instances(image_size)
        inst.gt_boxes = Boxes(axis_aligned_gt(image_size))
        inst.gt_classes = torch.tensor(FCOS_GT_CLASSES)
        return inst

    outputs = eval_outputs(model)
    outputs["losses"] = train_losses(model, make_instances)
    info = {
        "builder": "zoo_models.fcos_r50_fpn(lib, zoo_models.TINY); max_detections_per_image = 20",
        "weights": "parity.fill_weights, FrozenBN running stats from norm_stats_from",
        "norm_stats_from": "retinanet_R_50_FPN",
        "train_batch": "new_family_cases.training_batch with axis_aligned_gt, classes FCOS_GT_CLASSES",
    }
    write_case("fcos_R_50_FPN", model, info, outputs)


def record_regnet(lib, name: str, params: dict) -> None:
    model = zoo_models.regnet_fpn(lib, params, zoo_models.TINY)
    fill_weights(model)
    model.eval()
    with torch.no_grad():
        features = {k: v.clone() for k, v in model(feature_input()).items()}
    info = {
        "builder": f"zoo_models.regnet_fpn(lib, {params}, zoo_models.TINY)",
        "weights": "parity.fill_weights (every entry, FrozenBN statistics included, by the rule)",
        "input": "new_family_cases.feature_input()",
    }
    write_case(name, model, info, {"features": features})


def main() -> None:
    lib = detectron2_lib()
    record_rotated()
    record_fcos(lib)
    record_regnet(lib, "regnetx_fpn_tiny", zoo_models.REGNETX_TINY)
    record_regnet(lib, "regnety_fpn_tiny", zoo_models.REGNETY_TINY)


if __name__ == "__main__":
    main()
