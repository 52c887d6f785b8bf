import pytest
import torch
from torch import nn
from torch.nn import functional as F

from modet.ops import DeformConv, ModulatedDeformConv


def test_zero_offset_is_a_plain_convolution():
    torch.manual_seed(0)
    conv = DeformConv(4, 6, kernel_size=3, stride=2, padding=1, groups=2, deformable_groups=2)
    x = torch.randn(2, 4, 7, 7)
    offset = torch.zeros(2, 2 * 2 * 9, 4, 4)
    assert torch.allclose(conv(x, offset), F.conv2d(x, conv.weight, None, 2, 1, 1, 2), atol=1e-5)
    assert list(conv.state_dict()) == ["weight"] and conv.bias is None


def test_integer_offset_shifts_the_sampling():
    # A 1x1 kernel with offset (dy, dx) = (0, 1) reads the pixel to the right (0 past the border).
    conv = DeformConv(1, 1, kernel_size=1)
    nn.init.ones_(conv.weight)
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    offset = torch.zeros(1, 2, 3, 4)
    offset[:, 1] = 1.0
    expected = torch.cat([x[..., 1:], torch.zeros(1, 1, 3, 1)], dim=-1)
    assert torch.allclose(conv(x, offset), expected)


def test_modulated_with_unit_mask_is_conv_plus_bias():
    torch.manual_seed(0)
    conv = ModulatedDeformConv(3, 5, kernel_size=3, padding=1, norm=nn.GroupNorm(1, 5), activation=F.relu)
    nn.init.normal_(conv.bias)
    x = torch.randn(1, 3, 6, 6)
    out = conv(x, torch.zeros(1, 18, 6, 6), torch.ones(1, 9, 6, 6))
    expected = F.relu(conv.norm(F.conv2d(x, conv.weight, conv.bias, padding=1)))
    assert torch.allclose(out, expected, atol=1e-5)
    half = conv(x, torch.zeros(1, 18, 6, 6), torch.full((1, 9, 6, 6), 0.5))
    assert not torch.allclose(half, out)
    assert sorted(conv.state_dict()) == ["bias", "norm.bias", "norm.weight", "weight"]
    assert ModulatedDeformConv(3, 5, 3, bias=False).bias is None


def test_empty_batch_and_bad_inputs():
    conv = DeformConv(2, 3, kernel_size=3, padding=1)
    assert conv(torch.zeros(0, 2, 5, 5), torch.zeros(0, 18, 5, 5)).shape == (0, 3, 5, 5)
    with pytest.raises(ValueError, match="offset"):
        conv(torch.zeros(1, 2, 5, 5), torch.zeros(1, 9, 5, 5))
    with pytest.raises(ValueError, match="in_channels=2"):
        conv(torch.zeros(1, 3, 5, 5), torch.zeros(1, 18, 5, 5))
    modulated = ModulatedDeformConv(2, 3, kernel_size=3, padding=1)
    with pytest.raises(ValueError, match="mask"):
        modulated(torch.zeros(1, 2, 5, 5), torch.zeros(1, 18, 5, 5), torch.zeros(1, 18, 5, 5))
    with pytest.raises(ValueError, match="bias"):
        DeformConv(2, 3, 3, bias=True)
    with pytest.raises(ValueError, match="groups"):
        DeformConv(3, 4, 3, groups=2)
