from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint_helpers import FIXTURES

from modet.checkpoint import (
    CheckpointFormat,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    UnknownCheckpointFormatError,
    find_format,
    get_checkpoint_formats,
    load_checkpoint_file,
    save_checkpoint_file,
)
from modet.core import hookimpl
from modet.core.plugins import get_plugin_manager


def test_builtin_formats_come_from_the_installed_entry_point() -> None:
    names = {fmt.name for fmt in get_checkpoint_formats()}
    assert {"torch", "detectron2-pkl", "pycls"} <= names
    assert get_plugin_manager().get_plugin("checkpoint") is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.pth", "torch"),
        ("a.PT", "torch"),
        ("a.pth.tar", "torch"),
        ("R-50.pkl", "detectron2-pkl"),
        ("x.pyth", "pycls"),
    ],
)
def test_format_is_chosen_by_suffix(name: str, expected: str) -> None:
    assert find_format(name).name == expected


def test_format_is_chosen_by_content_when_the_suffix_is_unknown(tmp_path: Path) -> None:
    torch_file = tmp_path / "weights.bin"
    torch.save({"model": {"w": torch.ones(2)}}, torch_file)
    pickle_file = tmp_path / "weights.data"
    pickle_file.write_bytes(pickle.dumps({"model": {"w": np.ones(2)}, "__author__": "me"}, protocol=2))
    assert find_format(str(torch_file)).name == "torch"
    assert find_format(str(pickle_file)).name == "detectron2-pkl"
    np.testing.assert_array_equal(load_checkpoint_file(str(pickle_file))["model"]["w"], np.ones(2))


def test_unknown_format_names_the_path_and_the_known_formats(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(UnknownCheckpointFormatError, match=r"weights\.h5.*Installed formats: .*torch \(\.pth/\.pt"):
        load_checkpoint_file(str(path))


def test_missing_empty_and_truncated_files_give_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"nope\.pth not found"):
        load_checkpoint_file(str(tmp_path / "nope.pth"))
    with pytest.raises(CheckpointNotFoundError, match="is not a file"):
        load_checkpoint_file(str(tmp_path))

    empty = tmp_path / "empty.pkl"
    empty.touch()
    with pytest.raises(CorruptCheckpointError, match=r"empty\.pkl.*empty \(0 bytes\)"):
        load_checkpoint_file(str(empty))

    for source in ("mask_rcnn_R_50_FPN/model_final.pth", "mask_rcnn_R_50_FPN/model_final.pkl"):
        data = (FIXTURES / source).read_bytes()
        truncated = tmp_path / Path(source).name
        truncated.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptCheckpointError, match=rf"{truncated.name}.*truncated"):
            load_checkpoint_file(str(truncated))


def test_a_pth_that_is_not_a_dict_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.ones(3), path)
    with pytest.raises(CorruptCheckpointError, match=r"tensor\.pth holds a Tensor"):
        load_checkpoint_file(str(path))


def test_torch_format_wraps_a_bare_state_dict_and_keeps_a_full_checkpoint(tmp_path: Path) -> None:
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.arange(3)}, bare)
    assert list(load_checkpoint_file(str(bare))) == ["model"]
    full = tmp_path / "full.pth"
    torch.save({"model": {"w": torch.arange(3)}, "iteration": 7}, full)
    assert load_checkpoint_file(str(full))["iteration"] == 7


def test_pycls_checkpoint_drops_num_batches_tracked(tmp_path: Path) -> None:
    path = tmp_path / "RegNetX.pyth"
    state = {"stem.conv.weight": torch.ones(2), "stem.bn.num_batches_tracked": torch.tensor(5)}
    torch.save({"epoch": 3, "model_state": state}, path)
    loaded = load_checkpoint_file(str(path))
    assert list(loaded["model"]) == ["stem.conv.weight"]
    assert loaded["matching_heuristics"] is True and loaded["__author__"] == "pycls"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CorruptCheckpointError, match="model_state"):
        load_checkpoint_file(str(path))


def test_caffe2_pickle_drops_momentum_and_asks_for_renaming() -> None:
    loaded = load_checkpoint_file(str(FIXTURES / "c2_imagenet_R_50" / "R-50-tiny.pkl"))
    assert loaded["__author__"] == "Caffe2" and loaded["matching_heuristics"] is True
    assert "res2_0_branch2a_w" in loaded["model"]
    assert not any(key.endswith("_momentum") for key in loaded["model"])
    assert isinstance(loaded["model"]["conv1_w"], np.ndarray)


class _NpyFormatPlugin:
    """A third-party format registered in-process: a single tensor in numpy's .npy file."""

    @hookimpl
    def modet_checkpoint_formats(self) -> list[CheckpointFormat]:
        def load(path: str) -> dict:
            return {"model": {"weight": torch.from_numpy(np.load(path, allow_pickle=False))}}

        def save(obj: dict, path: str) -> None:
            with open(path, "wb") as f:
                np.save(f, obj["model"]["weight"].numpy(), allow_pickle=False)

        return [
            CheckpointFormat(name="npy", suffixes=("npy",), load=load, save=save, sniff=lambda b: b[:6] == b"\x93NUMPY")
        ]


def test_a_plugin_registered_in_process_adds_a_format(tmp_path: Path) -> None:
    get_plugin_manager().register(_NpyFormatPlugin(), name="npy-format")
    path = tmp_path / "w.npy"
    fmt = save_checkpoint_file({"model": {"weight": torch.arange(4.0)}}, str(path))
    assert fmt.name == "npy"
    assert torch.equal(load_checkpoint_file(str(path))["model"]["weight"], torch.arange(4.0))
    # Sniffing finds it without the suffix too.
    renamed = path.rename(tmp_path / "w.weights")
    assert find_format(str(renamed)).name == "npy"


def test_two_plugins_providing_one_format_name_is_an_error_naming_both() -> None:
    class Duplicate:
        @hookimpl
        def modet_checkpoint_formats(self) -> list[CheckpointFormat]:
            return [CheckpointFormat(name="torch", suffixes=(".tt",), load=lambda p: {})]

    get_plugin_manager().register(Duplicate(), name="dup-plugin")
    with pytest.raises(ValueError, match=r"'torch' is provided by both plugin 'dup-plugin' and plugin 'checkpoint'"):
        get_checkpoint_formats()


def test_a_plugin_returning_something_else_is_named() -> None:
    class Wrong:
        @hookimpl
        def modet_checkpoint_formats(self) -> list:
            return ["not a format"]

    get_plugin_manager().register(Wrong(), name="wrong-plugin")
    with pytest.raises(TypeError, match="'wrong-plugin' returned str"):
        get_checkpoint_formats()


def test_checkpoint_format_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        CheckpointFormat(name="", suffixes=(".x",), load=lambda p: {})
    with pytest.raises(ValueError, match="suffix"):
        CheckpointFormat(name="x", suffixes=(), load=lambda p: {})
    with pytest.raises(TypeError):
        CheckpointFormat(name="x", suffixes=(".x",), load="not callable")
    assert CheckpointFormat(name="x", suffixes="X", load=lambda p: {}).suffixes == (".x",)


def test_saving_with_a_read_only_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownCheckpointFormatError, match=r"can save .*model\.pkl"):
        save_checkpoint_file({"model": {}}, str(tmp_path / "model.pkl"))


def test_bytes_sniffing_ignores_legacy_torch_files_for_pickle(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(1)}, buffer, _use_new_zipfile_serialization=False)
    legacy = tmp_path / "legacy.weights"
    legacy.write_bytes(buffer.getvalue())
    assert find_format(str(legacy)).name == "torch"
    assert torch.equal(load_checkpoint_file(str(legacy))["model"]["w"], torch.ones(1))


def test_a_suffix_may_be_a_whole_file_name_and_the_longest_match_wins(tmp_path: Path) -> None:
    class NamedFile:
        @hookimpl
        def modet_checkpoint_formats(self) -> list[CheckpointFormat]:
            def load(path: str) -> dict:
                return {"model": {}, "__author__": "named"}

            return [CheckpointFormat(name="named", suffixes=("special-1234.pth", "special.pth"), load=load)]

    get_plugin_manager().register(NamedFile(), name="named-file")
    assert find_format("/zoo/special-1234.pth").name == "named"
    assert find_format("mine.special.pth").name == "named"
    assert find_format("other-1234.pth").name == "torch"
    path = tmp_path / "special-1234.pth"
    torch.save({"model": {}}, path)
    assert load_checkpoint_file(str(path))["__author__"] == "named"


def test_numpy_values_in_a_pth_load_without_allowing_code(tmp_path: Path) -> None:
    path = tmp_path / "state.pth"
    torch.save({"model": {"w": torch.ones(1)}, "best_ap": np.float64(41.5), "history": np.arange(3)}, path)
    loaded = load_checkpoint_file(str(path))
    assert loaded["best_ap"] == 41.5 and loaded["best_ap"].dtype == np.float64
    np.testing.assert_array_equal(loaded["history"], np.arange(3))
