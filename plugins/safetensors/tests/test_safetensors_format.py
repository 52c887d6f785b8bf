from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from modet.checkpoint import (
    Checkpointer,
    CorruptCheckpointError,
    DetectionCheckpointer,
    find_format,
    get_checkpoint_formats,
    load_checkpoint_file,
)
from modet.checkpoint.testing import assert_same_state
from modet.core.plugins import get_plugin_manager, list_plugins, reset_plugin_manager


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    reset_plugin_manager()
    yield
    reset_plugin_manager()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.conv(x)).mean((2, 3)))


def _trained(seed: int) -> tuple[Net, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    model = Net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 2], gamma=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.rand(2, 3, 5, 5)).square().sum().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def test_the_installed_entry_point_adds_the_format() -> None:
    assert "safetensors" in {fmt.name for fmt in get_checkpoint_formats()}
    info = next(p for p in list_plugins() if p.name == "safetensors")
    assert info.distribution == "modet-safetensors"
    assert find_format("model_final.safetensors").name == "safetensors"


def test_blocking_the_plugin_removes_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODET_BLOCKED_PLUGINS", "modet-safetensors")
    reset_plugin_manager()
    assert "safetensors" not in {fmt.name for fmt in get_checkpoint_formats()}
    assert get_plugin_manager().get_plugin("checkpoint") is not None


def test_a_checkpoint_round_trips_bit_for_bit(tmp_path: Path) -> None:
    model, optimizer, scheduler = _trained(seed=0)
    Checkpointer(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler).save(
        "model_0000001.safetensors", iteration=1, lr_history=(0.01, 0.001), note="hi"
    )
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.safetensors"]

    fresh, fresh_optimizer, fresh_scheduler = _trained(seed=1)
    checkpointer = DetectionCheckpointer(fresh, str(tmp_path), optimizer=fresh_optimizer, scheduler=fresh_scheduler)
    assert checkpointer.get_all_checkpoint_files() == [str(tmp_path / "model_0000001.safetensors")]
    extra = checkpointer.resume_or_load("", resume=True)
    assert extra == {"iteration": 1, "lr_history": (0.01, 0.001), "note": "hi"}
    assert_same_state(fresh.state_dict(), model.state_dict())
    assert_same_state(fresh_optimizer.state_dict(), optimizer.state_dict())
    assert_same_state(fresh_scheduler.state_dict(), scheduler.state_dict())
    # The module versions (state_dict._metadata) survive too.
    loaded = load_checkpoint_file(str(tmp_path / "model_0000001.safetensors"))["model"]
    assert loaded._metadata == model.state_dict()._metadata


def test_files_are_plain_state_dicts_to_other_tools(tmp_path: Path) -> None:
    model, optimizer, _ = _trained(seed=0)
    Checkpointer(model, str(tmp_path), optimizer=optimizer).save("m.safetensors")
    raw = load_file(tmp_path / "m.safetensors")
    for key, value in model.state_dict().items():
        assert torch.equal(raw[key], value)
    assert any(name.startswith("optimizer/state/0/") for name in raw)


def test_a_safetensors_file_from_another_tool_loads_as_a_state_dict(tmp_path: Path) -> None:
    source = Net()
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "hub.safetensors")
    model = Net()
    checkpointer = DetectionCheckpointer(model)
    assert checkpointer.load(str(tmp_path / "hub.safetensors")) == {}
    assert checkpointer.incompatible_keys.missing_keys == [] and checkpointer.incompatible_keys.unexpected_keys == []
    assert_same_state(model.state_dict(), source.state_dict())
    # Found by content too, whatever the file is called.
    (tmp_path / "hub.safetensors").rename(tmp_path / "weights.bin")
    assert find_format(str(tmp_path / "weights.bin")).name == "safetensors"


def test_shared_and_non_contiguous_tensors_are_saved(tmp_path: Path) -> None:
    base = torch.arange(12.0).view(3, 4)
    checkpoint = {"model": {"a": base, "tied": base, "t": base.t(), "row": base[1]}}
    path = tmp_path / "x.safetensors"
    from modet.checkpoint import save_checkpoint_file

    save_checkpoint_file(checkpoint, str(path))
    loaded = load_checkpoint_file(str(path))["model"]
    for key, value in checkpoint["model"].items():
        assert torch.equal(loaded[key], value)


def test_unstorable_extras_and_truncated_files_give_clear_errors(tmp_path: Path) -> None:
    checkpointer = Checkpointer(Net(), str(tmp_path))
    with pytest.raises(TypeError, match=r"Cannot store object at 'custom/thing'"):
        checkpointer.save("bad.safetensors", custom={"thing": object()})
    assert os.listdir(tmp_path) == []  # nothing half-written

    checkpointer.save("good.safetensors", iteration=3)
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptCheckpointError, match=r"cut\.safetensors as safetensors; the file is truncated"):
        DetectionCheckpointer(Net()).load(str(tmp_path / "cut.safetensors"))
