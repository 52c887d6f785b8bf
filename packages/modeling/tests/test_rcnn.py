"""GeneralizedRCNN / ProposalNetwork behaviour: training, partial execution, input errors, build_model."""

import pytest
import torch

from modet import model_zoo
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.structures import BitMasks, Boxes, ImageList, Instances, Keypoints, PolygonMasks

TINY = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
    "MODEL.ROI_MASK_HEAD.CONV_DIM", 16,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 64,
    "MODEL.ROI_HEADS.NUM_CLASSES", 3,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 200,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 100,
    "TEST.DETECTIONS_PER_IMAGE", 10,
    # Random weights train stably only with normalised pixels and trainable batch norm.
    "MODEL.PIXEL_STD", [57.375, 57.12, 58.395],
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.BACKBONE.FREEZE_AT", 0,
]  # fmt: skip
NUM_KEYPOINTS = 4


def tiny_model(name="COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml", *extra):
    cfg = model_zoo.get_config(name)
    cfg.merge_from_list([*TINY, *extra])
    torch.manual_seed(0)
    return build_model(cfg)


def tiny_keypoint_model():
    return tiny_model(
        "COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml",
        "MODEL.ROI_HEADS.NUM_CLASSES", 1,
        "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", NUM_KEYPOINTS,
        "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", (16, 16),
    )  # fmt: skip


def synthetic_input(boxes, height=96, width=128, mask_format="polygon", keypoints=False, seed=0):
    """A dark image with bright rectangles, and their ground truth."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 40, (3, height, width), generator=g, dtype=torch.uint8)
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    for x0, y0, x1, y1 in boxes.long().tolist():
        image[:, max(y0, 0) : y1, max(x0, 0) : x1] = 220
    instances = Instances((height, width))
    instances.gt_boxes = Boxes(boxes)
    instances.gt_classes = torch.arange(len(boxes)) % 3 if not keypoints else torch.zeros(len(boxes), dtype=torch.long)
    if mask_format == "polygon":
        instances.gt_masks = PolygonMasks([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes.tolist()])
    else:
        ys, xs = torch.arange(height)[:, None], torch.arange(width)[None, :]
        masks = [(xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1) for x0, y0, x1, y1 in boxes.tolist()]
        instances.gt_masks = BitMasks(torch.stack(masks) if masks else torch.zeros(0, height, width, dtype=torch.bool))
    if keypoints:
        x0, y0, x1, y1 = boxes.unbind(1)
        points = torch.stack([torch.stack([x0 + 3, y0 + 3]), torch.stack([x1 - 3, y0 + 3]),
                              torch.stack([x0 + 3, y1 - 3]), torch.stack([x1 - 3, y1 - 3])]).permute(2, 0, 1)  # fmt: skip
        visible = torch.full((len(boxes), NUM_KEYPOINTS, 1), 2.0)
        instances.gt_keypoints = Keypoints(torch.cat([points, visible], dim=2))
        del instances._fields["gt_masks"]
    return {"image": image, "instances": instances}


def train_steps(model, batch, steps, lr=0.02):
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    history = []
    with EventStorage() as storage:
        for _ in range(steps):
            losses = model(batch)
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            storage.step()
            history.append({k: v.item() for k, v in losses.items()})
    return history, storage


@pytest.mark.parametrize("mask_format", ["polygon", "bitmask"])
def test_mask_rcnn_trains(mask_format):
    model = tiny_model()
    batch = [
        synthetic_input([[10, 10, 50, 60], [70, 20, 120, 80]], mask_format=mask_format, seed=1),
        synthetic_input([[30, 30, 90, 70]], mask_format=mask_format, seed=2),
    ]
    torch.manual_seed(0)
    history, storage = train_steps(model, batch, 8)
    expected = {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"}
    assert set(history[0]) == expected
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    first, last = sum(history[0].values()), sum(history[-1].values())
    assert last < first, (first, last)
    assert {"rpn/num_pos_anchors", "rpn/num_neg_anchors", "roi_head/num_fg_samples"} <= set(storage.histories())
    assert storage.history("rpn/num_pos_anchors").latest() > 0


def test_keypoint_rcnn_trains():
    model = tiny_keypoint_model()
    batch = [
        synthetic_input([[10, 10, 50, 60], [70, 20, 120, 80]], keypoints=True, seed=3),
        synthetic_input([[30, 30, 90, 70]], keypoints=True, seed=4),
    ]
    torch.manual_seed(0)
    history, _ = train_steps(model, batch, 8, lr=0.005)
    assert set(history[0]) == {"loss_cls", "loss_box_reg", "loss_keypoint", "loss_rpn_cls", "loss_rpn_loc"}
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)
    assert sum(history[-1].values()) < sum(history[0].values())


@pytest.mark.parametrize("mask_format", ["polygon", "bitmask"])
def test_zero_instance_images(mask_format):
    model = tiny_model()
    empty = synthetic_input([], mask_format=mask_format, seed=5)
    full = synthetic_input([[10, 10, 50, 60]], mask_format=mask_format, seed=6)
    for batch in ([empty, full], [empty, dict(empty)]):
        history, _ = train_steps(model, batch, 1)
        assert all(torch.isfinite(torch.tensor(v)) for v in history[0].values())
        assert history[0]["loss_rpn_loc"] >= 0


def test_boxes_outside_the_image_are_accepted():
    model = tiny_model()
    batch = [synthetic_input([[-20, -10, 40, 50], [100, 60, 150, 120]], seed=7)]
    history, _ = train_steps(model, batch, 1)
    assert all(torch.isfinite(torch.tensor(v)) for v in history[0].values())


def test_training_without_event_storage_raises():
    model = tiny_model().train()
    with pytest.raises(AssertionError, match="EventStorage"):
        model([synthetic_input([[10, 10, 50, 60]])])


def test_partial_execution_snippet():
    """The snippet of use-models.txt, run as written, gives the model's own intermediate results."""
    model = tiny_model().eval()
    inputs = [synthetic_input([[10, 10, 50, 60]], seed=8), synthetic_input([[30, 30, 90, 70]], height=80, seed=9)]
    with torch.no_grad():
        images = ImageList.from_tensors(
            [(x["image"] - model.pixel_mean) / model.pixel_std for x in inputs], model.backbone.size_divisibility
        )
        features = model.backbone(images.tensor)
        proposals, _ = model.proposal_generator(images, features)
        instances = model.roi_heads._forward_box(features, proposals)
        mask_features = [features[f] for f in model.roi_heads.in_features]
        mask_features = model.roi_heads.mask_pooler(mask_features, [x.pred_boxes for x in instances])
        reference = model.inference(inputs, do_postprocess=False)
    assert mask_features.shape == (sum(len(x) for x in instances), 32, 14, 14)
    for mine, theirs in zip(instances, reference):
        torch.testing.assert_close(mine.pred_boxes.tensor, theirs.pred_boxes.tensor)
        torch.testing.assert_close(mine.scores, theirs.scores)


def test_inference_outputs_and_detected_instances():
    model = tiny_model().eval()
    item = synthetic_input([[10, 10, 50, 60]], seed=10)
    with torch.no_grad():
        (default_size,) = model([{"image": item["image"]}])
        (rescaled,) = model([{"image": item["image"], "height": 192, "width": 256}])
        raw = model.inference([item], do_postprocess=False)
        given = model.inference([item], detected_instances=[_boxes_only(raw[0])], do_postprocess=False)
    # height/width absent -> the image's own size (the documented default).
    assert default_size["instances"].image_size == (96, 128)
    assert rescaled["instances"].image_size == (192, 256)
    assert default_size["instances"].pred_masks.shape[1:] == (96, 128)
    torch.testing.assert_close(
        rescaled["instances"].pred_boxes.tensor, default_size["instances"].pred_boxes.tensor * 2, atol=1e-3, rtol=0
    )
    torch.testing.assert_close(given[0].pred_masks, raw[0].pred_masks)


def _boxes_only(instances):
    result = Instances(instances.image_size)
    result.pred_boxes = instances.pred_boxes
    result.pred_classes = instances.pred_classes
    result.scores = instances.scores
    return result


def test_proposal_network_outputs_and_losses():
    model = tiny_model("COCO-Detection/rpn_R_50_FPN_1x.yaml").eval()
    item = synthetic_input([[10, 10, 50, 60]], seed=11)
    with torch.no_grad():
        (output,) = model([{"image": item["image"], "height": 48, "width": 64}])
    assert output["proposals"].image_size == (48, 64)
    assert output["proposals"].proposal_boxes.tensor[:, 2].max() <= 64
    history, _ = train_steps(model, [item], 2)
    assert set(history[0]) == {"loss_rpn_cls", "loss_rpn_loc"}


@pytest.mark.parametrize(
    ("make_input", "error", "message"),
    [
        (lambda x: {"height": 96}, KeyError, "no 'image' key"),
        (lambda x: {"image": x[:1]}, ValueError, "has 1 channels, the model expects 3"),
        (lambda x: {"image": x[None]}, ValueError, r"must be \(C, H, W\), got shape \(1, 3, 96, 128\)"),
        (lambda x: {"image": x.numpy()}, TypeError, "must be a torch.Tensor"),
        (lambda x: {"image": x, "height": -5}, ValueError, "'height'.*positive int"),
    ],
)
def test_bad_inputs_raise_clear_errors(make_input, error, message):
    model = tiny_model().eval()
    image = synthetic_input([[10, 10, 50, 60]])["image"]
    with pytest.raises(error, match=message):
        model([make_input(image)])


def test_bad_training_inputs():
    model = tiny_model().train()
    item = synthetic_input([[10, 10, 50, 60]])
    with EventStorage(), pytest.raises(KeyError, match="no 'instances' key: training needs ground truth"):
        model([{"image": item["image"]}])
    inverted = synthetic_input([[50, 10, 10, 60]])
    with (
        EventStorage(),
        pytest.raises(ValueError, match=r"gt_boxes\[0\] = \[50.0, 10.0, 10.0, 60.0\] .* empty \(x1 <= x0"),
    ):
        model([inverted])
    with pytest.raises(TypeError, match=r"list\[dict\]"):
        model(item)


def test_build_model_errors():
    cfg = model_zoo.get_config("COCO-Detection/rpn_R_50_FPN_1x.yaml")
    cfg.MODEL.META_ARCHITECTURE = "NoSuchArch"
    cfg.MODEL.DEVICE = "cpu"
    with pytest.raises(KeyError, match="(?s)NoSuchArch.*GeneralizedRCNN"):
        build_model(cfg)
    if not torch.cuda.is_available():
        cfg = model_zoo.get_config("COCO-Detection/rpn_R_50_FPN_1x.yaml")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            build_model(cfg)
