import pytest
from torch.utils.data.sampler import SequentialSampler

from modet.data.samplers import GroupedBatchSampler


def test_batches_hold_one_group_in_sampler_order():
    sampler = SequentialSampler(range(10))
    group_ids = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
    batches = [batch for batch in GroupedBatchSampler(sampler, group_ids, 2)]  # list() would ask len()
    assert batches == [[1, 2], [0, 3], [5, 6], [4, 7], [8, 9]]  # each yielded when its group's buffer fills
    assert [b for b in GroupedBatchSampler(sampler, [1] * 10, 3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]  # 9 is left over


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="torch.utils.data.Sampler, got list"):
        GroupedBatchSampler([0, 1], [0, 0], 1)
    with pytest.raises(ValueError, match=r"1-D\), got shape \(2, 1\)"):
        GroupedBatchSampler(SequentialSampler(range(2)), [[0], [1]], 1)
    with pytest.raises(NotImplementedError, match="not well-defined"):
        len(GroupedBatchSampler(SequentialSampler(range(2)), [0, 0], 1))
