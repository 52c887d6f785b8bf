from collections import OrderedDict

import pytest
import torch
from torch import nn

from modet.ops import (
    CycleBatchNormList,
    FrozenBatchNorm2d,
    LayerNorm,
    NaiveSyncBatchNorm,
    get_norm,
)


def _trained_bn(channels=4, eps=1e-5):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(channels, eps=eps)
    bn.running_mean.copy_(torch.randn(channels))
    bn.running_var.copy_(torch.rand(channels) + 0.5)
    bn.weight.data.copy_(torch.randn(channels))
    bn.bias.data.copy_(torch.randn(channels))
    return bn.eval()


def test_frozen_bn_equals_bn_in_eval_with_and_without_grad():
    bn = _trained_bn()
    frozen = FrozenBatchNorm2d.convert_frozen_batchnorm(bn)
    assert isinstance(frozen, FrozenBatchNorm2d)
    x = torch.randn(2, 4, 3, 5)
    assert torch.allclose(frozen(x), bn(x), atol=1e-6)
    x.requires_grad_(True)
    out = frozen(x)
    assert torch.allclose(out, bn(x), atol=1e-6)
    out.sum().backward()
    expected_grad = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).reshape(1, -1, 1, 1).expand_as(x)
    assert torch.allclose(x.grad, expected_grad.detach(), atol=1e-6)
    assert list(dict(frozen.named_parameters())) == []  # everything is a buffer


def test_frozen_bn_defaults_are_identity():
    frozen = FrozenBatchNorm2d(3)
    x = torch.randn(1, 3, 2, 2)
    assert torch.allclose(frozen(x), x, atol=1e-6)
    assert frozen.eps == 1e-5
    assert repr(frozen) == "FrozenBatchNorm2d(num_features=3, eps=1e-05)"


def test_convert_frozen_batchnorm_in_place_on_children():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), _trained_bn(), nn.Sequential(nn.BatchNorm2d(4)))
    converted = FrozenBatchNorm2d.convert_frozen_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], FrozenBatchNorm2d) and isinstance(model[2][0], FrozenBatchNorm2d)
    assert isinstance(model[0], nn.Conv2d)


def _state_dict(version, **tensors):
    state = OrderedDict((k, v.clone()) for k, v in tensors.items())
    state._metadata = OrderedDict({"": {"version": version}})
    return state


def test_load_state_dict_versions():
    weight, bias = torch.tensor([2.0, 3.0]), torch.tensor([0.5, -1.0])
    mean, var = torch.tensor([0.1, 0.2]), torch.tensor([4.0, 9.0])
    eps = 1e-5

    # No version (e.g. Caffe2 conversions): only weight/bias; running stats become identity.
    frozen = FrozenBatchNorm2d(2)
    frozen.load_state_dict(_state_dict(None, weight=weight, bias=bias))
    assert torch.equal(frozen.running_mean, torch.zeros(2)) and torch.equal(frozen.running_var, torch.ones(2))

    # Version 1: no running stats either, and running_var was used without eps.
    frozen.load_state_dict(_state_dict(1, weight=weight, bias=bias))
    assert torch.allclose(frozen.running_var, torch.ones(2) - eps)

    # Version 2: running stats present, running_var stored without eps.
    frozen.load_state_dict(_state_dict(2, weight=weight, bias=bias, running_mean=mean, running_var=var))
    assert torch.allclose(frozen.running_var, var - eps) and torch.equal(frozen.running_mean, mean)

    # Version 3 (current): loaded as is; the caller's tensors are not modified.
    state = _state_dict(3, weight=weight, bias=bias, running_mean=mean, running_var=var)
    frozen.load_state_dict(state)
    assert torch.equal(frozen.running_var, var) and torch.equal(state["running_var"], var)

    # A current state_dict round-trips.
    again = FrozenBatchNorm2d(2)
    again.load_state_dict(frozen.state_dict())
    assert torch.equal(again.running_var, var)


def test_frozen_bn_bad_input_names_channels():
    with pytest.raises(ValueError, match=r"\(N, 3"):
        FrozenBatchNorm2d(3)(torch.zeros(1, 4, 2, 2))


def test_get_norm_every_name():
    assert get_norm("", 8) is None and get_norm(None, 8) is None
    assert type(get_norm("BN", 8)) is nn.BatchNorm2d
    assert isinstance(get_norm("FrozenBN", 8), FrozenBatchNorm2d)
    gn = get_norm("GN", 64)
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 32 and gn.num_channels == 64
    assert isinstance(get_norm("LN", 8), LayerNorm)
    assert isinstance(get_norm("naiveSyncBN", 8), NaiveSyncBatchNorm)
    assert get_norm("naiveSyncBN_N", 8)._stats_mode == "N"
    for name in ("SyncBN", "nnSyncBN"):
        sync = get_norm(name, 8)
        assert isinstance(sync, nn.SyncBatchNorm) and sync.num_features == 8
        # Without a process group SyncBatchNorm is plain BN, in eval and in training.
        x = torch.randn(2, 8, 3, 3)
        assert torch.allclose(sync(x), nn.functional.batch_norm(x, None, None, training=True), atol=1e-6)
        sync.eval()
        mean, var = sync.running_mean.reshape(1, -1, 1, 1), sync.running_var.reshape(1, -1, 1, 1)
        assert torch.allclose(sync(x), (x - mean) / torch.sqrt(var + 1e-5), atol=1e-6)
    assert isinstance(get_norm(lambda c: nn.GroupNorm(2, c), 8), nn.GroupNorm)
    with pytest.raises(ValueError, match="unknown norm 'BatchNorm'"):
        get_norm("BatchNorm", 8)
    with pytest.raises(TypeError, match="norm"):
        get_norm(3, 8)


def test_naive_sync_bn_is_bn_with_one_worker():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    naive, plain = NaiveSyncBatchNorm(3), nn.BatchNorm2d(3)
    assert torch.allclose(naive(x), plain(x), atol=1e-6)
    assert torch.allclose(naive.running_mean, plain.running_mean) and torch.allclose(
        naive.running_var, plain.running_var
    )
    with pytest.raises(ValueError, match="stats_mode"):
        NaiveSyncBatchNorm(3, stats_mode="M")


def test_frozen_bn_refuses_bn_without_running_stats():
    with pytest.raises(ValueError, match="no running statistics"):
        FrozenBatchNorm2d.convert_frozen_batchnorm(nn.BatchNorm2d(3, track_running_stats=False))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"momentum": None}, "momentum=None"),
        ({"affine": False}, "affine=True"),
        ({"track_running_stats": False}, "track_running_stats"),
    ],
)
def test_naive_sync_bn_with_several_workers_names_what_it_cannot_do(monkeypatch, kwargs, match):
    # Checked before any collective call, so a faked world size of 2 reaches it without workers.
    monkeypatch.setattr("modet.ops.batch_norm._world_size", lambda: 2)
    bn = NaiveSyncBatchNorm(3, **kwargs).train()
    with pytest.raises(ValueError, match=match):
        bn(torch.randn(2, 3, 4, 4))


def test_layer_norm_normalizes_channels():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 4)
    ln = LayerNorm(5)
    expected = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (5,), eps=1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(ln(x), expected, atol=1e-5)


def test_cycle_batch_norm_list_keeps_separate_statistics():
    cycle = CycleBatchNormList(2, num_features=3)
    first, second = torch.randn(4, 3, 2, 2) + 5, torch.randn(4, 3, 2, 2) - 5
    cycle(first)
    cycle(second)
    assert torch.all(cycle[0].running_mean > 0) and torch.all(cycle[1].running_mean < 0)
    assert cycle._pos == 0 and cycle.weight.shape == (3,)


def test_num_batches_tracked_follows_detectron2():
    # built directly: no num_batches_tracked in the state dict (detectron2's FrozenBN zoo models)
    assert set(FrozenBatchNorm2d(4).state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    # frozen by conversion (a SyncBN/BN stage under FREEZE_AT): the BN's count is kept and saved
    trained = nn.BatchNorm2d(4).train()
    trained(torch.randn(8, 4, 3, 3))  # one training step: num_batches_tracked == 1
    synced = nn.SyncBatchNorm(4)
    synced.num_batches_tracked.fill_(3)  # SyncBN cannot step without a process group
    for bn in (trained, synced):
        frozen = FrozenBatchNorm2d.convert_frozen_batchnorm(nn.Sequential(bn))[0]
        assert isinstance(frozen, FrozenBatchNorm2d)
        assert frozen.state_dict()["num_batches_tracked"].item() == bn.num_batches_tracked.item() > 0
    back = FrozenBatchNorm2d.convert_frozenbatchnorm2d_to_batchnorm2d(nn.Sequential(frozen))[0]
    assert type(back) is nn.BatchNorm2d and back.num_batches_tracked.item() == 3
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(back, name), getattr(frozen, name))
    fresh = FrozenBatchNorm2d.convert_frozenbatchnorm2d_to_batchnorm2d(FrozenBatchNorm2d(4))
    assert fresh.num_batches_tracked.item() == 0
