"""Detectron2 checkpoints load into modet's models and give detectron2's outputs.

- model_final.pth (``{"model": state_dict}``) and model_final.pkl (model-zoo numpy pickle) of
  the tiny Mask R-CNN R50-FPN parity case reproduce that case's outputs;
- a Caffe2 Detectron ImageNet ``.pkl`` fills the backbone exactly as detectron2 fills it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modet.checkpoint import DetectionCheckpointer
from modet.core.config import get_cfg
from modet.modeling import build_model
from modet_test_support import parity

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_FIXTURES = ROOT / "packages" / "checkpoint" / "tests" / "fixtures"

CASE = "mask_rcnn_R_50_FPN"


def _model_of(config_file: Path) -> torch.nn.Module:
    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    cfg.MODEL.DEVICE = "cpu"
    return build_model(cfg).eval()


@pytest.fixture(scope="module")
def case() -> parity.ParityCase:
    return parity.load_case(CASE)


@pytest.mark.parametrize("file_name", ["model_final.pth", "model_final.pkl"])
def test_detectron2_checkpoint_reproduces_the_parity_outputs(case: parity.ParityCase, file_name: str) -> None:
    model = _model_of(case.config_file)
    parity.assert_state_dict_matches(model, case)
    checkpointer = DetectionCheckpointer(model)
    checkpointer.load(str(CHECKPOINT_FIXTURES / CASE / file_name))

    report = checkpointer.incompatible_keys
    assert report.missing_keys == [] and report.unexpected_keys == [] and report.incorrect_shapes == []
    assert len(report.loaded_keys) == len(case.state_dict_shapes)
    reference = torch.load(CHECKPOINT_FIXTURES / CASE / "model_final.pth", weights_only=True)["model"]
    state = model.state_dict()
    for key, tensor in reference.items():
        assert torch.equal(state[key], tensor), key

    outputs = parity.run_single_and_batched(model, parity.load_inputs())
    for mode in ("single", "batched"):
        parity.assert_outputs_match(outputs[mode], case.outputs[mode], f"{file_name}.{mode}")


def test_caffe2_imagenet_pickle_fills_the_backbone_like_detectron2() -> None:
    folder = CHECKPOINT_FIXTURES / "c2_imagenet_R_50"
    expected = torch.load(folder / "expected.pt", weights_only=True)
    model = _model_of(folder / "config.yaml")
    checkpointer = DetectionCheckpointer(model)
    checkpointer.load(str(folder / "R-50-tiny.pkl"))

    state = model.state_dict()
    for key, tensor in expected["loaded"].items():
        assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), key
    for c2_name, d2_name in expected["c2_to_d2"].items():
        assert d2_name in checkpointer.incompatible_keys.loaded_keys, c2_name
    assert sorted(checkpointer.incompatible_keys.unexpected_keys) == ["fc1000.bias", "fc1000.weight"]
    # Only the backbone comes from an ImageNet file; FPN and heads stay as initialised.
    assert not [k for k in checkpointer.incompatible_keys.missing_keys if k.startswith("backbone.bottom_up.")]
    assert any(k.startswith("roi_heads.") for k in checkpointer.incompatible_keys.missing_keys)
