"""PanopticFPN: the panoptic merge on hand-made cases, outputs, training and bad input."""

from __future__ import annotations

import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.modeling.meta_arch.panoptic_fpn import PanopticFPN, combine_semantic_and_instance_outputs
from modet.structures import BitMasks, Boxes, Instances
from modet_test_support.parity import FIXTURES, fill_weights, load_case

CONFIG = FIXTURES / "panoptic_fpn_R_50" / "config.yaml"
STUFF_CLASSES = 6
THING_CLASSES = 3
IGNORE = 255


def _instances(masks: list[list[tuple[int, int]]], scores: list[float], classes: list[int]) -> Instances:
    result = Instances((4, 6))
    pred_masks = torch.zeros(len(masks), 4, 6, dtype=torch.bool)
    for index, pixels in enumerate(masks):
        for y, x in pixels:
            pred_masks[index, y, x] = True
    result.pred_masks = pred_masks
    result.scores = torch.tensor(scores)
    result.pred_classes = torch.tensor(classes, dtype=torch.long)
    return result


SEMANTIC = torch.tensor(
    [
        [1, 1, 1, 2, 2, 2],
        [1, 1, 1, 2, 2, 2],
        [0, 0, 3, 3, 3, 3],
        [0, 0, 3, 3, 3, 3],
    ]
)


def test_combine_places_instances_by_score_then_stuff():
    instances = _instances(
        [
            [(0, 0), (0, 1), (1, 0), (1, 1)],  # 0: score 0.9
            [(0, 1), (0, 2), (1, 1), (1, 2)],  # 1: half covered by #0 (not > 0.5): keeps its free half
            [(0, 0), (0, 1), (0, 2)],  # 2: fully covered by #0 and #1: dropped
            [],  # 3: empty mask: skipped
            [(3, 5)],  # 4: score 0.4 < 0.5: stops the instance pass
            [(2, 0)],  # 5: the best score, placed first
        ],
        scores=[0.9, 0.8, 0.7, 0.6, 0.4, 0.95],
        classes=[5, 7, 2, 1, 3, 0],
    )
    seg, info = combine_semantic_and_instance_outputs(
        instances, SEMANTIC, overlap_threshold=0.5, stuff_area_thresh=7, instances_score_thresh=0.5
    )
    assert seg.dtype == torch.int32
    expected = [
        [2, 2, 3, 0, 0, 0],  # stuff label 2 has 6 free pixels < 7: void
        [2, 2, 3, 0, 0, 0],
        [1, 0, 4, 4, 4, 4],  # label 0 is the merged "things" class: never a stuff segment
        [0, 0, 4, 4, 4, 4],
    ]
    assert seg.tolist() == expected
    assert [{k: v for k, v in s.items() if k != "score"} for s in info] == [
        {"id": 1, "isthing": True, "category_id": 0, "instance_id": 5},
        {"id": 2, "isthing": True, "category_id": 5, "instance_id": 0},
        {"id": 3, "isthing": True, "category_id": 7, "instance_id": 1},
        {"id": 4, "isthing": False, "category_id": 3, "area": 8},
    ]
    assert [list(s) for s in info] == [
        ["id", "isthing", "score", "category_id", "instance_id"],
        ["id", "isthing", "score", "category_id", "instance_id"],
        ["id", "isthing", "score", "category_id", "instance_id"],
        ["id", "isthing", "category_id", "area"],
    ]
    assert [s["score"] for s in info[:3]] == pytest.approx([0.95, 0.9, 0.8])


def test_combine_overlap_threshold_and_no_instances():
    instances = _instances(
        [[(0, 0), (0, 1), (1, 0), (1, 1)], [(0, 1), (0, 2), (1, 1), (1, 2)]], scores=[0.9, 0.8], classes=[0, 1]
    )
    seg, info = combine_semantic_and_instance_outputs(instances, SEMANTIC, 0.4, 1, 0.5)
    assert [s["id"] for s in info if s["isthing"]] == [1]  # 2/4 covered > 0.4: the second is dropped
    assert [(s["category_id"], s["area"]) for s in info if not s["isthing"]] == [(1, 2), (2, 6), (3, 8)]

    seg, info = combine_semantic_and_instance_outputs(_instances([], [], []), SEMANTIC, 0.5, 1, 0.5)
    assert info == [
        {"id": 1, "isthing": False, "category_id": 1, "area": 6},
        {"id": 2, "isthing": False, "category_id": 2, "area": 6},
        {"id": 3, "isthing": False, "category_id": 3, "area": 8},
    ]
    assert seg.tolist() == (SEMANTIC * (SEMANTIC > 0)).tolist()


# ----------------------------------------------------------------------------- the model


def tiny_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = THING_CLASSES
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = STUFF_CLASSES
    cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = 200
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 64
    return cfg


@pytest.fixture(scope="module")
def model() -> PanopticFPN:
    torch.manual_seed(0)
    return build_model(tiny_cfg())


def synthetic_batch(with_instances: bool = True) -> list[dict]:
    generator = torch.Generator().manual_seed(3)
    batch = []
    for boxes, classes in (([[8, 8, 40, 40], [50, 20, 90, 60]], [1, 2]), ([[10, 30, 60, 62]], [0])):
        if not with_instances:
            boxes, classes = [], []
        image = torch.randint(0, 256, (3, 64, 96), generator=generator, dtype=torch.uint8)
        masks = torch.zeros(len(boxes), 64, 96, dtype=torch.bool)
        sem_seg = torch.ones(64, 96, dtype=torch.long)
        sem_seg[40:, :] = 4
        for index, (x0, y0, x1, y1) in enumerate(boxes):
            masks[index, y0:y1, x0:x1] = True
            sem_seg[y0:y1, x0:x1] = 0  # things are label 0 in the semantic target
        sem_seg[:4] = IGNORE
        instances = Instances((64, 96))
        instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        instances.gt_classes = torch.tensor(classes, dtype=torch.long)
        instances.gt_masks = BitMasks(masks)
        batch.append({"image": image, "instances": instances, "sem_seg": sem_seg})
    return batch


def test_eval_outputs_instances_sem_seg_and_panoptic(model):
    model.eval()
    image = torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)
    with torch.no_grad():
        (output,) = model([{"image": image, "height": 128, "width": 192}])
    assert set(output) == {"instances", "sem_seg", "panoptic_seg"}
    assert output["sem_seg"].shape == (STUFF_CLASSES, 128, 192)
    assert output["instances"].image_size == (128, 192)
    seg, info = output["panoptic_seg"]
    assert seg.shape == (128, 192) and seg.dtype == torch.int32
    assert sorted(torch.unique(seg).tolist()) == sorted({0} | {s["id"] for s in info})
    with torch.no_grad():
        detector_results, sem_seg_results = model.inference([{"image": image}], do_postprocess=False)
    assert sem_seg_results.shape == (1, STUFF_CLASSES, 64, 96) and len(detector_results) == 1


def test_training_losses_fall_on_a_repeated_batch():
    torch.manual_seed(0)
    net = build_model(tiny_cfg()).train()
    # The parity fill keeps the deep, BN-free (FrozenBN) tiny ResNet-50 numerically tame;
    # from detectron2's random init it diverges within a few steps without pretrained weights.
    fill_weights(net, load_case("panoptic_fpn_R_50").norm_stats)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9)
    batch = synthetic_batch()
    totals = []
    with EventStorage():
        for _ in range(6):
            losses = net(batch)
            assert set(losses) == {
                "loss_sem_seg",
                "loss_rpn_cls",
                "loss_rpn_loc",
                "loss_cls",
                "loss_box_reg",
                "loss_mask",
            }
            assert all(torch.isfinite(v) for v in losses.values()), losses
            total = sum(losses.values())
            totals.append(float(total.detach()))
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
    assert totals[-1] < 0.6 * totals[0], totals


def test_image_without_instances_trains(model):
    model.train()
    with EventStorage():
        losses = model(synthetic_batch(with_instances=False))
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()


def test_instance_loss_weight_scales_roi_losses():
    losses = {}
    for weight in (1.0, 0.5):
        cfg = tiny_cfg()
        cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT = weight
        net = build_model(cfg).train()
        fill_weights(net, load_case("panoptic_fpn_R_50").norm_stats)
        torch.manual_seed(0)  # the same ROI sampling for both
        with EventStorage(), torch.no_grad():
            losses[weight] = net(synthetic_batch())
    # detectron2 scales the ROI heads' configured loss weights: box regression and mask
    # (the box predictor has no explicit weight for loss_cls, so it stays as it is).
    for name in ("loss_box_reg", "loss_mask"):
        torch.testing.assert_close(losses[0.5][name], 0.5 * losses[1.0][name])
    for name in ("loss_cls", "loss_sem_seg", "loss_rpn_cls", "loss_rpn_loc"):
        torch.testing.assert_close(losses[0.5][name], losses[1.0][name])


def test_bad_training_input_is_a_clear_error(model):
    model.train()
    batch = synthetic_batch()
    del batch[1]["sem_seg"]
    with EventStorage(), pytest.raises(KeyError, match=r"batched_inputs\[1\] has no 'sem_seg' key"):
        model(batch)
    batch = synthetic_batch()
    batch[0]["sem_seg"] = batch[0]["sem_seg"][:, :90]
    with EventStorage(), pytest.raises(ValueError, match=r"batched_inputs\[0\]\['sem_seg'\] has shape \(64, 90\)"):
        model(batch)
    batch = synthetic_batch()
    batch[0]["sem_seg"] = batch[0]["sem_seg"].float()
    with EventStorage(), pytest.raises(TypeError, match="integer dtype"):
        model(batch)
    batch = synthetic_batch()
    batch[1]["sem_seg"][10, 10] = STUFF_CLASSES
    with (
        EventStorage(),
        pytest.raises(ValueError, match=rf"label\(s\) \[{STUFF_CLASSES}\] outside \[0, {STUFF_CLASSES}\)"),
    ):
        model(batch)
    batch = synthetic_batch()
    del batch[0]["instances"]
    with EventStorage(), pytest.raises(KeyError, match=r"batched_inputs\[0\] has no .instances. key"):
        model(batch)


def test_missing_proposal_generator_is_refused_when_built():
    kwargs = PanopticFPN.from_config(tiny_cfg())
    kwargs["proposal_generator"] = None
    with pytest.raises(ValueError, match="PanopticFPN needs a proposal generator"):
        PanopticFPN(**kwargs)
