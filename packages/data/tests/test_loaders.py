import itertools

import numpy as np
import pytest
import torch

from modet.data import (
    DatasetCatalog,
    DatasetFromList,
    DatasetMapper,
    MapDataset,
    MetadataCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from modet.data import transforms as T
from modet.data.datasets import register_shapes
from modet.data.samplers import InferenceSampler, RepeatFactorTrainingSampler, TrainingSampler


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    names = register_shapes(root, prefix="loadertest", num_train=8, num_val=3, seed=1)
    yield root
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _mapper():
    return DatasetMapper(
        is_train=True,
        augmentations=[T.ResizeShortestEdge((48, 80), 200, "range"), T.RandomFlip()],
        image_format="BGR",
        use_instance_mask=True,
    )


def _take(loader, n):
    return list(itertools.islice(iter(loader), n))


def _signature(batches):
    return [(d["image_id"], tuple(d["image"].shape), int(d["image"].sum())) for batch in batches for d in batch]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_train_loader_is_deterministic_for_a_seed(shapes_root, num_workers):
    dicts = get_detection_dataset_dicts("loadertest_train")

    def run(seed):
        np.random.seed(seed)
        torch.manual_seed(seed)
        loader = build_detection_train_loader(
            dicts,
            mapper=_mapper(),
            sampler=TrainingSampler(len(dicts), seed=seed),
            total_batch_size=2,
            aspect_ratio_grouping=True,
            num_workers=num_workers,
        )
        return _signature(_take(loader, 5))

    first = run(3)
    assert len(first) == 10
    assert first == run(3)
    assert first != run(4)


def test_aspect_ratio_grouping_batches_one_orientation(shapes_root):
    dicts = get_detection_dataset_dicts("loadertest_train")
    loader = build_detection_train_loader(
        dicts, mapper=_mapper(), sampler=TrainingSampler(len(dicts), seed=0), total_batch_size=2
    )
    for batch in _take(loader, 6):
        assert len(batch) == 2
        assert len({d["width"] > d["height"] for d in batch}) == 1


def test_training_sampler_is_infinite_and_covers_each_epoch():
    indices = list(itertools.islice(iter(TrainingSampler(5, seed=1)), 15))
    for epoch in range(3):
        assert sorted(indices[epoch * 5 : epoch * 5 + 5]) == [0, 1, 2, 3, 4]
    assert indices == list(itertools.islice(iter(TrainingSampler(5, seed=1)), 15))


def test_repeat_factor_sampler_oversamples_rare_categories():
    dicts = [{"annotations": [{"category_id": 0}]}] * 9 + [{"annotations": [{"category_id": 1}]}]
    factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.5, sqrt=False)
    torch.testing.assert_close(factors, torch.tensor([1.0] * 9 + [5.0]))
    factors_sqrt = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.5)
    assert factors_sqrt[-1].item() == pytest.approx(5**0.5)
    sampler = RepeatFactorTrainingSampler(factors, seed=0)
    first_epoch = list(itertools.islice(iter(sampler), 14))
    assert first_epoch.count(9) == 5


def test_inference_sampler_shards_without_overlap():
    shards = [list(InferenceSampler._get_local_indices(10, 3, rank)) for rank in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(InferenceSampler(4)) == [0, 1, 2, 3]


def test_test_loader_from_config_in_order(shapes_root):
    from modet.core.config import get_cfg

    cfg = get_cfg()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TEST = 64
    loader = build_detection_test_loader(cfg, "loadertest_val")
    batches = list(loader)
    assert [b[0]["image_id"] for b in batches] == [1, 2, 3]
    assert all(min(b[0]["image"].shape[1:]) == 64 and "instances" not in b[0] for b in batches)


def test_dataset_from_list_serializes_and_copies():
    data = DatasetFromList([{"a": [1]}, {"a": [2]}])
    assert len(data) == 2 and data[1] == {"a": [2]}
    item = data[0]
    item["a"].append(5)
    assert data[0] == {"a": [1]}


def test_map_dataset_retries_when_mapper_returns_none():
    mapped = MapDataset(list(range(5)), lambda x: None if x == 2 else x * 10)
    assert mapped[1] == 10
    assert mapped[2] in (0, 10, 30, 40)


def test_empty_dataset_name_errors():
    with pytest.raises(KeyError, match="not registered"):
        get_detection_dataset_dicts("no_such_dataset")
