"""Re-record the parity fixtures with detectron2, or add a case: the fixtures' one source.

Not part of the test suite, never run by CI, and not shipped in modet-test-support: it needs
detectron2 itself (a CPU build of the commit in each ``case.json``, torch 2.14.1). Run it with
detectron2's Python, from the repository root:

    DETECTRON2_PYTHON tests/support/record_parity_fixtures.py --check mask_rcnn_R_50_FPN
        # rebuild the case with detectron2 and compare with the stored outputs (writes nothing)
    DETECTRON2_PYTHON tests/support/record_parity_fixtures.py mask_rcnn_R_50_FPN
        # re-record that case's config.yaml, case.json and outputs.pt in place
    DETECTRON2_PYTHON tests/support/record_parity_fixtures.py \\
        new_case=COCO-Detection/faster_rcnn_R_101_FPN_3x.yaml    # add a case from a zoo config

A case is the zoo config with the tiny overrides of ``shared/parity/README.md`` (real depth,
strides, anchors, poolers, losses and post-processing), weights by the parity rule
(``parity.fill_weights``; a recorded case keeps its ``norm_stats.pt``, a new one gets the
rule's own FrozenBN statistics, saved as its ``norm_stats.pt``), run in eval mode on
``fixtures/inputs.pt`` one image at a time (``single``) and all at once (``batched``). Outputs
are stored as plain tensors in the layout that README describes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

SUPPORT = Path(__file__).resolve().parent
# detectron2's environment does not have modet-test-support installed.
sys.path.insert(0, str(SUPPORT / "src"))

from modet_test_support.parity import (  # noqa: E402
    FIXTURES,
    assert_outputs_match,
    fill_value,
    fill_weights,
    load_inputs,
)

TINY_OVERRIDES = [
    ("MODEL.RESNETS.STEM_OUT_CHANNELS", 16),
    ("MODEL.RESNETS.RES2_OUT_CHANNELS", 32),
    ("MODEL.RESNETS.WIDTH_PER_GROUP", 8),
    ("MODEL.FPN.OUT_CHANNELS", 32),
    ("MODEL.ROI_BOX_HEAD.FC_DIM", 64),
    ("MODEL.ROI_BOX_HEAD.CONV_DIM", 32),
    ("MODEL.ROI_MASK_HEAD.CONV_DIM", 32),
    ("MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", (32,) * 8),
    ("MODEL.SEM_SEG_HEAD.CONVS_DIM", 32),
    ("TEST.DETECTIONS_PER_IMAGE", 20),
    ("MODEL.WEIGHTS", ""),
    ("MODEL.DEVICE", "cpu"),
]
SEM_SEG_SAMPLES = 2048
HEATMAPS_KEPT = 2  # pred_keypoint_heatmaps of the first instances only: they are large
FEATURES_CASE = "mask_rcnn_R_50_FPN"  # the case whose backbone outputs are kept too


def detectron2_commit() -> str:
    import detectron2

    source = Path(detectron2.__file__).resolve().parents[1]
    result = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def build(zoo_config: str) -> tuple[Any, Any]:
    from detectron2 import model_zoo
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(zoo_config))
    cfg.merge_from_list([str(item) for pair in TINY_OVERRIDES for item in pair])
    return cfg, build_model(cfg).eval()


def frozen_bn_stats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The rule's own FrozenBN running statistics, for a new case's norm_stats.pt."""
    keys = [k for k in model.state_dict() if k.endswith(("running_mean", "running_var"))]
    return {k: fill_value(k, tuple(model.state_dict()[k].shape)) for k in keys}


def plain_instances(instances: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"image_size": list(instances.image_size)}
    fields = instances.get_fields()
    item["pred_boxes"] = fields["pred_boxes"].tensor.clone()
    item["scores"] = fields["scores"].clone()
    item["pred_classes"] = fields["pred_classes"].clone()
    if "pred_masks" in fields:
        masks = fields["pred_masks"].numpy().astype(bool)
        item["pred_masks_packed"] = torch.from_numpy(np.packbits(masks, axis=-1))
        item["pred_masks_shape"] = list(masks.shape)
    if "pred_keypoints" in fields:
        item["pred_keypoints"] = fields["pred_keypoints"].clone()
    if "pred_keypoint_heatmaps" in fields:
        item["pred_keypoint_heatmaps"] = fields["pred_keypoint_heatmaps"][:HEATMAPS_KEPT].clone()
    return item


def plain_sem_seg(logits: torch.Tensor, sample_yx: torch.Tensor | None, index: int) -> dict[str, Any]:
    _, height, width = logits.shape
    if sample_yx is None:  # a new case: pixels drawn once, from a generator seeded by the image's index
        generator = torch.Generator().manual_seed(index)
        ys = torch.randint(height, (SEM_SEG_SAMPLES,), generator=generator)
        xs = torch.randint(width, (SEM_SEG_SAMPLES,), generator=generator)
        sample_yx = torch.stack([ys, xs], dim=1)
    return {
        "shape": list(logits.shape),
        "argmax": logits.argmax(dim=0),
        "sample_yx": sample_yx,
        "sample_logits": logits[:, sample_yx[:, 0], sample_yx[:, 1]].T.clone(),
    }


def plain_output(output: dict[str, Any], previous: dict[str, Any] | None, index: int) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    if "instances" in output:
        plain["instances"] = plain_instances(output["instances"])
    if "proposals" in output:
        proposals = output["proposals"]
        plain["proposals"] = {
            "image_size": list(proposals.image_size),
            "proposal_boxes": proposals.proposal_boxes.tensor.clone(),
            "objectness_logits": proposals.objectness_logits.clone(),
        }
    if "sem_seg" in output:
        sample_yx = previous["sem_seg"]["sample_yx"] if previous else None
        plain["sem_seg"] = plain_sem_seg(output["sem_seg"], sample_yx, index)
    if "panoptic_seg" in output:
        seg, segments_info = output["panoptic_seg"]
        plain["panoptic_seg"] = {"seg": seg.clone(), "segments_info": segments_info}
    return plain


def record(name: str, zoo_config: str | None, check: bool) -> None:
    folder = FIXTURES / name
    stored = folder.is_dir()
    info = json.loads((folder / "case.json").read_text()) if stored else {}
    zoo_config = zoo_config or info["config"]
    cfg, model = build(zoo_config)
    norm_stats = torch.load(folder / "norm_stats.pt", weights_only=True) if stored else frozen_bn_stats(model)
    fill_weights(model, norm_stats)
    previous = torch.load(folder / "outputs.pt", weights_only=True) if stored else None

    inputs = load_inputs()
    with torch.no_grad():
        runs = {"single": [model([dict(x)])[0] for x in inputs], "batched": model([dict(x) for x in inputs])}
        features = None
        if name == FEATURES_CASE:
            images = model.preprocess_image([dict(x) for x in inputs])
            features = {k: v.clone() for k, v in model.backbone(images.tensor).items()}
    outputs = {
        mode: [plain_output(o, previous[mode][i] if previous else None, i) for i, o in enumerate(results)]
        for mode, results in runs.items()
    }
    if check:
        if previous is None:
            raise SystemExit(f"{name}: no stored outputs to check against in {folder}")
        for mode in ("single", "batched"):
            assert_outputs_match(runs[mode], previous[mode], f"{name}.{mode}")
        print(f"{name}: detectron2 reproduces the stored outputs")
        return

    folder.mkdir(parents=True, exist_ok=True)
    info = {
        "detectron2_commit": detectron2_commit(),
        "config": zoo_config,
        "tiny": True,
        "images": "small",
        "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
        "weights": "filler.fill_value(key, shape, seed=0), then FrozenBN running stats from norm_stats.pt",
        "num_detections": [len(o["instances"]) for o in runs["single"] if "instances" in o],
    }
    (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    (folder / "config.yaml").write_text(cfg.dump())
    torch.save(norm_stats, folder / "norm_stats.pt")
    torch.save(outputs, folder / "outputs.pt")
    if features is not None:
        torch.save(features, folder / "features.pt")
    print(f"{name}: recorded in {folder}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "cases", nargs="+", metavar="NAME[=ZOO_CONFIG]", help="a fixture folder's name; =CONFIG adds a case"
    )
    parser.add_argument("--check", action="store_true", help="compare with the stored outputs instead of writing")
    args = parser.parse_args(argv)
    for case in args.cases:
        name, _, zoo_config = case.partition("=")
        record(name, zoo_config or None, args.check)


if __name__ == "__main__":
    main()
