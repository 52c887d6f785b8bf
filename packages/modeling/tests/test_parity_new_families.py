"""Parity with detectron2 for rotated Faster R-CNN, FCOS and RegNet-FPN (fixtures/parity_new_families).

The fixtures were recorded by ``record_new_families.py`` running detectron2 on
the same tiny models (``zoo_models.py``, ``new_family_cases.py``) with weights filled by the
parity rule. Detections are compared by shared/parity/README.md's rule (rotated boxes by rotated
IoU, angles within the box tolerance), training losses within 1e-4 (relative), features within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import zoo_models
from new_family_cases import (
    FCOS_GT_CLASSES,
    FCOS_MAX_DETECTIONS,
    ROTATED_GT_CLASSES,
    ROTATED_OVERRIDES,
    axis_aligned_gt,
    feature_input,
    rotated_gt,
    training_batch,
)

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.structures import Boxes, Instances, RotatedBoxes
from modet_test_support.parity import (
    FIXTURES,
    ParityCase,
    assert_outputs_match,
    assert_state_dict_matches,
    fill_weights,
    load_inputs,
    run_single_and_batched,
)

CASES = Path(__file__).parent / "fixtures" / "parity_new_families"
LOSS_RTOL = 1e-4
FEATURE_ATOL = 1e-4


def load_new_case(name: str) -> ParityCase:
    """A case of record_new_families.py: FrozenBN statistics come from the modet-test-support case
    ``norm_stats_from`` names (the same backbone keys)."""
    folder = CASES / name
    info = json.loads((folder / "case.json").read_text())
    source = info.get("norm_stats_from")
    norm_stats = torch.load(FIXTURES / source / "norm_stats.pt", weights_only=True) if source else {}
    outputs = torch.load(folder / "outputs.pt", weights_only=True)
    return ParityCase(name, folder, info, norm_stats, outputs)


def check_detections_and_losses(model: torch.nn.Module, case: ParityCase, make_instances) -> None:
    assert_state_dict_matches(model, case)
    fill_weights(model, case.norm_stats)
    model.eval()
    outputs = run_single_and_batched(model, load_inputs())
    for mode in ("single", "batched"):
        assert_outputs_match(outputs[mode], case.outputs[mode], f"{case.name}.{mode}")

    model.train()
    torch.manual_seed(0)  # as the recorder: the same proposal and anchor sampling
    with EventStorage():
        losses = model(training_batch(make_instances))
    expected = case.outputs["losses"]
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=LOSS_RTOL), f"{case.name}: {name}"


def test_rotated_faster_rcnn_parity():
    from modet.modeling import build_model

    case = load_new_case("rotated_faster_rcnn_R_50_FPN")
    cfg = get_cfg()
    cfg.merge_from_file(str(case.folder / "config.yaml"))
    assert case.info["overrides"] == ROTATED_OVERRIDES
    model = build_model(cfg)

    def make_instances(image_size):
        return Instances(
            image_size, gt_boxes=RotatedBoxes(rotated_gt(image_size)), gt_classes=torch.tensor(ROTATED_GT_CLASSES)
        )

    check_detections_and_losses(model, case, make_instances)


def test_fcos_parity():
    case = load_new_case("fcos_R_50_FPN")
    model = zoo_models.fcos_r50_fpn(zoo_models.modet_lib(), zoo_models.TINY)
    model.max_detections_per_image = FCOS_MAX_DETECTIONS

    def make_instances(image_size):
        return Instances(
            image_size, gt_boxes=Boxes(axis_aligned_gt(image_size)), gt_classes=torch.tensor(FCOS_GT_CLASSES)
        )

    check_detections_and_losses(model, case, make_instances)


@pytest.mark.parametrize(
    ("name", "params"), [("regnetx_fpn_tiny", zoo_models.REGNETX_TINY), ("regnety_fpn_tiny", zoo_models.REGNETY_TINY)]
)
def test_regnet_fpn_parity(name, params):
    case = load_new_case(name)
    model = zoo_models.regnet_fpn(zoo_models.modet_lib(), params, zoo_models.TINY)
    assert_state_dict_matches(model, case)
    fill_weights(model)
    with torch.no_grad():
        features = model.eval()(feature_input())
    expected = case.outputs["features"]
    assert set(features) == set(expected) == {"p2", "p3", "p4", "p5", "p6"}
    for key, value in expected.items():
        torch.testing.assert_close(features[key], value, atol=FEATURE_ATOL, rtol=1e-4, msg=f"{name}.{key}")
