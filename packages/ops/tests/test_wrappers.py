import pytest
import torch
from torch import nn
from torch.nn import functional as F

from modet.ops import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    FrozenBatchNorm2d,
    Linear,
    cat,
    cross_entropy,
    interpolate,
    move_device_like,
    nonzero_tuple,
    shapes_to_tensor,
    wrappers,
)


def test_conv2d_applies_norm_then_activation():
    torch.manual_seed(0)
    norm = nn.BatchNorm2d(4).eval()
    norm.running_mean.fill_(1.0)
    conv = Conv2d(3, 4, kernel_size=3, padding=1, bias=False, norm=norm, activation=F.relu)
    x = torch.randn(2, 3, 5, 5)
    expected = F.relu(norm(F.conv2d(x, conv.weight, None, padding=1)))
    assert torch.allclose(conv(x), expected)
    assert sorted(conv.state_dict()) == [
        "norm.bias",
        "norm.num_batches_tracked",
        "norm.running_mean",
        "norm.running_var",
        "norm.weight",
        "weight",
    ]


def test_conv2d_folds_a_frozen_norm_into_its_weights():
    torch.manual_seed(0)
    norm = FrozenBatchNorm2d(4)
    for name in ("weight", "bias", "running_mean"):
        getattr(norm, name).normal_()
    norm.running_var.uniform_(0.5, 2.0)
    conv = Conv2d(3, 4, kernel_size=3, padding=1, bias=True, norm=norm, activation=F.relu)
    x = torch.randn(2, 3, 5, 5)
    expected = F.relu(norm(F.conv2d(x, conv.weight, conv.bias, padding=1)))
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
    # in training too, with gradients reaching the convolution's weights through the fold
    conv(x.requires_grad_()).sum().backward()
    assert conv.weight.grad is not None and x.grad is not None
    assert sorted(conv.state_dict()) == [
        "bias",
        "norm.bias",
        "norm.running_mean",
        "norm.running_var",
        "norm.weight",
        "weight",
    ]
    with pytest.raises(ValueError, match="4 output channels has a norm of 5"):
        Conv2d(3, 4, kernel_size=1, norm=FrozenBatchNorm2d(5))(x.detach())


def test_conv2d_with_winograd_agrees_with_torch_in_inference_and_is_torchs_own_in_training():
    torch.manual_seed(0)
    conv = Conv2d(128, 128, kernel_size=3, padding=1, activation=F.relu, winograd=True)
    plain = Conv2d(128, 128, kernel_size=3, padding=1, activation=F.relu)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 128, 30, 36)  # large enough for a Winograd path on every CPU
    expected = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1))
    with torch.no_grad():
        winograd = conv(x)
        torch.testing.assert_close(winograd, expected, rtol=1e-4, atol=2e-5)  # outputs of about 2
        if wrappers._winograd_algorithm(x, conv.weight, conv) is not None:
            assert not torch.equal(winograd, expected)  # another algorithm: other roundings
        assert torch.equal(plain(x), expected)  # off unless asked for
        assert conv(x[:0]).shape == (0, 128, 30, 36)
    out = conv(x)  # with autograd: torch's own convolution, differentiable
    assert torch.equal(out, expected) and out.requires_grad


@pytest.mark.parametrize("capability", ["AVX2", "AVX512", "DEFAULT"])
def test_winograd_runs_where_it_is_faster_than_onednn(monkeypatch, capability):
    """On AVX-512 CPUs modet's own, on maps of 48 tiles or more with 128 channels or more in and
    out; elsewhere NNPACK's at every size (where torch has NNPACK)."""
    monkeypatch.setattr(wrappers, "_cpu_capability", lambda: capability)
    nnpack = "nnpack" if torch.backends.nnpack.is_available() else None
    cases = {  # (in channels, out channels, height, width): AVX-512's choice
        (128, 128, 25, 34): "modet",  # 7 x 9 tiles: FPN's P5 of an 800x1067 image
        (256, 720, 100, 134): "modet",
        (256, 36, 100, 134): None,  # few output channels: the transforms cost more than they save
        (64, 128, 100, 134): None,
        (256, 256, 13, 17): None,  # 4 x 5 tiles
    }
    for (channels, out_channels, height, width), on_avx512 in cases.items():
        conv = Conv2d(channels, out_channels, kernel_size=3, padding=1, winograd=True)
        x = torch.zeros(1, channels, height, width)
        with torch.no_grad():
            chosen = wrappers._winograd_algorithm(x, conv.weight, conv)
            assert wrappers.channels_last_pays(x, conv) == (chosen != "nnpack")
        assert chosen == (on_avx512 if capability == "AVX512" else nnpack), (channels, out_channels, height, width)
    regions = torch.zeros(100, 256, 14, 14)  # the mask head's region batch
    with torch.no_grad():
        chosen = wrappers._winograd_algorithm(regions, conv.weight, conv)
    assert chosen == ("modet" if capability == "AVX512" else nnpack)
    for not_applicable in (dict(stride=2), dict(dilation=2), dict(groups=2)):
        conv = Conv2d(
            256, 256, kernel_size=3, padding=not_applicable.get("dilation", 1), winograd=True, **not_applicable
        )
        with torch.no_grad():
            assert wrappers._winograd_algorithm(torch.zeros(1, 256, 64, 64), conv.weight, conv) is None


def test_conv2d_empty_batch_keeps_output_shape():
    conv = Conv2d(3, 4, kernel_size=3, stride=2, padding=1, norm=nn.GroupNorm(2, 4))
    out = conv(torch.zeros(0, 3, 9, 9))
    assert out.shape == (0, 4, 5, 5)
    with pytest.raises(ValueError, match="SyncBatchNorm"):
        Conv2d(3, 4, 1, norm=nn.SyncBatchNorm(4))(torch.zeros(0, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv(torch.zeros(3, 9))


def test_exported_torch_layers():
    assert ConvTranspose2d is nn.ConvTranspose2d and BatchNorm2d is nn.BatchNorm2d and Linear is nn.Linear
    assert interpolate is F.interpolate


def test_cat_skips_copy_for_a_single_tensor():
    t = torch.ones(2, 3)
    assert cat([t]) is t
    assert torch.equal(cat([t, torch.zeros(1, 3)]), torch.cat([t, torch.zeros(1, 3)]))
    with pytest.raises(TypeError, match="tensors"):
        cat(t)


def test_nonzero_tuple_shapes_to_tensor_move_device_like():
    rows, cols = nonzero_tuple(torch.tensor([[0, 1], [1, 0]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    (index,) = nonzero_tuple(torch.tensor(True))
    assert index.tolist() == [0]
    assert torch.equal(shapes_to_tensor([3, 4]), torch.tensor([3, 4]))
    assert move_device_like(torch.ones(2), torch.zeros(1)).device == torch.device("cpu")


def test_cross_entropy_of_empty_input_is_zero_with_gradient():
    logits = torch.zeros(0, 5, requires_grad=True)
    loss = cross_entropy(logits, torch.zeros(0, dtype=torch.int64))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad.shape == (0, 5)
    logits = torch.tensor([[2.0, 0.0]])
    assert torch.allclose(cross_entropy(logits, torch.tensor([0])), F.cross_entropy(logits, torch.tensor([0])))


@pytest.mark.skipif(not torch.backends.nnpack.is_available(), reason="this torch build has no NNPACK")
def test_nnpack_gives_a_batch_of_images_exactly_what_each_image_gets_alone(monkeypatch):
    monkeypatch.setattr(wrappers, "_cpu_capability", lambda: "AVX2")  # NNPACK's path
    torch.manual_seed(0)
    conv = Conv2d(8, 64, kernel_size=3, padding=1, winograd=True)
    images = torch.randn(3, 8, 64, 72)
    with torch.no_grad():
        batched = conv(images)
        alone = torch.cat([conv(image[None]) for image in images])
        assert not torch.equal(batched, F.conv2d(images, conv.weight, conv.bias, padding=1))  # Winograd ran
    assert torch.equal(batched, alone)
