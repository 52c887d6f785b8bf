"""The training loader saves where it is: a loader restored from ``state_dict()`` yields exactly
the batches the original yields next, with every sampler modet ships, with or without
aspect-ratio grouping and worker processes, over a dataset that does not divide into batches."""

import itertools
import pickle
import random

import numpy as np
import pytest
import torch

from modet.data import (
    DatasetCatalog,
    DatasetMapper,
    MetadataCatalog,
    ResumableBatchLoader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from modet.data import transforms as T
from modet.data.datasets import register_shapes
from modet.data.samplers import RepeatFactorTrainingSampler, TrainingSampler

NUM_IMAGES = 7  # not a multiple of any batch size used here


@pytest.fixture(scope="module")
def dicts(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    names = register_shapes(root, prefix="resumetest", num_train=NUM_IMAGES, num_val=1, seed=2)
    records = get_detection_dataset_dicts("resumetest_train")
    yield records
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _mapper():
    # Random augmentations: a resumed loader must draw the same random numbers too.
    return DatasetMapper(
        is_train=True,
        augmentations=[T.ResizeShortestEdge((32, 64), 96, "range"), T.RandomFlip(), T.RandomBrightness(0.5, 1.5)],
        image_format="BGR",
        use_instance_mask=True,
    )


def _sampler(kind, dicts):
    if kind == "TrainingSampler":
        return TrainingSampler(len(dicts), seed=None)  # a random seed: the state must carry it
    factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.5)
    return RepeatFactorTrainingSampler(factors, seed=None)


def _loader(dicts, kind="TrainingSampler", grouping=True, num_workers=0, batch_size=3):
    return build_detection_train_loader(
        dicts,
        mapper=_mapper(),
        sampler=_sampler(kind, dicts),
        total_batch_size=batch_size,
        aspect_ratio_grouping=grouping,
        num_workers=num_workers,
    )


def _signature(batch):
    return [
        (d["image_id"], tuple(d["image"].shape), int(d["image"].sum()), d["instances"].gt_boxes.tensor.sum().item())
        for d in batch
    ]


def _seed_globals(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.mark.parametrize("kind", ["TrainingSampler", "RepeatFactorTrainingSampler"])
@pytest.mark.parametrize("grouping", [True, False])
def test_a_restored_loader_yields_the_batches_the_original_yields_next(dicts, kind, grouping):
    _seed_globals(0)
    original = _loader(dicts, kind, grouping)
    stream = iter(original)
    first = [_signature(next(stream)) for _ in range(4)]
    state = pickle.loads(pickle.dumps(original.state_dict()))  # what a checkpoint carries
    rest = [_signature(next(stream)) for _ in range(5)]
    assert all(isinstance(v, int) for v in (state["seed"], state["position"]))

    _seed_globals(1234)  # another process: other global seeds, another random loader seed
    restored = _loader(dicts, kind, grouping)
    assert restored.seed != original.seed
    restored.load_state_dict(state)
    assert [_signature(batch) for batch in itertools.islice(iter(restored), 5)] == rest
    assert first != rest[:4]  # the stream really moved on


def test_records_waiting_in_a_bucket_are_restored(dicts):
    _seed_globals(0)
    loader = _loader(dicts, grouping=True)
    stream = iter(loader)
    for _ in range(6):
        next(stream)
        if loader.state_dict()["pending"]:
            break
    state = loader.state_dict()
    assert state["pending"], "no record was left waiting in a bucket: the test proves nothing"
    expected = [_signature(next(stream)) for _ in range(3)]
    restored = _loader(dicts)
    restored.load_state_dict(state)
    assert [_signature(b) for b in itertools.islice(iter(restored), 3)] == expected


def test_batches_do_not_depend_on_the_number_of_workers(dicts):
    signatures = []
    for num_workers in (0, 2):
        _seed_globals(5)
        signatures.append([_signature(b) for b in itertools.islice(iter(_loader(dicts, num_workers=num_workers)), 4)])
    assert signatures[0] == signatures[1]


def test_a_restored_loader_with_workers_continues_exactly(dicts):
    _seed_globals(0)
    original = _loader(dicts, num_workers=2)
    stream = iter(original)
    for _ in range(3):
        next(stream)
    state = original.state_dict()
    rest = [_signature(next(stream)) for _ in range(3)]
    del stream
    restored = _loader(dicts, num_workers=2)
    restored.load_state_dict(state)
    assert [_signature(b) for b in itertools.islice(iter(restored), 3)] == rest


def test_the_loader_leaves_the_callers_random_generators_alone(dicts):
    _seed_globals(3)
    loader = _loader(dicts)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    _seed_globals(3)
    loader = _loader(dicts)
    for _ in itertools.islice(iter(loader), 3):
        pass
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_a_loader_from_config_uses_cfg_seed(dicts):
    from modet.core.config import get_cfg

    cfg = get_cfg()
    cfg.DATASETS.TRAIN = ("resumetest_train",)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SEED = 11
    loader = build_detection_train_loader(cfg)
    assert isinstance(loader, ResumableBatchLoader)
    assert loader.state_dict()["seed"] == 11 and loader.state_dict()["position"] == 0


def test_a_finite_sampler_is_a_new_pass_at_each_iter_once_exhausted():
    """As a DataLoader: an inference sampler's loader yields its full batches again on a second
    ``iter()`` (detectron2's test_build_batch_dataloader_inference_incomplete_batch iterates twice);
    a pass stopped halfway continues where it stopped."""
    from modet.data import DatasetFromList, build_batch_data_loader
    from modet.data.samplers import InferenceSampler

    loader = build_batch_data_loader(DatasetFromList(list(range(47))), InferenceSampler(47), 8, num_workers=2)
    first, second = list(iter(loader)), list(iter(loader))
    assert len(first) == len(second) == len(loader) == 5  # floor(47 / 8)
    assert [x for batch in second for x in batch] == list(range(40))
    stream = iter(loader)
    next(stream)
    assert next(iter(loader)) == list(range(8, 16))  # not exhausted: it continues
