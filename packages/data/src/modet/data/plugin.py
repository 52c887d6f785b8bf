"""modet-data's own plugin: the DATASETS and DATALOADER config sections, with detectron2's defaults."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, section


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
