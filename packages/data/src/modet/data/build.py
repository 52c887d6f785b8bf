"""Data loaders for training and inference, built from plain arguments or from a config."""

from __future__ import annotations

import itertools
import logging
import operator
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils.data as torchdata

from modet.core import comm
from modet.core.config import configurable

from .catalog import DatasetCatalog, MetadataCatalog
from .common import AspectRatioGroupedDataset, DatasetFromList, MapDataset, ToIterableDataset
from .dataset_mapper import DatasetMapper
from .detection_utils import check_metadata_consistency
from .resumable_loader import ResumableBatchLoader
from .samplers import InferenceSampler, RepeatFactorTrainingSampler, TrainingSampler

__all__ = [
    "build_batch_data_loader",
    "build_detection_test_loader",
    "build_detection_train_loader",
    "filter_images_with_few_keypoints",
    "filter_images_with_only_crowd_annotations",
    "get_detection_dataset_dicts",
    "print_instances_class_histogram",
    "trivial_batch_collator",
    "worker_init_reset_seed",
]

logger = logging.getLogger(__name__)


def filter_images_with_only_crowd_annotations(dataset_dicts: list[dict], dataset_names: Sequence[str]) -> list[dict]:
    """Drop images without any non-crowd annotation: they teach a detector nothing."""
    num_before = len(dataset_dicts)
    kept = [d for d in dataset_dicts if any(ann.get("iscrowd", 0) == 0 for ann in d["annotations"])]
    logger.info(
        "Removed %d images with no usable annotations. %d images left (datasets %s).",
        num_before - len(kept),
        len(kept),
        list(dataset_names),
    )
    return kept


def filter_images_with_few_keypoints(dataset_dicts: list[dict], min_keypoints_per_image: int) -> list[dict]:
    """Drop images with fewer than ``min_keypoints_per_image`` visible keypoints."""

    def visible_keypoints(record: dict) -> int:
        return sum(
            int((np.asarray(ann["keypoints"])[2::3] > 0).sum()) for ann in record["annotations"] if "keypoints" in ann
        )

    num_before = len(dataset_dicts)
    kept = [d for d in dataset_dicts if visible_keypoints(d) >= min_keypoints_per_image]
    logger.info("Removed %d images with fewer than %d keypoints.", num_before - len(kept), min_keypoints_per_image)
    return kept


def print_instances_class_histogram(dataset_dicts: list[dict], class_names: Sequence[str]) -> None:
    """Log how many (non-crowd) instances each category has."""
    num_classes = len(class_names)
    classes = np.asarray(
        [ann["category_id"] for d in dataset_dicts for ann in d.get("annotations", []) if not ann.get("iscrowd", 0)],
        dtype=np.int64,
    )
    if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
        raise ValueError(
            f"Got an invalid category_id={int(classes.max() if classes.max() >= num_classes else classes.min())} "
            f"for a dataset of {num_classes} classes"
        )
    counts = np.bincount(classes, minlength=num_classes)
    lines = [f"{name:>16s}: {int(count)}" for name, count in zip(class_names, counts)]
    logger.info(
        "Distribution of instances among all %d categories:\n%s\n%16s: %d",
        num_classes,
        "\n".join(lines),
        "total",
        int(counts.sum()),
    )


def get_detection_dataset_dicts(
    names: str | Sequence[str],
    filter_empty: bool = True,
    min_keypoints: int = 0,
    proposal_files: Sequence[str] | None = None,
    check_consistency: bool = True,
) -> list[dict]:
    """The records of the named registered datasets, concatenated and filtered for training."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("get_detection_dataset_dicts: no dataset name given (is DATASETS.TRAIN/TEST empty?)")
    if proposal_files:
        raise NotImplementedError("precomputed proposal files are not supported by modet-data yet")
    dataset_dicts = []
    for name in names:
        records = DatasetCatalog.get(name)
        if isinstance(records, torchdata.Dataset):
            if len(names) > 1:
                raise ValueError("a dataset registered as a torch Dataset cannot be combined with others")
            return records
        if not records:
            raise ValueError(f"Dataset '{name}' is empty!")
        dataset_dicts.append(records)
    merged = list(itertools.chain.from_iterable(dataset_dicts))
    has_instances = "annotations" in merged[0]
    if filter_empty and has_instances:
        merged = filter_images_with_only_crowd_annotations(merged, names)
    if min_keypoints > 0 and has_instances:
        merged = filter_images_with_few_keypoints(merged, min_keypoints)
    if check_consistency and has_instances:
        try:
            class_names = MetadataCatalog.get(names[0]).thing_classes
            check_metadata_consistency("thing_classes", names)
            print_instances_class_histogram(merged, class_names)
        except AttributeError:  # no thing_classes in the metadata
            pass
    if not merged:
        raise ValueError(f"No valid data found in {', '.join(names)}.")
    return merged


def trivial_batch_collator(batch: list[Any]) -> list[Any]:
    """Keep a batch as the list of dicts the models take."""
    return batch


def worker_init_reset_seed(worker_id: int) -> None:
    """Seed numpy/random/torch in each worker from torch's per-worker seed (which follows the
    main process's torch RNG), so augmentations differ between workers yet repeat across runs."""
    initial_seed = torch.initial_seed() % 2**31
    np.random.seed(initial_seed + worker_id)
    random.seed(initial_seed + worker_id)
    torch.manual_seed(initial_seed + worker_id)


def build_batch_data_loader(
    dataset: Any,
    sampler: torchdata.Sampler | None,
    total_batch_size: int,
    *,
    aspect_ratio_grouping: bool = False,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    seed: int | None = None,
    drop_last: bool = True,
    **kwargs: Any,
) -> Any:
    """A loader yielding this process's share (``total_batch_size / world_size``) of each batch:
    infinite with an infinite sampler such as ``TrainingSampler``.

    For a map-style dataset it is a :class:`ResumableBatchLoader`: ``state_dict()`` saves its
    position, so a resumed training sees exactly the batches an uninterrupted one would, and
    the batches do not depend on ``num_workers``. Records are augmented with random numbers
    seeded from ``seed`` (None: a random seed shared by all processes) and their position.
    ``drop_last=False`` keeps the last, incomplete batch of a finite sampler (not with
    ``aspect_ratio_grouping``), through a plain loader whose position is not saved. An
    ``IterableDataset`` is batched as it comes (its position is not saved either).
    """
    world_size = comm.get_world_size()
    if total_batch_size <= 0 or total_batch_size % world_size != 0:
        raise ValueError(
            f"Total batch size ({total_batch_size}) must be divisible by the number of processes ({world_size})."
        )
    batch_size = total_batch_size // world_size
    if not isinstance(dataset, torchdata.IterableDataset):
        if drop_last:
            return ResumableBatchLoader(
                dataset,
                sampler,
                batch_size,
                aspect_ratio_grouping=aspect_ratio_grouping,
                num_workers=num_workers,
                collate_fn=collate_fn,
                seed=seed,
                worker_init_fn=worker_init_reset_seed,
                **kwargs,
            )
        if sampler is None:
            raise TypeError("build_batch_data_loader: a map-style dataset needs a sampler, got None")
        dataset = ToIterableDataset(dataset, sampler, shard_chunk_size=batch_size)
    elif sampler is not None:
        raise ValueError("sampler must be None if dataset is an IterableDataset")

    if aspect_ratio_grouping:
        if not drop_last:
            raise ValueError("build_batch_data_loader: aspect_ratio_grouping drops incomplete batches; drop_last=False")
        data_loader = torchdata.DataLoader(
            dataset,
            num_workers=num_workers,
            collate_fn=operator.itemgetter(0),  # don't batch, but yield individual elements
            worker_init_fn=worker_init_reset_seed,
            **kwargs,
        )
        grouped = AspectRatioGroupedDataset(data_loader, batch_size)
        if collate_fn is None:
            return grouped
        return MapDataset(grouped, collate_fn)
    return torchdata.DataLoader(
        dataset,
        batch_size=batch_size,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator if collate_fn is None else collate_fn,
        worker_init_fn=worker_init_reset_seed,
        **kwargs,
    )


def _train_loader_from_config(cfg: Any, mapper: Any = None, *, dataset: Any = None, sampler: Any = None) -> dict:
    if dataset is None:
        dataset = get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN,
            filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
            min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if cfg.MODEL.KEYPOINT_ON else 0,
            proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
        )
    if mapper is None:
        mapper = DatasetMapper(cfg, True)
    if sampler is None:
        sampler_name = cfg.DATALOADER.SAMPLER_TRAIN
        logger.info("Using training sampler %s", sampler_name)
        seed = cfg.SEED if cfg.SEED >= 0 else None
        if isinstance(dataset, torchdata.IterableDataset):
            sampler = None
        elif sampler_name == "TrainingSampler":
            sampler = TrainingSampler(len(dataset), seed=seed)
        elif sampler_name == "RepeatFactorTrainingSampler":
            factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
                dataset, cfg.DATALOADER.REPEAT_THRESHOLD, sqrt=cfg.DATALOADER.REPEAT_SQRT
            )
            sampler = RepeatFactorTrainingSampler(factors, seed=seed)
        else:
            raise ValueError(
                f"Unknown DATALOADER.SAMPLER_TRAIN {sampler_name!r}; known: TrainingSampler, RepeatFactorTrainingSampler"
            )
    return {
        "dataset": dataset,
        "sampler": sampler,
        "mapper": mapper,
        "total_batch_size": cfg.SOLVER.IMS_PER_BATCH,
        "aspect_ratio_grouping": cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        "num_workers": cfg.DATALOADER.NUM_WORKERS,
        "seed": cfg.SEED if cfg.SEED >= 0 else None,
    }


def _mapped_dataset_and_sampler(
    dataset: Any,
    mapper: Callable[[dict], Any] | None,
    sampler: Any,
    default_sampler: Callable[[int], torchdata.Sampler],
) -> tuple[Any, Any]:
    """``dataset`` as a torch Dataset (a list is wrapped) mapped by ``mapper``, and its sampler:
    ``default_sampler(len(dataset))`` when none is given; none for an ``IterableDataset``."""
    if isinstance(dataset, list):
        dataset = DatasetFromList(dataset, copy=False)
    if mapper is not None:
        dataset = MapDataset(dataset, mapper)
    if isinstance(dataset, torchdata.IterableDataset):
        if sampler is not None:
            raise ValueError("sampler must be None if dataset is an IterableDataset")
    elif sampler is None:
        sampler = default_sampler(len(dataset))
    return dataset, sampler


@configurable(from_config=_train_loader_from_config)
def build_detection_train_loader(
    dataset: Any,
    *,
    mapper: Callable[[dict], Any] | None,
    sampler: torchdata.Sampler | None = None,
    total_batch_size: int,
    aspect_ratio_grouping: bool = True,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """An infinite training loader yielding ``list[dict]`` batches of mapped records.

    ``dataset`` is a list of records or a torch Dataset; ``sampler`` defaults to a
    ``TrainingSampler`` (infinite, shuffled, sharded across processes). The loader's
    ``state_dict()`` goes into training checkpoints (see :func:`build_batch_data_loader`).
    """
    dataset, sampler = _mapped_dataset_and_sampler(dataset, mapper, sampler, TrainingSampler)
    if sampler is not None and not isinstance(sampler, torchdata.Sampler):
        raise TypeError(f"Expect a Sampler but got {type(sampler).__name__}")
    return build_batch_data_loader(
        dataset,
        sampler,
        total_batch_size,
        aspect_ratio_grouping=aspect_ratio_grouping,
        num_workers=num_workers,
        collate_fn=collate_fn,
        **kwargs,
    )


def _test_loader_from_config(cfg: Any, dataset_name: str | Sequence[str], mapper: Any = None) -> dict:
    if isinstance(dataset_name, str):
        dataset_name = [dataset_name]
    dataset = get_detection_dataset_dicts(
        dataset_name,
        filter_empty=False,
        proposal_files=None,
    )
    if mapper is None:
        mapper = DatasetMapper(cfg, False)
    return {
        "dataset": dataset,
        "mapper": mapper,
        "num_workers": cfg.DATALOADER.NUM_WORKERS,
        "sampler": InferenceSampler(len(dataset)) if not isinstance(dataset, torchdata.IterableDataset) else None,
    }


@configurable(from_config=_test_loader_from_config)
def build_detection_test_loader(
    dataset: Any,
    *,
    mapper: Callable[[dict], Any] | None,
    sampler: torchdata.Sampler | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> torchdata.DataLoader:
    """A finite loader over this process's shard of ``dataset``, in order, ``list[dict]`` batches.

    Called with a config: ``build_detection_test_loader(cfg, dataset_name, mapper=None)``.
    """
    dataset, sampler = _mapped_dataset_and_sampler(dataset, mapper, sampler, InferenceSampler)
    return torchdata.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=False,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator if collate_fn is None else collate_fn,
    )
