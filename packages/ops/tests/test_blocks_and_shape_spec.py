import attrs
import pytest
import torch
from torch import nn

from modet.ops import CNNBlockBase, Conv2d, DepthwiseSeparableConv2d, FrozenBatchNorm2d, ShapeSpec, get_norm


class _Block(CNNBlockBase):
    def __init__(self):
        super().__init__(3, 8, stride=2)
        self.conv = Conv2d(3, 8, 3, stride=2, padding=1, bias=False, norm=get_norm("BN", 8))

    def forward(self, x):
        return self.conv(x)


def test_cnn_block_freeze():
    block = _Block()
    assert (block.in_channels, block.out_channels, block.stride) == (3, 8, 2)
    assert block.freeze() is block
    assert isinstance(block.conv.norm, FrozenBatchNorm2d)
    assert all(not p.requires_grad for p in block.parameters())
    assert block(torch.randn(1, 3, 8, 8)).shape == (1, 8, 4, 4)


def test_depthwise_separable_conv():
    module = DepthwiseSeparableConv2d(4, 6, norm1="BN", activation1=nn.ReLU(), norm2="", activation2=None)
    assert module.depthwise.groups == 4 and module.depthwise.bias is None
    assert module.pointwise.bias is not None and torch.all(module.pointwise.bias == 0)
    assert module(torch.randn(2, 4, 5, 5)).shape == (2, 6, 5, 5)


def test_shape_spec_is_a_frozen_slotted_value():
    spec = ShapeSpec(channels=256, stride=4)
    assert (spec.channels, spec.height, spec.width, spec.stride) == (256, None, None, 4)
    assert ShapeSpec(256, None, None, 4) == spec and hash(ShapeSpec(256, None, None, 4)) == hash(spec)
    assert ShapeSpec() == ShapeSpec(None, None, None, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.channels = 3
    assert not hasattr(spec, "__dict__")
    assert attrs.evolve(spec, stride=8).stride == 8


def test_shape_spec_validates_fields():
    with pytest.raises(TypeError, match="channels"):
        ShapeSpec(channels="256")
    with pytest.raises(TypeError, match="stride"):
        ShapeSpec(stride=4.0)
    with pytest.raises(ValueError, match="height"):
        ShapeSpec(height=-1)


def test_caffe2_weight_fills():
    from modet.ops.weight_init import c2_msra_fill, c2_xavier_fill

    torch.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    nn.init.ones_(conv.bias)
    c2_xavier_fill(conv)
    fan_in = 64 * 9
    assert conv.weight.abs().max() <= (3 / fan_in) ** 0.5 and torch.all(conv.bias == 0)
    assert conv.weight.var().item() == pytest.approx(1 / fan_in, rel=0.05)  # uniform(-b, b): b^2 / 3
    nn.init.ones_(conv.bias)
    c2_msra_fill(conv)
    fan_out = 128 * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05) and torch.all(conv.bias == 0)
