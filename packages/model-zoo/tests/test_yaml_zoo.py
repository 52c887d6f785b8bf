"""Every YAML model of detectron2's zoo, and of the zoo's modet-written configs, builds with
detectron2's exact state_dict keys and shapes."""

import itertools
import math

import pytest
import torch
from state_dicts import assert_same_state_dict, table

from modet import model_zoo
from modet.engine import SimpleTrainer
from modet.modeling import build_model
from modet.modeling.proposal_generator.rrpn import RRPN
from modet.modeling.roi_heads import RROIHeads
from modet.structures import Instances, RotatedBoxes

YAML_MODELS = sorted(table("zoo_state_dicts"))
# modet's own configs (the rotated Faster R-CNN), as detectron2's build_model builds them
MODET_YAML_MODELS = sorted(table("modet_config_state_dicts"))


def test_the_table_covers_the_zoo():
    shipped = {name for name in model_zoo.available_configs() if name.endswith(".yaml")}
    models = {n for n in shipped if not n.startswith("quick_schedules/") and not n.split("/")[-1].startswith("Base-")}
    assert set(MODET_YAML_MODELS) <= models
    assert set(YAML_MODELS) == models - set(MODET_YAML_MODELS)  # every model config of detectron2's zoo
    assert len(YAML_MODELS) == 59


@pytest.mark.parametrize("name", YAML_MODELS + MODET_YAML_MODELS)
def test_yaml_config_builds_detectron2s_state_dict(name):
    cfg = model_zoo.get_config(name)
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):  # full widths, no memory and no init time
        model = build_model(cfg)
    expected = table("modet_config_state_dicts" if name in MODET_YAML_MODELS else "zoo_state_dicts")[name]
    assert_same_state_dict(model, expected)


@pytest.mark.parametrize("name", sorted(n for n in model_zoo.available_configs() if n.startswith("quick_schedules/")))
def test_quick_schedules_read(name):
    cfg = model_zoo.get_config(name)
    assert cfg.MODEL.META_ARCHITECTURE in {
        "GeneralizedRCNN",
        "RetinaNet",
        "ProposalNetwork",
        "SemanticSegmentor",
        "PanopticFPN",
    }
    assert cfg.SOLVER.MAX_ITER > 0


ROTATED = "Rotated-Detection/rotated_faster_rcnn_R_50_FPN_1x.yaml"
TINY_ROTATED = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
    "MODEL.ROI_HEADS.NUM_CLASSES", 3,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 64,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 200,
    "MODEL.RPN.PRE_NMS_TOPK_TEST", 200,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 100,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 100,
    "TEST.DETECTIONS_PER_IMAGE", 10,
    "MODEL.PIXEL_STD", [57.375, 57.12, 58.395],
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.BACKBONE.FREEZE_AT", 0,
]  # fmt: skip


def rotated_batch(image_size=(64, 96)):
    """One synthetic image with two rotated boxes (30 and -45 degrees) of classes 0 and 1."""
    image = torch.randint(0, 40, (3, *image_size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    gt = Instances(image_size)
    gt.gt_boxes = RotatedBoxes(torch.tensor([[30.0, 30.0, 40.0, 16.0, 30.0], [70.0, 40.0, 30.0, 20.0, -45.0]]))
    gt.gt_classes = torch.tensor([0, 1])
    return [{"image": image, "instances": gt}]


def test_rotated_config_trains_and_infers():
    """The zoo's rotated Faster R-CNN, at small widths, trains through SimpleTrainer on synthetic
    rotated boxes and detects RotatedBoxes."""
    cfg = model_zoo.get_config(ROTATED)
    cfg.merge_from_list(TINY_ROTATED)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert type(model.proposal_generator) is RRPN and type(model.roi_heads) is RROIHeads
    batch = rotated_batch()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    trainer = SimpleTrainer(model, itertools.repeat(batch), optimizer)
    trainer.train(0, 4)
    for loss in ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"):
        values = [value for value, _ in trainer.storage.history(loss).values()]
        assert len(values) == 4 and all(math.isfinite(v) for v in values), (loss, values)
    totals = [value for value, _ in trainer.storage.history("total_loss").values()]
    assert totals[-1] < totals[0], totals
    changed = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert {"proposal_generator.rpn_head.anchor_deltas.weight", "roi_heads.box_predictor.bbox_pred.weight"} <= changed

    model.eval()
    model.roi_heads.box_predictor.test_score_thresh = 0.0
    with torch.no_grad():
        (output,) = model([{"image": batch[0]["image"], "height": 128, "width": 192}])
    instances = output["instances"]
    assert instances.image_size == (128, 192) and 0 < len(instances) <= 10
    assert isinstance(instances.pred_boxes, RotatedBoxes) and instances.pred_boxes.tensor.shape[1] == 5
    assert (instances.pred_classes < 3).all() and (instances.scores[:-1] >= instances.scores[1:]).all()
