"""SemanticSegmentor and SemSegFPNHead: layout, loss with ignore pixels, training, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.modeling.meta_arch.semantic_seg import (
    SEM_SEG_HEADS_REGISTRY,
    SemanticSegmentor,
    SemSegFPNHead,
    build_sem_seg_head,
)
from modet.ops import ShapeSpec
from modet_test_support.parity import FIXTURES

FIXTURE = FIXTURES / "semantic_R_50_FPN"
NUM_CLASSES = 5
IGNORE = 255
FPN_SHAPES = {f"p{i}": ShapeSpec(channels=32, stride=2**i) for i in (2, 3, 4, 5)}


def tiny_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(FIXTURE / "config.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = NUM_CLASSES
    return cfg


@pytest.fixture(scope="module")
def model() -> SemanticSegmentor:
    torch.manual_seed(0)
    return build_model(tiny_cfg())


def synthetic_batch() -> list[dict]:
    generator = torch.Generator().manual_seed(2)
    batch = []
    for height, width in ((64, 96), (60, 80)):
        image = torch.randint(0, 256, (3, height, width), generator=generator, dtype=torch.uint8)
        sem_seg = torch.zeros(height, width, dtype=torch.long)
        sem_seg[:, width // 2 :] = 1
        sem_seg[height // 2 :, : width // 3] = 3
        sem_seg[:8, :8] = IGNORE
        batch.append({"image": image, "sem_seg": sem_seg})
    return batch


def test_head_layout_matches_detectron2_keys():
    head = SemSegFPNHead(FPN_SHAPES, num_classes=54, conv_dims=32, common_stride=4, norm="GN", ignore_value=IGNORE)
    expected = {k.removeprefix("sem_seg_head."): tuple(v) for k, v in _fixture_keys().items()}
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == expected
    # stride 2**i needs i - 2 (at least one) conv + 2x upsample stages to reach stride 4
    assert [len(head.scale_heads[i]) for i in range(4)] == [1, 2, 4, 6]
    assert head.in_features == ["p2", "p3", "p4", "p5"]


def _fixture_keys() -> dict[str, list[int]]:
    state = json.loads((FIXTURE / "case.json").read_text())["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("sem_seg_head.")}


def test_registry_view_and_builder():
    assert SEM_SEG_HEADS_REGISTRY.get("SemSegFPNHead") is SemSegFPNHead
    cfg = tiny_cfg()
    head = build_sem_seg_head(cfg, {**FPN_SHAPES, "p6": ShapeSpec(channels=32, stride=64)})
    assert isinstance(head, SemSegFPNHead) and head.in_features == ["p2", "p3", "p4", "p5"]
    assert head.ignore_value == IGNORE and head.predictor.out_channels == NUM_CLASSES


def test_loss_ignores_ignore_pixels_and_scales_by_weight():
    torch.manual_seed(0)
    head = SemSegFPNHead(FPN_SHAPES, num_classes=4, conv_dims=8, common_stride=4, norm="", ignore_value=IGNORE)
    features = {f"p{i}": torch.randn(1, 32, 64 // 2**i, 96 // 2**i) for i in (2, 3, 4, 5)}
    targets = torch.randint(0, 4, (1, 64, 96))
    targets[0, :10] = IGNORE
    head.train()
    loss = head(features, targets)[1]["loss_sem_seg"]
    head.eval()
    logits = head(features)[0]  # eval upsamples to the input resolution with the same interpolation
    assert logits.shape == (1, 4, 64, 96)
    valid = targets[0] != IGNORE
    expected = F.cross_entropy(logits[0][:, valid].T, targets[0][valid])
    torch.testing.assert_close(loss, expected)
    head.train()
    head.loss_weight = 0.5
    torch.testing.assert_close(head(features, targets)[1]["loss_sem_seg"], 0.5 * expected)


def test_eval_outputs_logits_at_requested_size(model):
    model.eval()
    image = torch.randint(0, 256, (3, 60, 80), dtype=torch.uint8)
    with torch.no_grad():
        outputs = model([{"image": image}, {"image": image, "height": 120, "width": 100}])
    assert outputs[0]["sem_seg"].shape == (NUM_CLASSES, 60, 80)
    assert outputs[1]["sem_seg"].shape == (NUM_CLASSES, 120, 100)


def test_training_loss_falls_on_a_repeated_batch():
    torch.manual_seed(0)
    net = build_model(tiny_cfg()).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    batch = synthetic_batch()
    values = []
    with EventStorage():
        for _ in range(6):
            losses = net(batch)
            assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
            values.append(float(losses["loss_sem_seg"].detach()))
            optimizer.zero_grad()
            losses["loss_sem_seg"].backward()
            optimizer.step()
    assert values[-1] < 0.8 * values[0], values


def _with(batch: list[dict], index: int, **changes) -> list[dict]:
    batch = [dict(x) for x in batch]
    batch[index].update(changes)
    return batch


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"sem_seg": torch.zeros(60, 81, dtype=torch.long)},
            ValueError,
            r"batched_inputs\[1\]\['sem_seg'\] has shape \(60, 81\)",
        ),
        ({"sem_seg": torch.zeros(60, 80)}, TypeError, "integer dtype"),
        ({"sem_seg": torch.zeros(1, 60, 80, dtype=torch.long)}, ValueError, "must be"),
        ({"sem_seg": torch.full((60, 80), NUM_CLASSES)}, ValueError, rf"label\(s\) \[{NUM_CLASSES}\] outside"),
        ({"sem_seg": torch.full((60, 80), -1)}, ValueError, r"label\(s\) \[-1\] outside"),
    ],
)
def test_bad_sem_seg_is_a_clear_error(model, change, error, message):
    model.train()
    with EventStorage(), pytest.raises(error, match=message):
        model(_with(synthetic_batch(), 1, **change))


def test_missing_sem_seg_in_training_is_a_clear_error(model):
    model.train()
    batch = synthetic_batch()
    del batch[0]["sem_seg"]
    with EventStorage(), pytest.raises(KeyError, match=r"batched_inputs\[0\] has no 'sem_seg' key"):
        model(batch)
    with EventStorage(), pytest.raises(KeyError, match="no 'sem_seg' key"):
        model([{"image": x["image"]} for x in batch])


def test_ignore_value_and_narrow_integer_labels_are_accepted(model):
    model.train()
    batch = synthetic_batch()
    batch[0]["sem_seg"] = torch.full((64, 96), IGNORE, dtype=torch.uint8)
    batch[0]["sem_seg"][10:20, 10:20] = 2
    with EventStorage():
        losses = model(batch)
    assert torch.isfinite(losses["loss_sem_seg"])
