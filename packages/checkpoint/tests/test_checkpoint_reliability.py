"""Fault injection and bad input for checkpoints: what a user has on disk is never lost, and
every refusal names the file, the key and what to do."""

from __future__ import annotations

import argparse
import errno
import os
import pickle
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint_helpers import TinyNet

from modet.checkpoint import (
    Checkpointer,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CorruptCheckpointError,
    DetectionCheckpointer,
    IncompatibleCheckpointError,
    UnsafeCheckpointError,
    atomic_write,
    builtin_formats,
)
from modet.checkpoint.file_io import remove_stale_temporary_files
from modet.checkpoint.testing import assert_same_state


def _train_one_step(model: torch.nn.Module) -> torch.optim.Optimizer:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(2, 3, 6, 6)).square().sum().backward()
    optimizer.step()
    return optimizer


# -- bad files ----------------------------------------------------------------------------


def test_an_object_array_in_a_pkl_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    weights = {k: v.numpy() for k, v in TinyNet().state_dict().items()}
    weights["cls_score.bias"] = np.array([1.0, "two", None], dtype=object)
    path = tmp_path / "zoo.pkl"
    path.write_bytes(pickle.dumps({"model": weights, "__author__": "someone"}, protocol=2))
    model = TinyNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CorruptCheckpointError) as info:
        DetectionCheckpointer(model).load(str(path))
    message = str(info.value)
    assert str(path) in message and "'cls_score.bias'" in message and "dtype object" in message
    assert_same_state(model.state_dict(), before)  # refused before anything was loaded


def test_a_local_file_with_a_question_mark_in_its_name_loads(tmp_path: Path) -> None:
    source = TinyNet()
    path = tmp_path / "what?.pth"
    torch.save({"model": source.state_dict()}, path)
    model = TinyNet()
    DetectionCheckpointer(model).load(str(path))
    assert_same_state(model.state_dict(), source.state_dict())
    # A name that does not exist is reported whole, not cut at the "?".
    with pytest.raises(CheckpointNotFoundError, match=r"why\?\.pth not found"):
        DetectionCheckpointer(model).load(str(tmp_path / "why?.pth"))


def test_an_unsafe_pth_is_refused_with_a_safe_way_to_convert_it(tmp_path: Path) -> None:
    source = TinyNet()
    path = tmp_path / "with_args.pth"
    torch.save({"model": source.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    model = TinyNet()
    with pytest.raises(UnsafeCheckpointError) as info:
        DetectionCheckpointer(model).load(str(path))
    message = str(info.value)
    assert str(path) in message and "argparse.Namespace" in message
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message
    assert 'torch.save({"model": model.state_dict()}' in message
    assert "torch.serialization.safe_globals([argparse.Namespace])" in message
    # The advice works: allowing just that class loads the file.
    with torch.serialization.safe_globals([argparse.Namespace]):
        extra = DetectionCheckpointer(model).load(str(path))
    assert extra["args"].lr == 0.1
    assert_same_state(model.state_dict(), source.state_dict())


# -- saving under faults -------------------------------------------------------------------


class _DiskFullFile:
    """A file object whose writes fail with ENOSPC once ``capacity`` bytes are written."""

    def __init__(self, path: str, capacity: int) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._left = capacity

    def write(self, data: bytes) -> int:
        if len(data) > self._left:
            self._file.write(bytes(data[: self._left]))
            self._left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()


def test_a_full_disk_is_a_clear_error_and_the_old_checkpoint_stays(tmp_path: Path, monkeypatch) -> None:
    model = TinyNet()
    checkpointer = Checkpointer(model, str(tmp_path))
    checkpointer.save("model_final", iteration=9)
    old_bytes = (tmp_path / "model_final.pth").read_bytes()

    monkeypatch.setattr(builtin_formats, "open", lambda path, mode: _DiskFullFile(path, 600), raising=False)
    with torch.no_grad():
        model.cls_score.weight.add_(1.0)
    with pytest.raises(CheckpointSaveError) as info:
        checkpointer.save("model_final", iteration=19)
    message = str(info.value)
    assert "disk is full" in message and "No space left on device" in message and "MiB free" in message
    assert f"{tmp_path / 'model_final.pth'} is unchanged" in message
    assert isinstance(info.value, OSError)
    assert (tmp_path / "model_final.pth").read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]  # no partial file left
    monkeypatch.undo()
    assert Checkpointer(TinyNet(), str(tmp_path)).resume_or_load("", resume=True) == {"iteration": 9}


def _killed_save(target: Path) -> str:
    """Start a save in a child process that is SIGKILLed mid-write; return the file it left."""
    before = set(os.listdir(target.parent))
    pid = os.fork()
    if pid == 0:  # the child: no cleanup handler of any kind runs after SIGKILL
        with atomic_write(target) as tmp:
            Path(tmp).write_bytes(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    (leftover,) = set(os.listdir(target.parent)) - before
    return leftover


def test_the_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path: Path) -> None:
    leftover = _killed_save(tmp_path / "model_0000009.pth")
    assert leftover.startswith(".model_0000009.pth.modet-") and leftover.endswith(".tmp")
    # Files that merely look temporary are the user's and stay.
    user_files = [".model_0000009.pth.a1b2c3.tmp", "notes.tmp", ".cache.tmp"]
    for name in user_files:
        (tmp_path / name).write_text("mine")

    Checkpointer(TinyNet(), str(tmp_path)).save("model_0000019")
    assert sorted(os.listdir(tmp_path)) == sorted(["last_checkpoint", "model_0000019.pth", *user_files])


def test_a_save_in_progress_keeps_its_temporary_file(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "a.pth") as tmp:
        Path(tmp).write_bytes(b"being written")
        assert remove_stale_temporary_files(str(tmp_path)) == []  # this process is alive
        Checkpointer(TinyNet(), str(tmp_path)).save("b")  # another save into the folder meanwhile
        assert os.path.exists(tmp)
    assert (tmp_path / "a.pth").read_bytes() == b"being written"


def test_a_dead_process_on_another_machine_is_not_judged(tmp_path: Path) -> None:
    leftover = _killed_save(tmp_path / "x.pth")
    host = leftover.split(".modet-")[1].split("-")[0]
    other = "00000000" if host != "00000000" else "11111111"
    from_other_host = leftover.replace(f".modet-{host}-", f".modet-{other}-")
    os.rename(tmp_path / leftover, tmp_path / from_other_host)
    assert remove_stale_temporary_files(str(tmp_path)) == []
    assert os.listdir(tmp_path) == [from_other_host]
    os.rename(tmp_path / from_other_host, tmp_path / leftover)
    assert remove_stale_temporary_files(str(tmp_path)) == [str(tmp_path / leftover)]
    assert os.listdir(tmp_path) == []


# -- resuming ------------------------------------------------------------------------------


def test_an_empty_last_checkpoint_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    model = TinyNet()
    Checkpointer(model, str(tmp_path)).save("model_0000004", iteration=4)
    (tmp_path / "last_checkpoint").write_text("")
    with pytest.raises(CorruptCheckpointError, match=r"last_checkpoint is empty.*fix or delete"):
        Checkpointer(TinyNet(), str(tmp_path)).resume_or_load("", resume=True)
    # Not resuming ignores it, as before.
    assert Checkpointer(TinyNet(), str(tmp_path)).resume_or_load("", resume=False) == {}


def test_a_dangling_last_checkpoint_is_an_error_naming_both_files(tmp_path: Path) -> None:
    Checkpointer(TinyNet(), str(tmp_path)).save("model_0000004", iteration=4)
    os.remove(tmp_path / "model_0000004.pth")
    with pytest.raises(CheckpointNotFoundError) as info:
        DetectionCheckpointer(TinyNet(), str(tmp_path)).resume_or_load("", resume=True)
    message = str(info.value)
    assert str(tmp_path / "last_checkpoint") in message and "names model_0000004.pth" in message


def test_resuming_into_a_model_with_other_shapes_names_the_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    saved = TinyNet(num_classes=4)
    optimizer = _train_one_step(saved)
    Checkpointer(saved, str(tmp_path), optimizer=optimizer).save("model_0000000", iteration=0)

    changed = TinyNet(num_classes=7)  # NUM_CLASSES changed between the runs
    changed_optimizer = torch.optim.SGD(changed.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in changed.state_dict().items()}
    with pytest.raises(IncompatibleCheckpointError) as info:
        Checkpointer(changed, str(tmp_path), optimizer=changed_optimizer).resume_or_load("", resume=True)
    message = str(info.value)
    assert "cls_score.weight: (5, 4) saved, (8, 4) now" in message and "cls_score.bias: (5,) saved, (8,) now" in message
    assert "NUM_CLASSES" in message and "2 tensors changed shape" in message
    assert_same_state(changed.state_dict(), before)
    assert changed_optimizer.state_dict()["state"] == {}

    # Fine-tuning from those weights (model only) still skips the mismatched tensors.
    Checkpointer(changed).load(str(tmp_path / "model_0000000.pth"), checkpointables=[])
    assert torch.equal(changed.backbone[0].weight, saved.backbone[0].weight)
    assert torch.equal(changed.cls_score.weight, before["cls_score.weight"])
