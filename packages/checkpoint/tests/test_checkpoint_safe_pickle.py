from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from modet.checkpoint import (
    DetectionCheckpointer,
    UnsafeCheckpointError,
    load_checkpoint_file,
    safe_load_pickle,
    safe_loads_pickle,
)


class _RunsACommand:
    """Unpickling this with plain pickle runs ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_plain_pickle_would_run_the_command(tmp_path: Path) -> None:
    """Sanity check of the attack itself, so the refusal test below means something."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_RunsACommand(marker)))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model_final.pkl"
    payload = {"model": {"w": np.ones(2), "evil": _RunsACommand(marker)}, "__author__": "attacker"}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))

    with pytest.raises(UnsafeCheckpointError, match=r"model_final\.pkl.*import (posix|os)\.system"):
        load_checkpoint_file(str(path))
    with pytest.raises(UnsafeCheckpointError):
        DetectionCheckpointer(torch.nn.Linear(2, 2)).load(str(path))
    assert not marker.exists()


def test_a_pth_that_would_run_a_command_is_refused_by_weights_only(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    torch.save({"model": {"w": torch.ones(1)}, "evil": _RunsACommand(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"Refusing to load .*model\.pth"):
        load_checkpoint_file(str(path))
    assert not marker.exists()


@pytest.mark.parametrize(
    "global_name",
    [b"builtins\neval\n", b"subprocess\nPopen\n", b"numpy\nload\n", b"numpy.core.multiarray\nfromstring\n"],
)
def test_only_numpy_reconstruction_names_are_admitted(global_name: bytes) -> None:
    data = b"\x80\x02c" + global_name + b"."
    with pytest.raises(UnsafeCheckpointError, match="only numpy arrays and plain containers"):
        safe_loads_pickle(data)


def test_codecs_encode_is_limited_to_text_codecs() -> None:
    # _codecs.encode("x", "zlib") would decompress-bomb or worse; only latin1-style text codecs pass.
    data = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(UnsafeCheckpointError, match="zlib"):
        safe_loads_pickle(data)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_scalars_and_containers_round_trip(protocol: int) -> None:
    value = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([1.5, -2.0], dtype=np.float16),
        "i64": np.array([1, 2**40], dtype=np.int64),
        "bool": np.array([True, False]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "scalar": np.float32(2.5),
        "containers": [(1, 2.0, "three", b"four", None), {5, 6}, frozenset({7})],
    }
    loaded = safe_loads_pickle(pickle.dumps(value, protocol=protocol))
    for key in ("f32", "f16", "i64", "bool", "fortran"):
        np.testing.assert_array_equal(loaded[key], value[key])
        assert loaded[key].dtype == value[key].dtype
    assert loaded["scalar"] == np.float32(2.5) and loaded["scalar"].dtype == np.float32
    assert loaded["containers"] == value["containers"]


def test_numpy_1_names_in_the_caffe2_fixture_are_admitted() -> None:
    blobs = safe_load_pickle(str(Path(__file__).parent / "fixtures" / "c2_imagenet_R_50" / "R-50-tiny.pkl"))["blobs"]
    assert blobs["conv1_w"].shape == (16, 3, 7, 7) and blobs["conv1_w"].dtype == np.float32


def _python2_pickle_of_array(values: np.ndarray) -> bytes:
    """What Python 2 + numpy 1.x wrote: protocol 2, numpy.core names, the buffer as a byte ``str``."""
    raw = values.astype("<f4").tobytes()

    def short_str(b: bytes) -> bytes:  # SHORT_BINSTRING: a Python 2 str
        return b"U" + bytes([len(b)]) + b

    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + b"K\x00\x85"
        + short_str(b"b")
        + b"\x87R"
        + b"(K\x01"
        + b"K"
        + bytes([len(values)])
        + b"\x85"
        + b"cnumpy\ndtype\n"
        + short_str(b"f4")
        + b"K\x00K\x01\x87R"
        + b"(K\x03"
        + short_str(b"<")
        + b"NNN"
        + b"J"
        + struct.pack("<i", -1)
        + b"J"
        + struct.pack("<i", -1)
        + b"K\x00tb"
        + b"\x89"
        + b"T"
        + struct.pack("<I", len(raw))
        + raw
        + b"tb"
    )
    return b"\x80\x02}(" + short_str(b"blobs") + b"}(" + short_str(b"conv1_w") + array + b"uu."


def test_python2_caffe2_pickles_load_with_latin1(tmp_path: Path) -> None:
    values = np.array([0.5, -1.25, 3.0e-8, 255.0], dtype=np.float32)
    data = _python2_pickle_of_array(values)
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)  # Python 3's default ASCII decoding cannot read the buffer
    path = tmp_path / "R-50.pkl"
    path.write_bytes(data)
    loaded = load_checkpoint_file(str(path))
    np.testing.assert_array_equal(loaded["model"]["conv1_w"], values)
