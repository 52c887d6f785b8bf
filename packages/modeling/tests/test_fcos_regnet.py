"""FCOS and the RegNet backbones: detectron2's full-width state_dict tables, hand-computed cases,
and training and inference of tiny models (parity with detectron2: test_parity_new_families.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import zoo_models
from torch import nn

from modet.core.events import EventStorage
from modet.modeling.anchor_generator import DefaultAnchorGenerator
from modet.modeling.backbone.regnet import (
    AnyNet,
    RegNet,
    ResBasicBlock,
    ResStem,
    VanillaBlock,
    adjust_block_compatibility,
    generate_regnet_parameters,
)
from modet.modeling.meta_arch.fcos import FCOS, FCOSHead
from modet.ops import FrozenBatchNorm2d
from modet.structures import Boxes, Instances, PolygonMasks
from modet_test_support.parity import fill_weights

ZOO_TABLE = Path(__file__).parent / "fixtures" / "zoo_lazy_state_dicts_fcos_regnet.json"
LIB = zoo_models.modet_lib()


def _zoo_model(name: str) -> nn.Module:
    if name == "COCO-Detection/fcos_R_50_FPN_1x.py":
        return zoo_models.fcos_r50_fpn(LIB)
    params = zoo_models.REGNETX_4GF if "regnetx" in name else zoo_models.REGNETY_4GF
    return zoo_models.mask_rcnn_fpn(LIB, zoo_models.regnet_fpn(LIB, params))


@pytest.mark.parametrize("name", sorted(json.loads(ZOO_TABLE.read_text())["configs"]))
def test_full_width_state_dicts_are_detectron2s(name):
    expected = json.loads(ZOO_TABLE.read_text())["configs"][name]
    with torch.device("meta"):
        model = _zoo_model(name)
    assert type(model).__name__ == expected["model_class"]
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(expected["state_dict"]) - set(ours)) == [], "missing keys"
    assert sorted(set(ours) - set(expected["state_dict"])) == [], "unexpected keys"
    assert {k: v for k, v in ours.items() if expected["state_dict"][k] != v} == {}, "shapes differ"


# ----------------------------------------------------------------------------- RegNet


def test_regnet_parameters_by_hand():
    # Block widths 8 + 8j (j < 6) quantised to 8 * 2**round(log2(w / 8)): 8, 16, 32, 32, 32, 64.
    ws, ds, num_stages, total_stages, ws_all, ws_cont = generate_regnet_parameters(8.0, 8, 2.0, 6)
    assert ws_cont == [8.0, 16.0, 24.0, 32.0, 40.0, 48.0]
    assert ws_all == [8, 16, 32, 32, 32, 64]
    assert (ws, ds, num_stages, total_stages) == ([8, 16, 32, 64], [1, 1, 3, 1], 4, 4.0)
    # The bottleneck width becomes a multiple of the group width (21 -> 24 for groups of 8, 20 -> 16 as
    # round() takes 2.5 to 2), and a group is at most as wide as the block (128 -> 64).
    assert adjust_block_compatibility([21, 64], [1.0, 1.0], [8, 128]) == ([24, 64], [1.0, 1.0], [8, 64])
    assert adjust_block_compatibility([20], [1.0], [8]) == ([16], [1.0], [8])
    with pytest.raises(ValueError, match="w_0 a multiple of 8"):
        generate_regnet_parameters(8.0, 12, 2.0, 6)


@pytest.mark.parametrize(
    ("params", "widths", "depths"),
    [
        (zoo_models.REGNETX_4GF, [80, 240, 560, 1360], [2, 5, 14, 2]),
        (zoo_models.REGNETY_4GF, [128, 192, 512, 1088], [2, 6, 12, 2]),
    ],
)
def test_regnet_4gf_stages(params, widths, depths):
    """pycls's published RegNetX-4.0GF and RegNetY-4.0GF stage widths and depths."""
    with torch.device("meta"):
        model = zoo_models.regnet(LIB, params)
    shapes = model.output_shape()
    assert [shapes[f"s{i}"].channels for i in range(1, 5)] == widths
    assert [shapes[f"s{i}"].stride for i in range(1, 5)] == [4, 8, 16, 32]
    assert [len(list(getattr(model, f"s{i}").children())) for i in range(1, 5)] == depths


def test_regnet_outputs_freeze_and_errors():
    model = zoo_models.regnet(LIB, zoo_models.REGNETY_TINY, out_features=["stem", "s2", "s4"])
    outputs = model(torch.randn(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "stem": (1, 16, 32, 48),
        "s2": (1, 16, 8, 12),
        "s4": (1, 64, 2, 3),
    }
    # freeze_at=2: the stem and s1 take no gradient; FrozenBN everywhere (norm="FrozenBN").
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.s1.parameters())
    assert all(p.requires_grad for p in model.s2.parameters())
    assert isinstance(model.s3.b1.f.b_bn, FrozenBatchNorm2d) and model.s3.b1.f.se is not None
    with pytest.raises(ValueError, match="out_features names 's5'"):
        zoo_models.regnet(LIB, zoo_models.REGNETX_TINY, out_features=["s5"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        model(torch.randn(3, 64, 64))


def test_anynet_with_other_stems_and_blocks():
    for block_class, expected_keys in [
        (ResBasicBlock, {"s1.b1.f.a.weight", "s1.b1.f.b_bn.weight", "s2.b1.proj.weight", "s2.b1.bn.weight"}),
        (VanillaBlock, {"s1.b1.a.weight", "s1.b1.b_bn.running_var", "s2.b2.b.weight"}),
    ]:
        model = AnyNet(
            stem_class=ResStem,
            stem_width=8,
            block_class=block_class,
            depths=[1, 2],
            widths=[8, 16],
            group_widths=[8, 8],
            strides=[1, 2],
            bottleneck_ratios=[1.0, 1.0],
            se_ratio=0.0,
            activation_class=nn.ReLU,
            out_features=["stem", "s1", "s2"],
        )
        assert expected_keys <= set(model.state_dict())
        assert "s1.b1.proj.weight" not in model.state_dict()  # same width and stride 1: identity shortcut
        assert {k: v.stride for k, v in model.output_shape().items()} == {"stem": 4, "s1": 4, "s2": 8}
        assert model(torch.randn(2, 3, 32, 32))["s2"].shape == (2, 16, 4, 4)
    with pytest.raises(ValueError, match="one value per stage"):
        AnyNet(
            stem_class=ResStem, stem_width=8, block_class=VanillaBlock, depths=[1], widths=[8, 16], group_widths=[8],
            strides=[1], bottleneck_ratios=[1.0], se_ratio=0.0, activation_class=nn.ReLU,
        )  # fmt: skip
    assert issubclass(RegNet, AnyNet)


def _synthetic_batch(with_masks: bool) -> list[dict]:
    """Two dark 96x128 images with bright boxes (two images: FCOS's tiny GroupNorm needs more than one
    value per group on its 1x1 P7)."""
    generator = torch.Generator().manual_seed(0)
    batch = []
    for boxes in ([[10.0, 12.0, 50.0, 60.0], [60.0, 30.0, 120.0, 90.0]], [[30.0, 40.0, 100.0, 80.0]]):
        image = torch.randint(0, 40, (3, 96, 128), generator=generator, dtype=torch.uint8)
        boxes = torch.tensor(boxes)
        for x0, y0, x1, y1 in boxes.long().tolist():
            image[:, y0:y1, x0:x1] = 220
        inst = Instances((96, 128), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 2])[: len(boxes)])
        if with_masks:
            inst.gt_masks = PolygonMasks([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes.tolist()])
        batch.append({"image": image, "instances": inst})
    return batch


def _train(model: nn.Module, batch: list[dict], steps: int, lr: float) -> list[float]:
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    totals = []
    with EventStorage() as storage:
        for _ in range(steps):
            losses = model(batch)
            assert all(torch.isfinite(v) for v in losses.values()), losses
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            storage.step()
            # Dense detectors divide by an EMA of the positive count that starts far off: undo it.
            totals.append(total.item() * getattr(model, "loss_normalizer", 1.0))
    return totals


def test_regnet_mask_rcnn_trains_and_infers():
    torch.manual_seed(0)
    backbone = zoo_models.regnet_fpn(LIB, zoo_models.REGNETY_TINY, zoo_models.TINY)
    model = zoo_models.mask_rcnn_fpn(LIB, backbone, zoo_models.TINY, num_classes=3)
    fill_weights(model)  # the parity rule keeps a FrozenBN network's activations in range
    model.proposal_generator.post_nms_topk = {True: 200, False: 100}
    model.roi_heads.batch_size_per_image = 64
    batch = _synthetic_batch(with_masks=True)
    totals = _train(model, batch, steps=5, lr=0.005)
    assert totals[-1] < totals[0], totals

    model.eval()
    model.roi_heads.box_predictor.test_score_thresh = 0.0
    with torch.no_grad():
        (output,) = model([{"image": batch[0]["image"]}])
    instances = output["instances"]
    assert 0 < len(instances) <= 100 and instances.pred_masks.shape[1:] == (96, 128)


# ----------------------------------------------------------------------------- FCOS


@pytest.fixture(scope="module")
def tiny_fcos() -> FCOS:
    torch.manual_seed(0)
    return zoo_models.fcos_r50_fpn(LIB, zoo_models.TINY, num_classes=3)


def test_fcos_label_anchors_by_hand(tiny_fcos):
    # Two levels: stride 8 on a 16x16 grid (point centres 4, 12, ...) taking boxes whose farthest side
    # is under 64 px, and stride 16 on 8x8 (centres 8, 24, ...) taking the rest.
    generator = DefaultAnchorGenerator(sizes=[[8], [16]], aspect_ratios=[1.0], strides=[8, 16])
    anchors = generator([torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 8, 8)])
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [2.0, 2.0, 30.0, 30.0], [0.0, 0.0, 128.0, 128.0]])
    inst = Instances((128, 128), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 1, 2]))
    (labels,), (matched,) = tiny_fcos.label_anchors(anchors, [inst])

    def level0(x, y):  # index of the stride-8 point at centre (x, y)
        return (y - 4) // 8 * 16 + (x - 4) // 8

    def level1(x, y):
        return 256 + (y - 8) // 16 * 8 + (x - 8) // 16

    # Box 0 (centre 10): points strictly inside and within 1.5 * 8 = 12 of the centre. Box 1 (centre
    # 16): x, y in {12, 20}; (12, 12) takes the smaller box 0. Box 2 (centre 64) reaches past 64 px:
    # level 1 only, the four points within 24 of its centre.
    expected = {level0(x, y): 0 for x in (4, 12) for y in (4, 12)}
    expected.update({level0(x, y): 1 for x in (12, 20) for y in (12, 20) if (x, y) != (12, 12)})
    expected.update({level1(x, y): 2 for x in (56, 72) for y in (56, 72)})
    positive = (labels != 3).nonzero().flatten().tolist()
    assert {i: int(labels[i]) for i in positive} == expected
    torch.testing.assert_close(matched[level0(20, 20)], boxes[1])
    # Centerness of the point (4, 4) in box 0: sqrt(min(4, 16) / max(4, 16) * min(4, 16) / max(4, 16)).
    centerness = tiny_fcos.compute_ctrness_targets(anchors, [matched])
    assert centerness[0, level0(4, 4)].item() == pytest.approx(0.25)

    empty = Instances((128, 128), gt_boxes=Boxes(torch.zeros(0, 4)), gt_classes=torch.zeros(0, dtype=torch.long))
    (labels,), _ = tiny_fcos.label_anchors(anchors, [empty])
    assert (labels == 3).all() and len(labels) == 256 + 64


class _FixedHead(nn.Module):
    """Predicts class-1 logit 2 and centerness logit 1 at the first point of p3, distances (1, 2, 3, 4)."""

    def forward(self, features):
        logits = [torch.full((f.shape[0], 3, *f.shape[2:]), -20.0) for f in features]
        deltas = [torch.zeros(f.shape[0], 4, *f.shape[2:]) for f in features]
        centerness = [torch.zeros(f.shape[0], 1, *f.shape[2:]) for f in features]
        logits[0][:, 1, 0, 0] = 2.0
        centerness[0][:, 0, 0, 0] = 1.0
        deltas[0][:, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
        return logits, deltas, centerness


def test_fcos_inference_scores_and_boxes_by_hand(tiny_fcos):
    model = FCOS(
        backbone=tiny_fcos.backbone,
        head=_FixedHead(),
        head_in_features=["p3", "p4", "p5", "p6", "p7"],
        num_classes=3,
        pixel_mean=zoo_models.IMAGENET_BGR_MEAN,
        pixel_std=zoo_models.MSRA_STD,
    ).eval()
    with torch.no_grad():
        (output,) = model([{"image": torch.zeros(3, 64, 64, dtype=torch.uint8)}])
    instances = output["instances"]
    sigmoid = 1 / (1 + math.exp(-2.0))
    # Score sqrt(p_class * p_centerness); the p3 point at (4, 4) is 8 px wide: box (4 - 8, 4 - 16, 4 + 24, 4 + 32).
    assert len(instances) == 1 and instances.pred_classes.tolist() == [1]
    assert instances.scores.item() == pytest.approx(math.sqrt(sigmoid / (1 + math.exp(-1.0))), rel=1e-6)
    torch.testing.assert_close(instances.pred_boxes.tensor, torch.tensor([[0.0, 0.0, 28.0, 36.0]]))  # clipped


def test_fcos_trains_and_infers():
    torch.manual_seed(0)
    model = zoo_models.fcos_r50_fpn(LIB, zoo_models.TINY, num_classes=3)
    fill_weights(model)
    batch = _synthetic_batch(with_masks=False)
    model.train()
    with EventStorage():
        assert set(model(batch)) == {"loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr"}
    totals = _train(model, batch, steps=5, lr=0.001)
    assert totals[-1] < totals[0], totals
    model.eval()
    with torch.no_grad():
        outputs = model([{"image": batch[0]["image"], "height": 48, "width": 64}, {"image": batch[1]["image"]}])
    assert [o["instances"].image_size for o in outputs] == [(48, 64), (96, 128)]
    assert all(len(o["instances"]) <= 100 for o in outputs)
    assert isinstance(model.head, FCOSHead) and model.head.ctrness.out_channels == 1


def test_fcos_images_without_ground_truth(tiny_fcos):
    empty = Instances((96, 128), gt_boxes=Boxes(torch.zeros(0, 4)), gt_classes=torch.zeros(0, dtype=torch.long))
    batch = [
        {"image": torch.zeros(3, 96, 128), "instances": empty},
        {"image": torch.zeros(3, 96, 127), "instances": empty},
    ]
    tiny_fcos.train()
    with EventStorage():
        losses = tiny_fcos(batch)
    # No positive point: no box or centerness loss; every point is a background sample.
    assert losses["loss_fcos_loc"].item() == 0.0 and losses["loss_fcos_ctr"].item() == 0.0
    assert torch.isfinite(losses["loss_fcos_cls"]) and losses["loss_fcos_cls"] > 0
    sum(losses.values()).backward()


def test_fcos_errors(tiny_fcos):
    with pytest.raises(ValueError, match="head_in_features \\['p9'\\]"):
        FCOS(
            backbone=tiny_fcos.backbone, head=tiny_fcos.head, head_in_features=["p9"], num_classes=3,
            pixel_mean=zoo_models.IMAGENET_BGR_MEAN, pixel_std=zoo_models.MSRA_STD,
        )  # fmt: skip
    with pytest.raises(ValueError, match="built for 5 feature levels, got 2"):
        tiny_fcos.head([torch.zeros(1, 32, 4, 4)] * 2)
