"""A LazyConfig Mask R-CNN, shrunk by overrides, trains through the engine on the synthetic shapes
dataset: the config's own loader, mapper, optimizer and LR multiplier, as a LazyConfig training
script uses them."""

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
from modet.ops import ShapeSpec

OVERRIDES = [
    "model.backbone.bottom_up.freeze_at=0",
    "model.backbone.bottom_up.stem.out_channels=8",
    "model.backbone.bottom_up.stem.norm=BN",
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


@pytest.fixture
def shapes(tmp_path):
    return register_shapes(tmp_path / "shapes", prefix="lazyzoo_shapes", num_train=6, num_val=2)


def test_lazy_mask_rcnn_trains_a_few_iterations(shapes):
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py")
    LazyConfig.apply_overrides(cfg, OVERRIDES)
    cfg.model.backbone.bottom_up.stages = tiny_stages()
    cfg.model.roi_heads.box_head.input_shape = ShapeSpec(channels=16, height=7, width=7)
    cfg.model.roi_heads.box_predictor.input_shape = ShapeSpec(channels=32)
    cfg.model.roi_heads.mask_head.input_shape = ShapeSpec(channels=16, height=14, width=14)
    cfg.dataloader.train.mapper.augmentations = [
        L(T.ResizeShortestEdge)(short_edge_length=(64, 80), sample_style="choice", max_size=100),
        L(T.RandomFlip)(horizontal=True),
    ]

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

    storage = trainer.storage
    # iteration 0 is in the warmup (0.001 of the LR); with max_iter 3, iteration 2 is past 60000/90000
    lrs = [value for value, _ in storage.history("lr").values()]
    assert lrs == pytest.approx([0.01 * 0.001, 0.01, 0.01 * 0.1])
    for loss in ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"):
        values = [value for value, _ in storage.history(loss).values()]
        assert len(values) == 3 and all(math.isfinite(v) for v in values)
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert any(name.startswith("backbone.bottom_up.") for name in changed)
    assert any(name.startswith("roi_heads.mask_head.") for name in changed)
