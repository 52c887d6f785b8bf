from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from checkpoint_helpers import TinyNet

from modet.checkpoint import Checkpointer, DetectionCheckpointer, PeriodicCheckpointer
from modet.checkpoint.testing import assert_same_state


def _trained(seed: int) -> tuple[TinyNet, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    model = TinyNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for _ in range(3):
        loss = model(torch.rand(2, 3, 6, 6)).square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


@pytest.mark.parametrize("checkpointer_class", [Checkpointer, DetectionCheckpointer])
def test_save_and_load_round_trip_bit_for_bit(tmp_path: Path, checkpointer_class: type[Checkpointer]) -> None:
    model, optimizer, scheduler = _trained(seed=0)
    saver = checkpointer_class(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler)
    saver.save("model_0000999", iteration=999, note="hello")
    path = tmp_path / "model_0000999.pth"
    assert path.is_file() and (tmp_path / "last_checkpoint").read_text() == "model_0000999.pth"

    fresh_model, fresh_optimizer, fresh_scheduler = _trained(seed=1)
    loader = checkpointer_class(fresh_model, str(tmp_path), optimizer=fresh_optimizer, scheduler=fresh_scheduler)
    extra = loader.load(str(path))
    assert extra == {"iteration": 999, "note": "hello"}
    assert_same_state(fresh_model.state_dict(), model.state_dict())
    assert_same_state(fresh_optimizer.state_dict(), optimizer.state_dict())
    assert_same_state(fresh_scheduler.state_dict(), scheduler.state_dict())
    assert loader.incompatible_keys.missing_keys == [] and loader.incompatible_keys.unexpected_keys == []

    # Saving what was loaded writes the same bytes again.
    loader.save("again", iteration=999, note="hello")
    assert (tmp_path / "again.pth").read_bytes() == path.read_bytes()


def test_load_of_an_empty_path_starts_from_scratch(tmp_path: Path) -> None:
    model = TinyNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert Checkpointer(model).load("") == {}
    assert_same_state(model.state_dict(), before)


def test_resume_or_load_prefers_last_checkpoint_only_when_resuming(tmp_path: Path) -> None:
    model, optimizer, _ = _trained(seed=0)
    out = tmp_path / "out"
    Checkpointer(model, str(out), optimizer=optimizer).save("model_0000004", iteration=4)
    pretrained_model, _, _ = _trained(seed=2)
    pretrained = tmp_path / "pretrained.pth"
    torch.save(pretrained_model.state_dict(), pretrained)

    fresh, fresh_optimizer, _ = _trained(seed=1)
    checkpointer = Checkpointer(fresh, str(out), optimizer=fresh_optimizer)
    assert checkpointer.has_checkpoint()
    assert checkpointer.get_checkpoint_file() == str(out / "model_0000004.pth")
    assert checkpointer.resume_or_load(str(pretrained), resume=True) == {"iteration": 4}
    assert_same_state(fresh.state_dict(), model.state_dict())
    assert_same_state(fresh_optimizer.state_dict(), optimizer.state_dict())

    other, other_optimizer, _ = _trained(seed=1)
    untouched_optimizer_state = other_optimizer.state_dict()
    Checkpointer(other, str(out), optimizer=other_optimizer).resume_or_load(str(pretrained), resume=False)
    assert_same_state(other.state_dict(), pretrained_model.state_dict())
    assert_same_state(other_optimizer.state_dict(), untouched_optimizer_state)

    empty = Checkpointer(TinyNet(), str(tmp_path / "nothing"))
    assert not empty.has_checkpoint() and empty.get_checkpoint_file() == ""
    assert empty.get_all_checkpoint_files() == []


def test_load_only_the_named_checkpointables(tmp_path: Path) -> None:
    model, optimizer, scheduler = _trained(seed=0)
    Checkpointer(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler).save("m")
    fresh, fresh_optimizer, fresh_scheduler = _trained(seed=1)
    scheduler_before = fresh_scheduler.state_dict()
    extra = Checkpointer(fresh, optimizer=fresh_optimizer, scheduler=fresh_scheduler).load(
        str(tmp_path / "m.pth"), checkpointables=["optimizer"]
    )
    assert list(extra) == ["scheduler"]
    assert_same_state(fresh_optimizer.state_dict(), optimizer.state_dict())
    assert fresh_scheduler.state_dict() == scheduler_before
    with pytest.raises(KeyError, match="'ema' is not a checkpointable"):
        Checkpointer(fresh, optimizer=fresh_optimizer).load(str(tmp_path / "m.pth"), checkpointables=["ema"])


def test_checkpointables_must_have_a_state_dict_and_unique_keys() -> None:
    with pytest.raises(TypeError, match=r"add_checkpointable\('opt'\) needs an object with a state_dict"):
        Checkpointer(TinyNet(), opt=object())
    checkpointer = Checkpointer(TinyNet(), opt=torch.optim.SGD(TinyNet().parameters(), lr=1))
    with pytest.raises(KeyError, match="'opt' already used"):
        checkpointer.add_checkpointable("opt", torch.optim.SGD(TinyNet().parameters(), lr=1))


def test_nothing_is_written_without_save_dir_or_when_save_to_disk_is_false(tmp_path: Path) -> None:
    Checkpointer(TinyNet()).save("model")
    Checkpointer(TinyNet(), str(tmp_path), save_to_disk=False).save("model")
    DetectionCheckpointer(TinyNet(), str(tmp_path), save_to_disk=False).save("model")
    assert os.listdir(tmp_path) == []
    # Not distributed: DetectionCheckpointer is the main process and saves by default.
    DetectionCheckpointer(TinyNet(), str(tmp_path)).save("model")
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model.pth"]


def test_an_interrupted_save_leaves_the_previous_checkpoint_and_last_checkpoint_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, optimizer, _ = _trained(seed=0)
    checkpointer = Checkpointer(model, str(tmp_path), optimizer=optimizer)
    checkpointer.save("model_0000009", iteration=9)
    previous_bytes = (tmp_path / "model_0000009.pth").read_bytes()
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        """Writes part of a real checkpoint, then the disk "fills up"."""
        real_save(obj, f, *args, **kwargs)
        f.truncate(len(previous_bytes) // 3)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with torch.no_grad():
        model.cls_score.weight.add_(1.0)
    for name in ("model_0000019", "model_0000009"):  # a new file, and overwriting the previous one
        with pytest.raises(OSError, match="No space left"):
            checkpointer.save(name, iteration=19)
        assert (tmp_path / "model_0000009.pth").read_bytes() == previous_bytes
        assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
        assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]

    monkeypatch.undo()
    fresh = TinyNet()
    assert Checkpointer(fresh, str(tmp_path)).resume_or_load("", resume=True)["iteration"] == 9
    assert not torch.equal(fresh.cls_score.weight, model.cls_score.weight)


def test_a_failed_last_checkpoint_write_keeps_the_old_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpointer = Checkpointer(TinyNet(), str(tmp_path))
    checkpointer.save("model_0000000")
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(dst) == "last_checkpoint":
            raise OSError("disk gone")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk gone"):
        checkpointer.save("model_0000001")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000000.pth", "model_0000001.pth"]


def test_periodic_checkpointer_saves_every_period_and_the_final(tmp_path: Path) -> None:
    checkpointer = Checkpointer(TinyNet(), str(tmp_path))
    periodic = PeriodicCheckpointer(checkpointer, period=3, max_iter=8)
    for iteration in range(8):
        periodic.step(iteration, lr=0.1)
    names = sorted(os.listdir(tmp_path))
    assert names == ["last_checkpoint", "model_0000002.pth", "model_0000005.pth", "model_final.pth"]
    assert checkpointer.get_all_checkpoint_files() == [str(tmp_path / n) for n in names[1:]]
    final = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert final["iteration"] == 7 and final["lr"] == 0.1
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "model_final.pth")

    periodic.save("manual", iteration=100)
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "manual.pth")


def test_periodic_checkpointer_keeps_only_max_to_keep(tmp_path: Path) -> None:
    checkpointer = Checkpointer(TinyNet(), str(tmp_path))
    periodic = PeriodicCheckpointer(checkpointer, period=2, max_iter=10, max_to_keep=2, file_prefix="ckpt")
    for iteration in range(10):
        periodic.step(iteration)
    assert sorted(os.listdir(tmp_path)) == ["ckpt_0000007.pth", "ckpt_0000009.pth", "ckpt_final.pth", "last_checkpoint"]


def test_max_to_keep_never_deletes_the_file_last_checkpoint_names(tmp_path: Path) -> None:
    checkpointer = Checkpointer(TinyNet(), str(tmp_path))
    periodic = PeriodicCheckpointer(checkpointer, period=1, max_to_keep=1)
    periodic.step(0)
    periodic.step(1)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.pth"]
    # Re-running an iteration (e.g. after resuming) saves the same file again: it must survive.
    periodic.step(1)
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "model_0000001.pth")
    assert (tmp_path / "model_0000001.pth").is_file()


def test_a_periodic_checkpointer_that_does_not_save_deletes_nothing(tmp_path: Path) -> None:
    """A non-main process (save_to_disk=False) sees the main process's files but must not prune them."""
    main = PeriodicCheckpointer(Checkpointer(TinyNet(), str(tmp_path)), period=1)
    other = PeriodicCheckpointer(Checkpointer(TinyNet(), str(tmp_path), save_to_disk=False), period=1, max_to_keep=1)
    for iteration in range(3):
        main.step(iteration)
        other.step(iteration)
    assert len(main.checkpointer.get_all_checkpoint_files()) == 3


def test_periodic_checkpointer_rejects_bad_arguments() -> None:
    checkpointer = Checkpointer(TinyNet())
    with pytest.raises(ValueError, match="period must be positive"):
        PeriodicCheckpointer(checkpointer, period=0)
    with pytest.raises(ValueError, match="max_to_keep must be positive"):
        PeriodicCheckpointer(checkpointer, period=1, max_to_keep=0)
