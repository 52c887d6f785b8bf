import torch

from modet.ops import paste_masks_in_image
from modet.structures import Boxes

# A 2x2 mask with only its top-left cell on. Pasted into a 4x4 box, the pixel centres sample
# the mask at -0.25, 0.25, 0.75, 1.25 (grid_sample, zero padding, align_corners=False), so
# each axis gets weights [0.75, 0.75, 0.25, 0] and a pixel gets the product of two.
_MASK = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
_AXIS = torch.tensor([0.75, 0.75, 0.25, 0.0])


def test_paste_hand_computed_into_offset_box():
    out = paste_masks_in_image(_MASK, Boxes(torch.tensor([[2.0, 1.0, 6.0, 5.0]])), (6, 8))
    expected = torch.zeros(1, 6, 8, dtype=torch.bool)
    expected[0, 1:3, 2:4] = True  # 0.75 * 0.75 >= 0.5; 0.75 * 0.25 is not
    assert out.dtype == torch.bool
    assert torch.equal(out, expected)


def test_negative_threshold_returns_uint8_soft_masks():
    out = paste_masks_in_image(_MASK, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (4, 4), threshold=-1)
    assert out.dtype == torch.uint8
    assert torch.equal(out[0], (_AXIS[:, None] * _AXIS[None, :] * 255).to(torch.uint8))


def test_boxes_partly_outside_the_image_are_clipped():
    out = paste_masks_in_image(torch.ones(1, 4, 4), torch.tensor([[-2.0, -2.0, 2.0, 2.0]]), (5, 5))
    expected = torch.zeros(1, 5, 5, dtype=torch.bool)
    expected[0, :2, :2] = True
    assert torch.equal(out, expected)


def test_empty_inputs():
    out = paste_masks_in_image(torch.zeros(0, 28, 28), Boxes(torch.zeros(0, 4)), (10, 12))
    assert out.shape == (0, 10, 12) and out.dtype == torch.bool
