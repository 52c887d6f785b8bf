"""modet-data's own plugin: the DATASETS, DATALOADER and INPUT config keys it alone reads, with
detectron2's defaults (``INPUT.FORMAT``, ``INPUT.MIN/MAX_SIZE_TEST``, ``MODEL.MASK_ON``,
``MODEL.KEYPOINT_ON`` and ``SOLVER.IMS_PER_BATCH``, which other packages read too, are modet-core's)."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, OneOf, Range, section


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    datasets = section(cfg, "DATASETS")
    # Names of datasets registered in DatasetCatalog.
    datasets.TRAIN = ()
    datasets.TEST = ()
    # Precomputed proposal files, one per dataset in TRAIN / TEST (Fast R-CNN style models).
    datasets.PROPOSAL_FILES_TRAIN = ()
    datasets.PRECOMPUTED_PROPOSAL_TOPK_TRAIN = 2000
    datasets.PROPOSAL_FILES_TEST = ()
    datasets.PRECOMPUTED_PROPOSAL_TOPK_TEST = 1000

    dataloader = section(cfg, "DATALOADER")
    dataloader.NUM_WORKERS = 4
    # Batch images of similar aspect ratio together (all landscape or all portrait).
    dataloader.ASPECT_RATIO_GROUPING = True
    dataloader.SAMPLER_TRAIN = "TrainingSampler"
    # RepeatFactorTrainingSampler: images whose rarest category is below this frequency repeat.
    dataloader.REPEAT_THRESHOLD = 0.0
    dataloader.REPEAT_SQRT = True
    # Drop training images that have no (non-crowd) annotation.
    dataloader.FILTER_EMPTY_ANNOTATIONS = True

    inp = section(cfg, "INPUT")
    # Train-time resize: shorter side drawn from MIN_SIZE_TRAIN ("choice") or from the range it
    # spans ("range"); longer side at most MAX_SIZE_TRAIN.
    inp.MIN_SIZE_TRAIN = (800,)
    inp.MIN_SIZE_TRAIN_SAMPLING = "choice"
    inp.MAX_SIZE_TRAIN = 1333
    inp.RANDOM_FLIP = "horizontal"
    crop = section(cfg, "INPUT.CROP")
    crop.ENABLED = False
    crop.TYPE = "relative_range"
    crop.SIZE = [0.9, 0.9]
    inp.MASK_FORMAT = "polygon"

    model = section(cfg, "MODEL")
    # Read precomputed proposals (DATASETS.PROPOSAL_FILES_*) instead of running an RPN.
    model.LOAD_PROPOSALS = False
    # Training images with fewer visible keypoints than this are dropped.
    section(cfg, "MODEL.ROI_KEYPOINT_HEAD").MIN_KEYPOINTS_PER_IMAGE = 1

    cfg.add_checks(
        {
            "DATALOADER.NUM_WORKERS": Range(min=0, integer=True),
            "DATALOADER.SAMPLER_TRAIN": OneOf(["TrainingSampler", "RepeatFactorTrainingSampler"]),
            "DATALOADER.REPEAT_THRESHOLD": Range(min=0.0),
            "INPUT.MIN_SIZE_TRAIN_SAMPLING": OneOf(["choice", "range"]),
            "INPUT.MAX_SIZE_TRAIN": Range(min=0, integer=True),
            "INPUT.RANDOM_FLIP": OneOf(["none", "horizontal", "vertical"]),
            "INPUT.CROP.TYPE": OneOf(["relative_range", "relative", "absolute", "absolute_range"]),
            "INPUT.MASK_FORMAT": OneOf(["polygon", "bitmask"]),
            "MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE": Range(min=0, integer=True),
        }
    )
