import pytest
import torch
from torch.nn import functional as F

from modet.ops import winograd
from modet.ops.winograd import winograd_conv3x3


@pytest.mark.parametrize(
    "shape, padding",
    [
        ((2, 5, 14, 14), (1, 1)),  # a multiple of 4: whole tiles
        ((1, 3, 13, 17), (1, 1)),  # cut last tiles in both directions
        ((3, 4, 7, 9), (0, 0)),
        ((1, 4, 9, 6), (2, 1)),
        ((2, 2, 3, 3), (0, 1)),  # a single output row
        ((1, 2, 1, 1), (1, 1)),  # a single pixel
    ],
)
def test_equals_the_convolution_in_float64(shape, padding):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    weight = torch.randn(6, shape[1], 3, 3, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    expected = F.conv2d(x, weight, bias, padding=padding)
    out = winograd_conv3x3(x, weight, bias, padding)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-11)
    assert out.is_contiguous(memory_format=torch.channels_last)
    without_bias = F.conv2d(x, weight, None, padding=padding)
    torch.testing.assert_close(winograd_conv3x3(x, weight, None, padding), without_bias, rtol=0, atol=1e-11)


def test_blocks_of_regions_and_bands_of_a_large_map(monkeypatch):
    """Tiles go in blocks: whole images of a region batch, bands of tile rows of a large map;
    every tile lands where it belongs, whatever the block size."""
    torch.manual_seed(0)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    regions = torch.randn(7, 3, 14, 14, dtype=torch.float64)  # 16 tiles each
    large = torch.randn(2, 3, 41, 30, dtype=torch.float64)  # 11 x 8 tiles each
    for tiles_per_block in (1, 16, 40, 50, 10_000):
        monkeypatch.setattr(winograd, "_TILES_PER_BLOCK", tiles_per_block)
        for x in (regions, large):
            expected = F.conv2d(x, weight, bias, padding=1)
            torch.testing.assert_close(winograd_conv3x3(x, weight, bias), expected, rtol=0, atol=1e-11)
    monkeypatch.setattr(winograd, "_TILES_PER_BLOCK", 50)
    spans = [(images.start, images.stop, rows.start, rows.stop) for images, rows in winograd._blocks(7, 4, 4)]
    assert spans == [(0, 3, 0, 4), (3, 6, 0, 4), (6, 7, 0, 4)]  # three 16-tile images a block
    spans = [(images.start, images.stop, rows.start, rows.stop) for images, rows in winograd._blocks(1, 11, 8)]
    assert spans == [(0, 1, 0, 6), (0, 1, 6, 11)]  # bands of six 8-tile rows


def test_float32_error_is_a_few_times_onednns():
    """Winograd rounds otherwise than a direct convolution: about 1e-5 relative on unit-scale
    outputs of 256 channels, where oneDNN's own error is a few times smaller."""
    torch.manual_seed(0)
    x = torch.randn(4, 256, 14, 14).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(256, 256, 3, 3) / (9 * 256) ** 0.5
    bias = torch.randn(256)
    exact = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    winograd_error = (winograd_conv3x3(x, weight, bias).double() - exact).abs().max().item()
    direct_error = (F.conv2d(x, weight, bias, padding=1).double() - exact).abs().max().item()
    scale = exact.abs().max().item()
    assert 1e-7 < winograd_error / scale < 3e-5
    assert direct_error < winograd_error < 20 * direct_error


def test_rejects_a_kernel_of_other_channels_and_a_map_without_output():
    x = torch.zeros(1, 4, 8, 8)
    with pytest.raises(ValueError, match=r"\(K, 4, 3, 3\) kernel, got \(2, 3, 3, 3\)"):
        winograd_conv3x3(x, torch.zeros(2, 3, 3, 3), None)
    with pytest.raises(ValueError, match="1x1 map with padding"):
        winograd_conv3x3(torch.zeros(1, 4, 1, 1), torch.zeros(2, 4, 3, 3), None, (0, 0))
