import pytest
import torch

from modet.ops import ROIAlign, ROIAlignRotated, roi_align_rotated


def _ramp(height=5, width=5, dtype=torch.float32):
    ys = torch.arange(height, dtype=dtype)[:, None]
    xs = torch.arange(width, dtype=dtype)[None, :]
    return (10 * ys + xs)[None, None]


def _xyxy_to_rotated(rois):
    cx = (rois[:, 1] + rois[:, 3]) / 2
    cy = (rois[:, 2] + rois[:, 4]) / 2
    w = rois[:, 3] - rois[:, 1]
    h = rois[:, 4] - rois[:, 2]
    return torch.stack([rois[:, 0], cx, cy, w, h, torch.zeros_like(cx)], dim=1)


def test_hand_computed_angles():
    # Centre (3, 3) becomes 2.5 after the -0.5 shift; 2x2 box, one sample per bin at offsets +-0.5.
    pooler = ROIAlignRotated((2, 2), spatial_scale=1.0, sampling_ratio=1)
    upright = pooler(_ramp(), torch.tensor([[0, 3.0, 3.0, 2.0, 2.0, 0.0]]))
    assert torch.allclose(upright[0, 0], torch.tensor([[22.0, 23.0], [32.0, 33.0]]))
    # 90 degrees counter-clockwise: y = -xx + cy, x = yy + cx.
    turned = pooler(_ramp(), torch.tensor([[0, 3.0, 3.0, 2.0, 2.0, 90.0]]))
    assert torch.allclose(turned[0, 0], torch.tensor([[32.0, 22.0], [33.0, 23.0]]), atol=1e-5)


def test_samples_beyond_one_pixel_outside_are_zero():
    # Box centred far left: every sample has x < -1.
    out = ROIAlignRotated(2, 1.0, 2)(_ramp() + 1, torch.tensor([[0, -5.0, 2.0, 2.0, 2.0, 30.0]]))
    assert torch.equal(out, torch.zeros(1, 1, 2, 2))


def test_zero_size_box_pools_zero():
    out = ROIAlignRotated(2, 1.0, 0)(_ramp() + 1, torch.tensor([[0, 2.0, 2.0, 0.0, 0.0, 0.0]]))
    assert torch.equal(out, torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("sampling_ratio", [0, 1, 3])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_angle_zero_equals_aligned_roi_align(sampling_ratio, scale):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 11, 13)
    rois = torch.tensor(
        [[0, 1.0, 1.5, 7.0, 9.0], [1, 0.2, -2.0, 11.5, 11.0], [0, 3.0, 3.0, 3.2, 3.1], [1, -5.0, -5.0, 20.0, 26.0]]
    )
    expected = ROIAlign((4, 5), scale, sampling_ratio, aligned=True)(x, rois)
    ours = ROIAlignRotated((4, 5), scale, sampling_ratio)(x, _xyxy_to_rotated(rois))
    assert torch.allclose(ours, expected, atol=1e-5)


def test_rotation_by_180_degrees_reverses_the_bins():
    torch.manual_seed(1)
    x = torch.randn(1, 2, 9, 9)
    rois = torch.tensor([[0, 4.7, 4.2, 4.0, 6.0, 0.0]])
    upright = roi_align_rotated(x, rois, (3, 2), 1.0, 2)
    flipped = roi_align_rotated(x, rois + torch.tensor([0, 0, 0, 0, 0, 180.0]), (3, 2), 1.0, 2)
    assert torch.allclose(flipped, upright.flip(-1, -2), atol=1e-5)


def test_gradcheck_double():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(
        [[0, 3.3, 2.7, 4.1, 3.3, 30.0], [1, 2.0, 4.0, 5.0, 2.0, -75.0], [0, 1.0, 1.0, 9.0, 9.0, 10.0]],
        dtype=torch.float64,
    )
    for sampling_ratio in (0, 2):
        assert torch.autograd.gradcheck(lambda t, s=sampling_ratio: roi_align_rotated(t, rois, (3, 2), 0.9, s), (x,))


def test_empty_rois_keep_the_graph():
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    out = ROIAlignRotated((2, 3), 1.0, 0)(x, torch.zeros(0, 6))
    assert out.shape == (0, 3, 2, 3)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_half_input_is_pooled_in_float():
    x = torch.randn(1, 2, 6, 6)
    rois = torch.tensor([[0, 3.0, 3.0, 3.0, 2.0, 20.0]])
    out = ROIAlignRotated(2, 1.0, 2)(x.half(), rois.half())
    assert out.dtype == torch.float16
    assert torch.allclose(out.float(), ROIAlignRotated(2, 1.0, 2)(x.half().float(), rois.half().float()), atol=1e-2)


def test_bad_inputs_name_the_argument():
    pooler = ROIAlignRotated(2, 1.0, 0)
    x = torch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="rois"):
        pooler(x, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="non-negative width and height"):
        pooler(x, torch.tensor([[0, 1.0, 1.0, -1.0, 2.0, 0.0]]))
    with pytest.raises(ValueError, match=r"rois\[:, 0\]"):
        pooler(x, torch.tensor([[1, 1.0, 1.0, 1.0, 2.0, 0.0]]))
    with pytest.raises(ValueError, match="input"):
        pooler(torch.randn(4, 4), torch.zeros(1, 6))
