"""``_do_paste_mask``, the private kernel of ``paste_masks_in_image`` (tested where it lives)."""

import torch

from modet.structures.paste_masks import _do_paste_mask


def test_full_image_path_matches_skip_empty_path():
    torch.manual_seed(0)
    masks = torch.rand(3, 1, 7, 7)
    boxes = torch.tensor([[1.5, 2.0, 9.0, 6.5], [-3.0, -2.0, 4.0, 5.0], [8.0, 8.0, 14.0, 13.0]])
    full, index = _do_paste_mask(masks, boxes, 12, 13, skip_empty=False)
    assert index == () and full.shape == (3, 12, 13)
    for i in range(3):
        region, (rows, cols) = _do_paste_mask(masks[i : i + 1], boxes[i : i + 1], 12, 13, skip_empty=True)
        assert torch.allclose(full[i, rows, cols], region[0])
        outside = torch.ones(12, 13, dtype=torch.bool)
        outside[rows, cols] = False
        assert torch.all(full[i][outside] == 0)
