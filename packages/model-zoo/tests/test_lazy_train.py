"""LazyConfig models (Mask R-CNN on ResNet and on RegNetX, FCOS), shrunk by overrides, train through
the engine on the synthetic shapes dataset, with the config's own loader, mapper, optimizer and LR
multiplier as a LazyConfig training script uses them, then infer."""

import math

import pytest
import torch

from modet import model_zoo
from modet.core.config import LazyCall as L
from modet.core.config import LazyConfig, instantiate
from modet.data import transforms as T
from modet.data.datasets import register_shapes
from modet.engine import SimpleTrainer, hooks
from modet.modeling.backbone import BottleneckBlock, ResNet
from modet.modeling.backbone.regnet import RegNet
from modet.modeling.meta_arch.fcos import FCOS
from modet.ops import ShapeSpec
from modet.structures import Boxes

RESNET_OVERRIDES = [
    "model.backbone.bottom_up.freeze_at=0",
    "model.backbone.bottom_up.stem.out_channels=8",
    "model.backbone.bottom_up.stem.norm=BN",
]
OVERRIDES = [
    "model.backbone.out_channels=16",
    "model.proposal_generator.head.in_channels=16",
    "model.proposal_generator.batch_size_per_image=32",
    "model.proposal_generator.pre_nms_topk=[200, 100]",
    "model.proposal_generator.post_nms_topk=[50, 50]",
    "model.roi_heads.num_classes=3",
    "model.roi_heads.batch_size_per_image=32",
    "model.roi_heads.box_head.fc_dims=[32, 32]",
    "model.roi_heads.mask_head.conv_dims=[8, 8]",
    "model.pixel_std=[57.375, 57.12, 58.395]",
    "dataloader.train.dataset.names=lazyzoo_shapes_train",
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "optimizer.lr=0.01",
    "train.max_iter=3",
    "train.device=cpu",
]


def tiny_stages():
    """Four one-block bottleneck stages, 8 to 64 channels (the config's own are ResNet-50's)."""
    widths = [(8, 4, 16), (16, 8, 32), (32, 8, 48), (48, 16, 64)]  # in, bottleneck, out
    return [
        L(ResNet.make_stage)(
            block_class=BottleneckBlock,
            num_blocks=1,
            stride_per_block=[1 if i == 0 else 2],
            in_channels=c_in,
            bottleneck_channels=c_mid,
            out_channels=c_out,
            norm="BN",
        )
        for i, (c_in, c_mid, c_out) in enumerate(widths)
    ]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return register_shapes(tmp_path_factory.mktemp("shapes"), prefix="lazyzoo_shapes", num_train=6, num_val=2)


SMALL_IMAGES = [
    L(T.ResizeShortestEdge)(short_edge_length=(64, 80), sample_style="choice", max_size=100),
    L(T.RandomFlip)(horizontal=True),
]


def shrink_mask_rcnn(cfg) -> None:
    """The Mask R-CNN FPN of common/models/mask_rcnn_fpn.py at 16 FPN channels, whatever its bottom-up."""
    LazyConfig.apply_overrides(cfg, OVERRIDES)
    cfg.model.roi_heads.box_head.input_shape = ShapeSpec(channels=16, height=7, width=7)
    cfg.model.roi_heads.box_predictor.input_shape = ShapeSpec(channels=32)
    cfg.model.roi_heads.mask_head.input_shape = ShapeSpec(channels=16, height=14, width=14)
    cfg.dataloader.train.mapper.augmentations = SMALL_IMAGES


def train_through_engine(cfg):
    """Builds the config's model, optimizer, loader and LR multiplier, trains ``train.max_iter``
    iterations with SimpleTrainer, and returns (model, trainer storage, names of changed parameters)."""
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(cfg.train.device)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    data_loader = instantiate(cfg.dataloader.train)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    trainer = SimpleTrainer(model, data_loader, optimizer)
    trainer.register_hooks([hooks.IterationTimer(), hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier))])
    trainer.train(0, cfg.train.max_iter)
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    return model, trainer.storage, changed


def assert_finite_history(storage, losses, iterations):
    for loss in losses:
        values = [value for value, _ in storage.history(loss).values()]
        assert len(values) == iterations and all(math.isfinite(v) for v in values), (loss, values)


def infer(model, size=(72, 90)):
    """The model's detections for one random image of ``size``, at a score threshold of 0."""
    model.eval()
    image = torch.randint(0, 256, (3, *size), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    with torch.no_grad():
        (output,) = model([{"image": image.float(), "height": size[0] * 2, "width": size[1] * 2}])
    instances = output["instances"]
    assert instances.image_size == (size[0] * 2, size[1] * 2)
    assert isinstance(instances.pred_boxes, Boxes) and (instances.pred_classes < 3).all()
    assert (instances.scores[:-1] >= instances.scores[1:]).all()
    return instances


def test_lazy_mask_rcnn_trains_a_few_iterations(shapes):
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py")
    shrink_mask_rcnn(cfg)
    LazyConfig.apply_overrides(cfg, RESNET_OVERRIDES)
    cfg.model.backbone.bottom_up.stages = tiny_stages()
    model, storage, changed = train_through_engine(cfg)

    # iteration 0 is in the warmup (0.001 of the LR); with max_iter 3, iteration 2 is past 60000/90000
    lrs = [value for value, _ in storage.history("lr").values()]
    assert lrs == pytest.approx([0.01 * 0.001, 0.01, 0.01 * 0.1])
    assert_finite_history(storage, ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"), 3)
    assert any(name.startswith("backbone.bottom_up.") for name in changed)
    assert any(name.startswith("roi_heads.mask_head.") for name in changed)

    model.roi_heads.box_predictor.test_score_thresh = 0.0
    instances = infer(model)
    assert 0 < len(instances) <= 100 and instances.pred_masks.shape[1:] == (144, 180)


def test_lazy_regnetx_mask_rcnn_trains_and_infers(shapes):
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_regnetx_4gf_dds_fpn_1x.py")
    shrink_mask_rcnn(cfg)
    # RegNetX-4GF's structure (four stages of grouped bottlenecks) at 8 to 64 channels, trainable BN
    LazyConfig.apply_overrides(
        cfg,
        [
            "model.backbone.bottom_up.stem_width=8",
            "model.backbone.bottom_up.depth=6",
            "model.backbone.bottom_up.w_a=8.0",
            "model.backbone.bottom_up.w_0=8",
            "model.backbone.bottom_up.w_m=2.0",
            "model.backbone.bottom_up.group_width=8",
            "model.backbone.bottom_up.norm=BN",
            "model.backbone.bottom_up.freeze_at=0",
        ],
    )
    model, storage, changed = train_through_engine(cfg)
    assert isinstance(model.backbone.bottom_up, RegNet)
    assert [model.backbone.bottom_up.output_shape()[f"s{i}"].channels for i in (1, 2, 3, 4)] == [8, 16, 32, 64]
    assert_finite_history(storage, ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"), 3)
    assert any(name.startswith("backbone.bottom_up.s1.") for name in changed)
    assert any(name.startswith("roi_heads.mask_head.") for name in changed)

    model.roi_heads.box_predictor.test_score_thresh = 0.0
    instances = infer(model)
    assert 0 < len(instances) <= 100 and instances.pred_masks.shape[1:] == (144, 180)


def test_lazy_fcos_trains_and_infers(shapes):
    cfg = model_zoo.get_config("COCO-Detection/fcos_R_50_FPN_1x.py")
    LazyConfig.apply_overrides(
        cfg,
        [
            *RESNET_OVERRIDES,
            "model.backbone.out_channels=32",  # GroupNorm in the head: 32 groups
            "model.backbone.top_block.in_channels=32",
            "model.head.conv_dims=[32, 32]",
            "model.num_classes=3",
            "model.pixel_std=[57.375, 57.12, 58.395]",
            "dataloader.train.dataset.names=lazyzoo_shapes_train",
            "dataloader.train.total_batch_size=2",
            "dataloader.train.num_workers=0",
            "train.max_iter=3",
            "train.device=cpu",
        ],
    )
    cfg.model.backbone.bottom_up.stages = tiny_stages()
    cfg.model.head.input_shape = [ShapeSpec(channels=32)] * 5
    cfg.dataloader.train.mapper.augmentations = SMALL_IMAGES
    model, storage, changed = train_through_engine(cfg)
    assert isinstance(model, FCOS) and model.backbone.top_block.in_feature == "p5"

    lrs = [value for value, _ in storage.history("lr").values()]
    assert lrs == pytest.approx([0.01 * 0.001, 0.01, 0.01 * 0.1])  # the config's lr, 0.01
    assert_finite_history(storage, ("loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr"), 3)
    assert any(name.startswith("head.ctrness.") for name in changed)
    assert any(name.startswith("backbone.bottom_up.") for name in changed)

    model.test_score_thresh = 0.0
    # GroupNorm of one channel per group needs more than one value: P7 (stride 128) of a batch of
    # one image must be larger than 1x1, so this image is padded to 256x256
    instances = infer(model, size=(136, 150))
    assert 0 < len(instances) <= 100
