import pytest
import torch
from torchvision.ops import roi_align as tv_roi_align

from modet.ops import ROIAlign, roi_align
from modet.ops.roi_align import _threads_for


def _ramp(height=5, width=5):
    """Feature map f(y, x) = 10 * y + x: bilinear sampling of it is exact inside the map."""
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    return (10 * ys + xs)[None, None]


def test_aligned_samples_half_pixel_earlier_than_legacy():
    rois = torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]])
    aligned = ROIAlign((2, 2), spatial_scale=1.0, sampling_ratio=1, aligned=True)(_ramp(), rois)
    legacy = ROIAlign((2, 2), spatial_scale=1.0, sampling_ratio=1, aligned=False)(_ramp(), rois)
    # Bin centres are 1.5 and 2.5; aligned shifts them by -0.5 into pixel indices 1 and 2.
    assert torch.equal(aligned[0, 0], torch.tensor([[11.0, 12.0], [21.0, 22.0]]))
    assert torch.equal(legacy[0, 0], torch.tensor([[16.5, 17.5], [26.5, 27.5]]))


def test_aligned_border_samples_clamp_to_first_pixel():
    rois = torch.tensor([[0, 0.0, 0.0, 1.0, 1.0]])
    out = ROIAlign((2, 2), 1.0, 1, aligned=True)(_ramp(), rois)
    # Samples at -0.25 (clamped to 0) and 0.25 along each axis.
    assert torch.allclose(out[0, 0], torch.tensor([[0.0, 0.25], [2.5, 2.75]]))


def test_legacy_roi_size_is_at_least_one_pixel():
    rois = torch.tensor([[0, 1.0, 1.0, 1.2, 1.2]])
    out = ROIAlign((1, 1), 1.0, 1, aligned=False)(_ramp(), rois)
    # A 0.2-pixel box is enlarged to 1 pixel: its single sample sits at (1.5, 1.5).
    assert torch.allclose(out[0, 0], torch.tensor([[16.5]]))


def test_spatial_scale_maps_image_to_feature_coordinates():
    rois = torch.tensor([[0, 2.0, 2.0, 6.0, 6.0]])
    out = ROIAlign((2, 2), 0.5, 1, aligned=True)(_ramp(), rois)
    assert torch.equal(out[0, 0], torch.tensor([[11.0, 12.0], [21.0, 22.0]]))


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_matches_torchvision(aligned, sampling_ratio):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 10)
    rois = torch.tensor([[0, 0.5, 1.0, 8.0, 9.5], [1, -3.0, 2.0, 4.0, 30.0], [1, 3.0, 3.0, 3.0, 3.0]])
    ours = ROIAlign((3, 4), 0.5, sampling_ratio, aligned)(x, rois)
    expected = tv_roi_align(x, rois, (3, 4), 0.5, sampling_ratio, aligned)
    assert torch.equal(ours, expected)
    assert roi_align is tv_roi_align


def test_rois_are_cast_to_input_dtype_and_empty_rois_work():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    out = ROIAlign(2, 1.0, 0)(x, torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]]))
    assert out.dtype == torch.float64 and out.shape == (1, 2, 2, 2)
    assert ROIAlign(2, 1.0, 0)(x, torch.zeros(0, 5)).shape == (0, 2, 2, 2)


def test_bad_inputs_name_the_argument():
    pooler = ROIAlign(2, 1.0, 0)
    with pytest.raises(ValueError, match="rois"):
        pooler(torch.randn(1, 1, 4, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="input"):
        pooler(torch.randn(1, 4, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="input"):
        pooler(torch.zeros(1, 1, 4, 4, dtype=torch.int64), torch.zeros(3, 5))


def test_repr_lists_arguments():
    assert (
        repr(ROIAlign((7, 7), 0.25, 0))
        == "ROIAlign(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=0, aligned=True)"
    )


def test_many_regions_are_pooled_on_torchs_threads_exactly_as_in_one_call():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 40, 50)
    xy = torch.rand(300, 2) * 150
    rois = torch.cat([torch.randint(0, 2, (300, 1)).float(), xy, xy + torch.rand(300, 2) * 60 + 1], dim=1)
    pooler = ROIAlign((7, 7), spatial_scale=0.25, sampling_ratio=0)
    expected = tv_roi_align(x, rois, (7, 7), 0.25, 0, True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # 300 regions: three parts of 100
        with torch.no_grad():
            assert _threads_for(x, rois) == 3 and _threads_for(x, rois[:40]) == 1
            assert torch.equal(pooler(x, rois), expected)
        features = x.clone().requires_grad_()  # training: one call, differentiable
        pooled = pooler(features, rois)
        assert torch.equal(pooled, expected) and pooled.requires_grad
    finally:
        torch.set_num_threads(threads)


def test_under_bfloat16_autocast_regions_are_pooled_in_float32_from_float32_boxes():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 40, 50).bfloat16()
    xy = torch.rand(300, 2) * 150 + 0.3
    rois = torch.cat([torch.zeros(300, 1), xy, xy + torch.rand(300, 2) * 60 + 1], dim=1)
    pooler = ROIAlign((7, 7), spatial_scale=0.25, sampling_ratio=0)
    expected = tv_roi_align(x.float(), rois, (7, 7), 0.25, 0, True).bfloat16()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # the threaded path too: autocast does not reach other threads
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            pooled = pooler(x, rois)
    finally:
        torch.set_num_threads(threads)
    assert pooled.dtype == torch.bfloat16
    assert torch.equal(pooled, expected)
    # detectron2 rounds the boxes to the features' dtype first: corners move by up to 0.5 px here
    assert not torch.equal(rois.bfloat16().float(), rois)
