"""Mask R-CNN R50-FPN trained from scratch for 100 epochs with large-scale jitter (LSJ).

Differences from the 1x config: SyncBN everywhere (NaiveSyncBatchNorm in the heads, which may see
empty batches), a 2-conv RPN head and a 4-conv + 1-fc box head, 1024x1024 crops of images
rescaled by 0.1-2.0, batches of 64, and mixed precision.
"""

import modet.data.transforms as T
from modet.core.config import LazyCall as L
from modet.engine.solver import WarmupParamScheduler
from modet.engine.solver.param_scheduler import MultiStepParamScheduler
from modet.ops.batch_norm import NaiveSyncBatchNorm

from ..common.data.coco import dataloader
from ..common.models.mask_rcnn_fpn import model
from ..common.optim import SGD as optimizer
from ..common.train import train

train.init_checkpoint = ""
train.amp.enabled = True
train.ddp.fp16_compression = True
model.backbone.bottom_up.freeze_at = 0

model.backbone.bottom_up.stem.norm = model.backbone.bottom_up.stages.norm = model.backbone.norm = "SyncBN"
model.roi_heads.box_head.conv_norm = model.roi_heads.mask_head.conv_norm = lambda c: NaiveSyncBatchNorm(
    c, stats_mode="N"
)

model.proposal_generator.head.conv_dims = [-1, -1]

model.roi_heads.box_head.conv_dims = [256, 256, 256, 256]
model.roi_heads.box_head.fc_dims = [1024]

image_size = 1024
dataloader.train.mapper.augmentations = [
    L(T.ResizeScale)(min_scale=0.1, max_scale=2.0, target_height=image_size, target_width=image_size),
    L(T.FixedSizeCrop)(crop_size=(image_size, image_size)),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.mapper.recompute_boxes = True  # crops cut masks: boxes come from the cropped masks

dataloader.train.total_batch_size = 64

train.max_iter = 184375  # 100 epochs of COCO's 118k training images, 64 per iteration

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1, 0.01],
        milestones=[163889, 177546],
        num_updates=train.max_iter,
    ),
    warmup_length=500 / train.max_iter,
    warmup_factor=0.067,
)

optimizer.lr = 0.1
optimizer.weight_decay = 4e-5
