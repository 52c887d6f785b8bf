"""pad_masks, scale_boxes and Detectron's original paste, against detectron2's outputs
(fixtures/mask_ops_detectron2.pt, made by fixtures/make_mask_ops_fixture.py)."""

from pathlib import Path

import pytest
import torch

from modet.structures.paste_masks import pad_masks, paste_mask_in_image_old, scale_boxes

FIXTURE = torch.load(Path(__file__).parent / "fixtures" / "mask_ops_detectron2.pt", weights_only=True)


def test_pad_masks_and_scale_boxes_match_detectron2():
    padded, scale = pad_masks(FIXTURE["masks"], 1)
    assert padded.shape == (6, 9, 9) and scale == 9 / 7 == FIXTURE["scale"]
    assert torch.equal(padded, FIXTURE["padded"])
    assert torch.equal(scale_boxes(FIXTURE["boxes"], scale), FIXTURE["scaled"])


def test_scale_boxes_by_hand():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert torch.equal(scale_boxes(boxes, 1.5), torch.tensor([[5.0, 10.0, 35.0, 70.0]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        scale_boxes(torch.zeros(4), 2.0)
    with pytest.raises(ValueError, match=r"\(N, M, M\)"):
        pad_masks(torch.zeros(2, 3, 4), 1)


def test_paste_mask_in_image_old_matches_detectron2():
    pasted = torch.stack(
        [paste_mask_in_image_old(m, b, 40, 50, 0.5) for m, b in zip(FIXTURE["padded"], FIXTURE["scaled"])]
    )
    assert pasted.dtype == torch.uint8 and torch.equal(pasted, FIXTURE["pasted"])
    soft = torch.stack(
        [paste_mask_in_image_old(m, b, 40, 50, -1) for m, b in zip(FIXTURE["padded"], FIXTURE["scaled"])]
    )
    assert torch.equal(soft, FIXTURE["soft"])


def test_paste_mask_in_image_old_by_hand():
    # a box from (1.7, 2.2) to (3.9, 3.1) covers pixels x 1..3 and y 2..3: a 3 x 2 patch
    image = paste_mask_in_image_old(torch.ones(4, 4), torch.tensor([1.7, 2.2, 3.9, 3.1]), 5, 6, 0.5)
    expected = torch.zeros(5, 6, dtype=torch.uint8)
    expected[2:4, 1:4] = 1
    assert torch.equal(image, expected)
    # a box hanging over the image's corner is clipped
    image = paste_mask_in_image_old(torch.ones(2, 2), torch.tensor([-2.0, -2.0, 1.0, 1.0]), 5, 6, 0.5)
    assert image.sum() == 4 and image[:2, :2].all()
