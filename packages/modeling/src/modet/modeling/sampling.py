"""``subsample_labels``: a random, class-balanced minibatch of positive and negative indices."""

from __future__ import annotations

import torch

from modet.ops import nonzero_tuple

__all__ = ["subsample_labels"]


def subsample_labels(
    labels: torch.Tensor, num_samples: int, positive_fraction: float, bg_label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of at most ``num_samples * positive_fraction`` positives and negatives filling the rest.

    ``labels``: -1 ignore, ``bg_label`` negative, anything else positive. Returns (pos_idx, neg_idx).
    """
    positive = nonzero_tuple((labels != -1) & (labels != bg_label))[0]
    negative = nonzero_tuple(labels == bg_label)[0]
    num_pos = min(positive.numel(), int(num_samples * positive_fraction))
    num_neg = min(negative.numel(), num_samples - num_pos)
    perm1 = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
    perm2 = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
    return positive[perm1], negative[perm2]
