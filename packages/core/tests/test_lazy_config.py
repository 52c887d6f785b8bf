import builtins
import logging
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import DictConfig

from modet.core.config import LazyCall as L
from modet.core.config import LazyConfig, instantiate


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def configs(tmp_path):
    """A tree of config files without any __init__.py, importing each other relatively."""
    write(
        tmp_path / "common" / "base.py",
        """
        from types import SimpleNamespace
        from modet.core.config import LazyCall as L

        sizes = {"depth": 50, "width": 64}
        model = L(SimpleNamespace)(depth="${..sizes.depth}", name="base")
        """,
    )
    write(
        tmp_path / "common" / "deeper" / "train.py",
        """
        train = dict(max_iter=100, output_dir="./out")
        """,
    )
    write(
        tmp_path / "models" / "net.py",
        """
        from ..common.base import model, sizes
        from ..common.deeper.train import train

        model.name = "net"
        sizes.depth = 101  # an edit that must not leak into other importers of base.py
        train.max_iter *= 3
        """,
    )
    write(
        tmp_path / "models" / "other.py",
        """
        from ..common.base import sizes as base_sizes
        from .net import model, sizes

        assert base_sizes.depth == 50, "every import runs the file afresh"
        _private = {"hidden": True}
        not_a_config = 3
        """,
    )
    return tmp_path


def test_relative_imports_without_packages(configs):
    cfg = LazyConfig.load(str(configs / "models" / "net.py"))
    assert set(cfg) == {"model", "sizes", "train"}
    assert isinstance(cfg.train, DictConfig)  # imported dicts become configs
    assert cfg.sizes.depth == 101 and cfg.train.max_iter == 300
    assert cfg.model.name == "net" and cfg.model.depth == 101
    other = LazyConfig.load(str(configs / "models" / "other.py"))
    assert set(other) == {"model", "sizes", "base_sizes"}  # private names and non-configs are left out
    assert other.base_sizes.depth == 50
    assert instantiate(other.model) == SimpleNamespace(depth=101, name="net")


def test_loading_patches_nothing_global(configs):
    before = builtins.__import__
    LazyConfig.load(str(configs / "models" / "net.py"))
    assert builtins.__import__ is before


def test_keys(configs):
    path = str(configs / "models" / "net.py")
    assert LazyConfig.load(path, "train").max_iter == 300
    model, train = LazyConfig.load(path, ("model", "train"))
    assert model.name == "net" and train.output_dir == "./out"
    with pytest.raises(KeyError, match="defines no 'nope'"):
        LazyConfig.load(path, "nope")


def test_load_rel(configs):
    path = write(
        configs / "models" / "rel.py",
        """
        from modet.core.config import LazyConfig

        train = LazyConfig.load_rel("../common/deeper/train.py", "train")
        """,
    )
    assert LazyConfig.load(path).train.max_iter == 100


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("from . import base\n", ImportError, "relative import in a config file can only import another config file"),
        ("from ..common import base\n", ImportError, "not a directory"),
        ("from .missing import x\n", ImportError, r"missing.py does not exist"),
        ("from ..common.base import nothing\n", ImportError, "cannot import name 'nothing' from config file"),
        ("x = = 1\n", SyntaxError, "has syntax error"),
    ],
)
def test_bad_config_files_are_named(configs, source, error, message):
    path = write(configs / "models" / "bad.py", source)
    with pytest.raises(error, match=message):
        LazyConfig.load(path)


def test_bad_file_names(tmp_path):
    with pytest.raises(ValueError, match="has to be a python or yaml file"):
        LazyConfig.load(str(tmp_path / "cfg.json"))
    with pytest.raises(FileNotFoundError, match="missing.py"):
        LazyConfig.load(str(tmp_path / "missing.py"))
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        LazyConfig.load(str(tmp_path / "missing.yaml"))


class Block:
    pass


def test_save_and_load_round_trip(tmp_path):
    cfg = DictConfig(
        {
            "model": L(SimpleNamespace)(depth=50, block=Block, sizes=(1, 2), width="${.depth}"),
            "train": {"max_iter": 10},
        },
        flags={"allow_objects": True},
    )
    path = str(tmp_path / "cfg.yaml")
    LazyConfig.save(cfg, path)
    text = Path(path).read_text()
    assert "_target_: types.SimpleNamespace" in text
    assert "!!python/name:test_lazy_config.Block" in text
    assert "${.depth}" in text  # interpolations are saved, not resolved
    loaded = LazyConfig.load(path)
    assert loaded.model._target_ == "types.SimpleNamespace"
    assert loaded.model.block is Block and list(loaded.model.sizes) == [1, 2]
    assert instantiate(loaded.model).width == 50
    assert cfg.model._target_ is SimpleNamespace  # the saved config itself is unchanged
    assert not os.path.exists(path + ".pkl")


def test_yaml_files_never_run_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ValueError, match="cannot read LazyConfig file"):
        LazyConfig.load(str(path))
    path.write_text("x: !!python/object/new:types.SimpleNamespace []\n")
    with pytest.raises(ValueError, match="cannot read LazyConfig file"):
        LazyConfig.load(str(path))
    assert not marker.exists()


def test_unsaveable_config_is_kept_readable_and_pickled(tmp_path, caplog):
    cfg = DictConfig({"x": lambda: 3, "y": 1}, flags={"allow_objects": True})
    path = str(tmp_path / "cfg.yaml")
    with caplog.at_level(logging.WARNING):
        LazyConfig.save(cfg, path)
    assert "cannot be loaded" in caplog.text
    text = Path(path).read_text()
    assert "y: 1" in text and "lambda" in text
    import cloudpickle

    with open(path + ".pkl", "rb") as f:
        assert cloudpickle.load(f).x() == 3
    assert sorted(os.listdir(tmp_path)) == ["cfg.yaml", "cfg.yaml.pkl"]  # no temporary files left


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "cfg.yaml"
    path.write_text("old: 1\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        LazyConfig.save(DictConfig({"new": 2}), str(path))
    assert path.read_text() == "old: 1\n"
    assert os.listdir(tmp_path) == ["cfg.yaml"]


def test_overrides():
    cfg = DictConfig({"model": L(SimpleNamespace)(depth=50, name="a"), "lr": 0.1}, flags={"allow_objects": True})
    LazyConfig.apply_overrides(
        cfg,
        [
            "model.depth=101",
            "model.name='b c'",
            'lr="0.5"',
            "+train.max_iter=1e3",
            "train.device=cuda",
            "train.amp=true",
            "train.init=null",
            "train.steps=[1, 2]",
            "train.names=[a, b]",
            "train.empty=",
        ],
    )
    assert cfg.model.depth == 101 and cfg.model.name == "b c" and cfg.lr == "0.5"
    assert cfg.train == {
        "max_iter": 1000.0,
        "device": "cuda",
        "amp": True,
        "init": None,
        "steps": [1, 2],
        "names": ["a", "b"],
        "empty": "",
    }
    with pytest.raises(KeyError, match="model.depth is not a config"):
        LazyConfig.apply_overrides(cfg, ["model.depth.x=1"])
    with pytest.raises(NotImplementedError, match="deletion"):
        LazyConfig.apply_overrides(cfg, ["~lr"])
    with pytest.raises(ValueError, match="key=value"):
        LazyConfig.apply_overrides(cfg, ["lr"])


def test_to_py_lays_out_code_as_black_does():
    cfg = DictConfig(
        {
            "model": L(SimpleNamespace)(
                depth=50,
                stages={
                    "res2": L(SimpleNamespace)(width=64, strides=[1, 1, 1]),
                    "res3": "long-enough-to-wrap-the-line",
                },
                name="resnet",
            ),
            "train": {"max_iter": 90000, "output_dir": "${.max_iter}"},
            "steps": list(range(30)),
        },
        flags={"allow_objects": True},
    )
    assert LazyConfig.to_py(cfg) == textwrap.dedent(
        """\
        cfg.model = types.SimpleNamespace(
            depth=50,
            name="resnet",
            stages={
                "res2": types.SimpleNamespace(strides=[1, 1, 1], width=64),
                "res3": "long-enough-to-wrap-the-line",
            },
        )
        cfg.steps = [
            0,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
            16,
            17,
            18,
            19,
            20,
            21,
            22,
            23,
            24,
            25,
            26,
            27,
            28,
            29,
        ]
        cfg.train.max_iter = 90000
        cfg.train.output_dir = 90000
        """
    )
    short = DictConfig({"m": L(SimpleNamespace)(a=1, b="x")}, flags={"allow_objects": True})
    assert LazyConfig.to_py(short, prefix="c.") == 'c.m = types.SimpleNamespace(a=1, b="x")\n'
