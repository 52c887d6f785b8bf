"""Matcher labels and low-quality matches; subsample_labels counts."""

import pytest
import torch

from modet.modeling.matcher import Matcher
from modet.modeling.sampling import subsample_labels


def test_matcher_thresholds_and_labels():
    matcher = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=False)
    quality = torch.tensor(
        [
            [0.1, 0.8, 0.5, 0.0],
            [0.2, 0.1, 0.6, 0.29],
        ]
    )
    matches, labels = matcher(quality)
    assert matches.tolist() == [1, 0, 1, 1]
    assert labels.tolist() == [0, 1, -1, 0]
    assert matches.dtype == torch.int64 and labels.dtype == torch.int8


def test_matcher_low_quality_matches_include_ties():
    matcher = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)
    quality = torch.tensor([[0.1, 0.8, 0.5, 0.0], [0.2, 0.1, 0.6, 0.6]])
    _, labels = matcher(quality)
    # gt 1's best quality 0.6 is shared by predictions 2 and 3: both become positive.
    assert labels.tolist() == [0, 1, 1, 1]


def test_matcher_empty_gt():
    matches, labels = Matcher([0.5], [0, 1])(torch.zeros(0, 5))
    assert matches.tolist() == [0] * 5 and labels.tolist() == [0] * 5


def test_matcher_bad_arguments():
    with pytest.raises(ValueError, match="labels"):
        Matcher([0.3, 0.7], [0, 1])
    with pytest.raises(ValueError, match="sorted"):
        Matcher([0.7, 0.3], [0, -1, 1])
    with pytest.raises(ValueError, match="2-D"):
        Matcher([0.5], [0, 1])(torch.zeros(3))


def test_subsample_labels_counts_and_membership():
    torch.manual_seed(0)
    labels = torch.tensor([1] * 10 + [0] * 100 + [-1] * 5 + [3] * 2)
    pos, neg = subsample_labels(labels, num_samples=16, positive_fraction=0.25, bg_label=0)
    assert len(pos) == 4 and len(neg) == 12
    assert set(labels[pos].tolist()) <= {1, 3} and set(labels[neg].tolist()) == {0}
    assert len(set(pos.tolist())) == 4 and len(set(neg.tolist())) == 12


def test_subsample_labels_fills_with_negatives_when_few_positives():
    labels = torch.tensor([1, 0, 0, 0, 0, 0, -1])
    pos, neg = subsample_labels(labels, num_samples=4, positive_fraction=0.5, bg_label=0)
    assert pos.tolist() == [0] and len(neg) == 3
    pos, neg = subsample_labels(torch.tensor([-1, -1]), num_samples=4, positive_fraction=0.5, bg_label=0)
    assert len(pos) == 0 and len(neg) == 0
