"""The LSJ Mask R-CNN baseline on RegNetX-4.0GF (the backbone of the 1x RegNet config, with SyncBN)."""

from modet.core.config import LazyCall as L
from modet.modeling.backbone.regnet import RegNet, ResBottleneckBlock, SimpleStem

from .mask_rcnn_R_50_FPN_100ep_LSJ import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up = L(RegNet)(
    stem_class=SimpleStem,
    stem_width=32,
    block_class=ResBottleneckBlock,
    depth=23,
    w_a=38.65,
    w_0=96,
    w_m=2.43,
    group_width=40,
    norm="SyncBN",
    out_features=["s1", "s2", "s3", "s4"],
)
model.pixel_std = [57.375, 57.120, 58.395]

train.cudnn_benchmark = True
