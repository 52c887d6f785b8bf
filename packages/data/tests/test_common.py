"""DatasetFromList's serialize methods, ToIterableDataset's worker sharding, pickling MapDataset."""

import pickle

import pytest
import torch

from modet.data import DatasetFromList, MapDataset, ToIterableDataset
from modet.data.build import build_batch_data_loader
from modet.data.common import (
    NumpySerializedList,
    TorchSerializedList,
    set_default_dataset_from_list_serialize_method,
)
from modet.data.samplers import InferenceSampler


@pytest.mark.parametrize("method", [NumpySerializedList, TorchSerializedList])
def test_serialized_lists_give_back_fresh_copies(method):
    records = [{"file_name": "a.jpg", "annotations": [1, 2]}, {"file_name": "b.jpg"}, {}]
    stored = method(records)
    assert len(stored) == 3 and [stored[i] for i in range(3)] == records
    stored[0]["annotations"].append(3)
    assert stored[0]["annotations"] == [1, 2]


def test_dataset_from_list_takes_a_serialize_callable_and_a_default():
    assert DatasetFromList([1, 2, 3], serialize=torch.tensor)[2].equal(torch.tensor(3))
    with set_default_dataset_from_list_serialize_method(torch.tensor):
        assert isinstance(DatasetFromList([1, 2, 3])[2], torch.Tensor)
    assert DatasetFromList([1, 2, 3])[2] == 3  # the default is restored after the block
    with pytest.raises(TypeError, match="serialize must be a bool or a callable"):
        DatasetFromList([1], serialize="numpy")


def test_map_dataset_with_a_lambda_pickles():
    mapped = pickle.loads(pickle.dumps(MapDataset(DatasetFromList([1, 2, 3]), lambda x: x * 2)))
    assert [mapped[i] for i in range(3)] == [2, 4, 6]


def test_workers_share_indices_in_chunks_so_only_the_last_batch_is_short():
    # 46 indices in batches of 8 over 3 workers: strided sharding would leave every worker a short
    # batch; chunks of 8 dealt round-robin leave one (of 6), which drop_last drops.
    dataset = DatasetFromList(list(range(46)))
    loader = build_batch_data_loader(dataset, InferenceSampler(46), 8, num_workers=3)
    batches = list(loader)
    assert len(batches) == len(loader) == 5 and all(len(b) == 8 for b in batches)
    assert sorted(x for b in batches for x in b) == list(range(40))
    loader = build_batch_data_loader(dataset, InferenceSampler(46), 8, num_workers=3, drop_last=False)
    assert sorted(x for b in loader for x in b) == list(range(46)) and len(loader) == 6


def test_to_iterable_dataset_checks_its_arguments():
    with pytest.raises(TypeError, match="expected a Sampler"):
        ToIterableDataset(DatasetFromList([1]), [0])
    with pytest.raises(ValueError, match="shard_chunk_size"):
        ToIterableDataset(DatasetFromList([1]), InferenceSampler(1), shard_chunk_size=0)
    with pytest.raises(ValueError, match="aspect_ratio_grouping"):
        build_batch_data_loader(
            DatasetFromList([1]), InferenceSampler(1), 1, aspect_ratio_grouping=True, drop_last=False
        )
