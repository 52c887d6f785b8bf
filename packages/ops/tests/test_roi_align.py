import pytest
import torch
from torchvision.ops import roi_align as tv_roi_align

from modet.ops import ROIAlign, roi_align, roi_align_separable
from modet.ops.roi_align_separable import separable_roi_align_applies


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
    pooler = ROIAlign((3, 4), 0.5, sampling_ratio, aligned)
    expected = tv_roi_align(x, rois, (3, 4), 0.5, sampling_ratio, aligned)
    # training (autograd on): torchvision's kernel itself
    pooled = pooler(x.clone().requires_grad_(), rois)
    assert pooled.requires_grad and torch.equal(pooled, expected)
    # inference: the separable products, equal up to float rounding
    with torch.no_grad():
        torch.testing.assert_close(pooler(x, rois), expected, rtol=1e-5, atol=1e-6)
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


def _random_regions(generator, images, height, width, scale, count):
    """Regions of every kind: inside, across and beyond the map's edges, thin, empty, inverted."""
    corner = torch.rand(count, 2, generator=generator) * torch.tensor([width, height]) / scale * 1.4 - 10
    size = torch.rand(count, 2, generator=generator) ** 3 * torch.tensor([width, height]) / scale * 1.2
    size[: count // 8] = 0.0
    size[count // 8 : count // 4, 0] = -0.5  # inverted by less than a sample (torchvision fails beyond)
    index = torch.randint(0, images, (count, 1), generator=generator).float()
    return torch.cat([index, corner, corner + size], dim=1)


@pytest.mark.parametrize("output_size", [(7, 7), (14, 14), (3, 5), (1, 1)])
def test_inference_pools_as_torchvision_up_to_rounding(output_size):
    generator = torch.Generator().manual_seed(0)
    for trial in range(40):
        images = 1 + trial % 2
        height, width = (int(v) for v in torch.randint(1, 40, (2,), generator=generator))
        x = torch.randn(images, 5, height, width, generator=generator)
        scale = (1.0, 0.5, 0.25, 0.125)[trial % 4]
        sampling_ratio = (0, 0, 2, 1, 3)[trial % 5]
        aligned = trial % 3 != 0
        rois = _random_regions(generator, images, height, width, scale, 24)
        expected = tv_roi_align(x, rois, output_size, scale, sampling_ratio, aligned)
        with torch.no_grad():
            pooled = ROIAlign(output_size, scale, sampling_ratio, aligned)(x, rois)
        torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-6, msg=f"trial {trial}")


def test_inference_on_channels_last_and_float64_features():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 30, 40, generator=generator, dtype=torch.float64)
    rois = _random_regions(generator, 2, 30, 40, 0.25, 64).double()
    expected = tv_roi_align(x, rois, (7, 7), 0.25, 0, True)
    with torch.no_grad():
        pooler = ROIAlign((7, 7), 0.25, 0)
        torch.testing.assert_close(pooler(x, rois), expected, rtol=1e-12, atol=1e-12)
        x, rois = x.float(), rois.float()
        pooled = pooler(x.contiguous(memory_format=torch.channels_last), rois)
    torch.testing.assert_close(pooled, tv_roi_align(x, rois, (7, 7), 0.25, 0, True), rtol=1e-5, atol=1e-6)
    assert pooled.is_contiguous()


def test_many_regions_are_pooled_in_parts_with_the_same_result(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 20, 30, generator=generator)
    rois = _random_regions(generator, 2, 20, 30, 0.5, 50)
    with torch.no_grad():
        whole = ROIAlign((7, 7), 0.5, 0)(x, rois)
        monkeypatch.setattr(roi_align_separable, "_MAX_REGIONS", 8)
        parts = ROIAlign((7, 7), 0.5, 0)(x, rois)
    torch.testing.assert_close(parts, whole, rtol=0, atol=0)


def test_regions_with_too_many_samples_or_non_finite_corners_use_torchvision():
    x = torch.randn(1, 2, 300, 300)
    huge = torch.tensor([[0, 0.0, 0.0, 1200.0, 1000.0]])  # 143 samples per bin along y at scale 1
    non_finite = torch.tensor([[0, 0.0, float("nan"), 10.0, 10.0]])
    assert not separable_roi_align_applies(huge, (7, 7), 1.0, 0)
    assert not separable_roi_align_applies(non_finite, (7, 7), 1.0, 0)
    assert not separable_roi_align_applies(non_finite, (7, 7), 1.0, 2)
    assert not separable_roi_align_applies(huge, (7, 7), 1 / 16, 100)  # 100 samples per bin
    assert separable_roi_align_applies(huge, (7, 7), 1.0, 2)  # a fixed grid: 2 samples per bin
    assert separable_roi_align_applies(huge, (7, 7), 1 / 16, 0) and separable_roi_align_applies(
        huge[:0], (7, 7), 1.0, 0
    )
    with torch.no_grad():
        for rois in (huge, non_finite):
            expected = tv_roi_align(x, rois, (7, 7), 1.0, 0, True)
            pooled = ROIAlign((7, 7), 1.0, 0)(x, rois)
            torch.testing.assert_close(pooled, expected, rtol=0, atol=0, equal_nan=True)


def test_under_bfloat16_autocast_regions_are_pooled_in_float32_from_float32_boxes():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 40, 50).bfloat16()
    xy = torch.rand(300, 2) * 150 + 0.3
    rois = torch.cat([torch.zeros(300, 1), xy, xy + torch.rand(300, 2) * 60 + 1], dim=1)
    pooler = ROIAlign((7, 7), spatial_scale=0.25, sampling_ratio=0)
    expected = tv_roi_align(x.float(), rois, (7, 7), 0.25, 0, True).bfloat16()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        pooled = pooler(x, rois)
    assert pooled.dtype == torch.bfloat16
    # float32 products (autocast off inside): at most one bfloat16 rounding step apart
    torch.testing.assert_close(pooled.float(), expected.float(), rtol=2**-7, atol=1e-6)
    # detectron2 rounds the boxes to the features' dtype first: corners move by up to 0.5 px here
    assert not torch.equal(rois.bfloat16().float(), rois)
