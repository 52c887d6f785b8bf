"""Bad model input is refused at the meta-architecture boundary, naming the input index and key;
input detectron2 accepts (float64 images, numpy sizes) works. Built from get_cfg() alone."""

import warnings

import numpy as np
import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.modeling.meta_arch.input_checks import check_batched_inputs
from modet.structures import Boxes, Instances

NUM_CLASSES = 3
TINY = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.BACKBONE.FREEZE_AT", 0,
    "MODEL.PIXEL_STD", [57.375, 57.12, 58.395],
    "MODEL.ROI_HEADS.NUM_CLASSES", NUM_CLASSES,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 50,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 50,
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
    "TEST.DETECTIONS_PER_IMAGE", 10,
]  # fmt: skip
RETINANET = [
    "MODEL.META_ARCHITECTURE", "RetinaNet",
    "MODEL.BACKBONE.NAME", "build_retinanet_resnet_fpn_backbone",
    "MODEL.RESNETS.OUT_FEATURES", ["res3", "res4", "res5"],
    "MODEL.FPN.IN_FEATURES", ["res3", "res4", "res5"],
    "MODEL.FPN.OUT_CHANNELS", 16,
    "MODEL.RETINANET.NUM_CLASSES", NUM_CLASSES,
    "MODEL.RETINANET.NUM_CONVS", 1,
    "MODEL.RETINANET.SCORE_THRESH_TEST", 0.0,
]  # fmt: skip


def _model(kind):
    cfg = get_cfg()
    cfg.merge_from_list(TINY + (RETINANET if kind == "retinanet" else []))
    torch.manual_seed(0)
    return build_model(cfg)


@pytest.fixture(scope="module")
def rcnn():
    return _model("rcnn")


@pytest.fixture(scope="module")
def retinanet():
    return _model("retinanet")


def _item(boxes=((8.0, 8.0, 40.0, 30.0),), classes=(1,), seed=0):
    image = torch.randint(0, 256, (3, 48, 64), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    instances = Instances((48, 64))
    instances.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    instances.gt_classes = torch.tensor(classes, dtype=torch.long)
    return {"image": image, "instances": instances}


def _train(model, batch):
    model.train()
    with EventStorage():
        return model(batch)


# -- images ---------------------------------------------------------------------------------


def test_a_float64_image_gives_what_its_float32_copy_gives(rcnn):
    rcnn.eval()
    image = _item()["image"].double() * 0.999  # float64 values: the model computes on their float32 cast
    with torch.no_grad():
        as_double = rcnn([{"image": image}])[0]["instances"]
        as_float = rcnn([{"image": image.float()}])[0]["instances"]
    assert len(as_float) > 0
    assert torch.equal(as_double.pred_boxes.tensor, as_float.pred_boxes.tensor)
    assert torch.equal(as_double.scores, as_float.scores)
    assert as_double.scores.dtype == torch.float32


@pytest.mark.parametrize("training", [False, True])
def test_nan_pixels_are_refused_naming_the_input(rcnn, training):
    batch = [_item(), _item(seed=1)]
    batch[1]["image"] = batch[1]["image"].float()
    batch[1]["image"][0, 5, 7] = float("nan")
    batch[1]["image"][2, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"batched_inputs\[1\]\['image'\] has 2 NaN or infinite pixel value\(s\)"):
        if training:
            _train(rcnn, batch)
        else:
            rcnn.eval()
            rcnn(batch)


@pytest.mark.parametrize("size_type", [np.int64, np.int32, np.uint16, int])
def test_numpy_integer_output_sizes_are_accepted(rcnn, size_type):
    rcnn.eval()
    item = _item()
    with torch.no_grad():
        plain = rcnn([{"image": item["image"], "height": 96, "width": 128}])[0]["instances"]
        typed = rcnn([{"image": item["image"], "height": size_type(96), "width": size_type(128)}])[0]["instances"]
    assert typed.image_size == (96, 128)
    assert torch.equal(typed.pred_boxes.tensor, plain.pred_boxes.tensor)


@pytest.mark.parametrize("value", [96.0, np.float32(96), True, 0, -5, "96"])
def test_other_output_sizes_are_refused(rcnn, value):
    rcnn.eval()
    with pytest.raises(ValueError, match=r"batched_inputs\[0\]\['height'\] must be a positive int"):
        rcnn([{"image": _item()["image"], "height": value, "width": 64}])


# -- ground truth ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rcnn", "retinanet"])
@pytest.mark.parametrize("bad_class", [NUM_CLASSES, 7, -1])
def test_class_ids_outside_the_model_are_refused(request, kind, bad_class):
    model = request.getfixturevalue(kind)
    batch = [_item(), _item(boxes=((4.0, 4.0, 20.0, 20.0), (30.0, 10.0, 60.0, 40.0)), classes=(0, bad_class))]
    with pytest.raises(ValueError) as info:
        _train(model, batch)
    assert str(info.value).startswith(
        f"batched_inputs[1]['instances'].gt_classes[1] = {bad_class} is outside [0, {NUM_CLASSES}):"
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.uint8])
def test_class_ids_of_another_dtype_are_refused(rcnn, dtype):
    item = _item()
    item["instances"].gt_classes = item["instances"].gt_classes.to(dtype)
    with pytest.raises(
        TypeError, match=rf"batched_inputs\[0\]\['instances'\].gt_classes must be a 1-d int64 .*{dtype}"
    ):
        _train(rcnn, [item])


@pytest.mark.parametrize(
    ("box", "fault"),
    [
        ((10.0, 10.0, 10.0, 30.0), r"empty \(x1 <= x0 or y1 <= y0\)"),  # zero width: loss_rpn_loc would be inf
        ((10.0, 30.0, 40.0, 30.0), r"empty \(x1 <= x0 or y1 <= y0\)"),
        ((10.0, 10.0, float("nan"), 30.0), "not finite"),
        ((10.0, float("-inf"), 20.0, 30.0), "not finite"),
    ],
)
@pytest.mark.parametrize("kind", ["rcnn", "retinanet"])
def test_empty_or_non_finite_boxes_are_refused(request, kind, box, fault):
    model = request.getfixturevalue(kind)
    item = _item(boxes=((4.0, 4.0, 20.0, 20.0), box, (30.0, 10.0, 60.0, 40.0)), classes=(0, 1, 2))
    with pytest.raises(ValueError, match=rf"batched_inputs\[0\]\['instances'\].gt_boxes\[1\] = .* is {fault}"):
        _train(model, [item])


def test_valid_ground_truth_trains_to_finite_losses(rcnn, retinanet):
    batch = [_item(), _item(boxes=((4.0, 4.0, 20.0, 20.0), (30.0, 10.0, 60.0, 40.0)), classes=(0, 2), seed=1)]
    for model in (rcnn, retinanet):
        losses = _train(model, batch)
        assert losses and all(torch.isfinite(v) for v in losses.values())


# -- tracing ----------------------------------------------------------------------------------


class _Checked(torch.nn.Module):
    def forward(self, image):
        check_batched_inputs([{"image": image, "height": image.shape[1]}], 3, training=False)
        return image * 2


def test_the_checks_do_not_break_tracing_or_export():
    image = torch.rand(3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(_Checked(), (image,))
    assert torch.equal(traced(image), image * 2)
    exported = torch.export.export(_Checked(), (image,), strict=False)
    assert torch.equal(exported.module()(image), image * 2)
    # Outside tracing the same module checks values.
    with pytest.raises(ValueError, match="NaN or infinite"):
        _Checked()(torch.full((3, 8, 8), float("nan")))
