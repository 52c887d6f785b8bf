import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from modet.core import hookimpl, plugins
from modet.core.plugins import get_plugin_manager
from modet.engine import cli


def _modet_executable() -> list[str]:
    script = shutil.which("modet", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "modet.engine.cli"]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*_modet_executable(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)  # six runs share the machine
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    pixels[10:35, 15:45] = (220, 160, 30)
    Image.fromarray(pixels).save(folder / "street.png")
    Image.fromarray(pixels[:40, :60]).save(folder / "park.jpg", quality=90)
    (folder / "notes.png").write_text("this is not an image\n")
    return folder


@pytest.fixture(scope="module")
def config_file(tiny_checkpoint, tmp_path_factory):
    cfg, _ = tiny_checkpoint
    path = tmp_path_factory.mktemp("cfg") / "tiny_mask_rcnn.yaml"
    path.write_text(cfg.dump())
    return path


@pytest.fixture(scope="module")
def runs(images, config_file, tmp_path_factory):
    """Every CLI run of this module, started side by side (each pays Python and torch start-up)."""
    tmp = tmp_path_factory.mktemp("cli")
    bad_out = tmp / "bad_out"
    base = ["predict", "--output", str(bad_out)]
    commands = {
        "predict": [
            "predict",
            "--config-file", str(config_file),
            "--input", str(images / "street.png"), str(images / "park.jpg"),
            "--output", str(tmp / "out"),
            "--confidence-threshold", "0.05",
            "--opts", "TEST.DETECTIONS_PER_IMAGE", "7",
        ],
        "info": ["info"],
        "missing image": [*base, "--config-file", str(config_file), "--input", str(images / "nope.png")],
        "unreadable image": [*base, "--config-file", str(config_file), "--input", str(images / "notes.png")],
        "unknown config key": [
            *base, "--config-file", str(config_file), "--input", str(images / "street.png"), "--opts", "MODEL.NOPE", "1",
        ],
        "missing config file": [*base, "--config-file", str(tmp / "missing.yaml"), "--input", str(images / "street.png")],
    }  # fmt: skip
    procs = {name: _start(*args) for name, args in commands.items()}
    results = {name: _finish(proc) for name, proc in procs.items()}
    results["paths"] = (tmp, bad_out)
    return results


def test_predict_writes_png_and_json_per_image(runs):
    rc, out, err = runs["predict"]
    out_dir = runs["paths"][0] / "out"
    assert rc == 0, err
    lines = out.strip().splitlines()  # one line per image, one at the end
    assert lines[1].startswith("[2/2] ") and lines[1].endswith(f"-> {out_dir}/park.png")
    assert lines[2].startswith("modet predict: 2 images, ") and lines[2].endswith(f"results in {out_dir}/")
    for stem, size in (("street", (70, 50)), ("park", (60, 40))):
        vis = Image.open(out_dir / f"{stem}.png")
        assert vis.format == "PNG" and vis.size == size
        result = json.loads((out_dir / f"{stem}.json").read_text())
        assert (result["width"], result["height"]) == size
        assert result["file_name"].endswith(stem + (".png" if stem == "street" else ".jpg"))
        instances = result["instances"]
        assert 0 < len(instances) <= 7  # --opts reached the model
        for inst in instances:
            assert inst["score"] >= 0.05 and inst["category_id"] in (0, 1, 2)
            x0, y0, x1, y1 = inst["bbox"]
            assert 0 <= x0 <= x1 <= size[0] and 0 <= y0 <= y1 <= size[1]
            assert inst["segmentation"]["size"] == [size[1], size[0]]


def test_info_lists_packages_plugins_and_components(runs):
    rc, out, err = runs["info"]
    assert rc == 0, err
    assert "modet-engine" in out and "modet-modeling" in out
    assert "GeneralizedRCNN" in out and "StandardROIHeads" in out
    component_lines = [line.split() for line in out.splitlines() if line.strip().startswith("GeneralizedRCNN")]
    assert component_lines == [["GeneralizedRCNN", "modet-modeling"]]
    plugin_section = out.split("Plugins")[1].split("Components")[0].splitlines()[1:]
    plugin_lines = {line.split()[0]: line.split()[1:] for line in plugin_section if line.strip()}
    assert plugin_lines["engine"][0] == "modet-engine"
    assert plugin_lines["safetensors"][0] == "modet-safetensors"
    assert "safetensors" in out.split("Checkpoint formats:")[1]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing image", "image not found: {images}/nope.png"),
        ("unreadable image", "cannot read image {images}/notes.png"),
        ("unknown config key", "MODEL.NOPE"),
        ("missing config file", "config file not found: {tmp}/missing.yaml"),
    ],
)
def test_bad_inputs_give_one_error_line_and_nonzero_exit(runs, images, case, expected):
    rc, _, err = runs[case]
    tmp, bad_out = runs["paths"]
    lines = err.strip().splitlines()
    assert rc == 1, err
    assert len(lines) == 1, err
    assert lines[0].startswith("modet predict: error: "), err
    assert expected.format(images=images, tmp=tmp) in lines[0], err
    assert not bad_out.exists()


class EchoCommand:
    def __init__(self, seen):
        self.seen = seen

    @hookimpl
    def modet_subcommands(self):
        return {"echo-test": cli.Subcommand(help="test command", main=lambda args: self.seen.append(args.argv) or 3)}


def test_other_plugins_add_subcommands_through_the_hook():
    seen = []
    get_plugin_manager().register(EchoCommand(seen), name="echo-plugin")
    assert "echo-test" in cli.subcommands() and "predict" in cli.subcommands()
    assert cli.main(["echo-test", "a", "--b"]) == 3
    assert seen == [["a", "--b"]]


class ClashingCommand:
    @hookimpl
    def modet_subcommands(self):
        return {"predict": cli.Subcommand(help="x", main=print)}


def test_two_plugins_claiming_one_subcommand_is_an_error_naming_both(capsys):
    get_plugin_manager().register(ClashingCommand(), name="clash-plugin")
    assert cli.main(["predict"]) == 1
    err = capsys.readouterr().err
    assert "subcommand 'predict' is provided by both plugin 'clash-plugin' and plugin 'engine' (modet-engine" in err


class BrokenCommand:
    @hookimpl
    def modet_subcommands(self):
        raise RuntimeError("broken table")


def test_a_plugin_whose_hook_raises_is_named(capsys):
    get_plugin_manager().register(BrokenCommand(), name="broken-cli")
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "modet: error: modet plugin 'broken-cli' failed in modet_subcommands: RuntimeError: broken table"
    )
    assert "MODET_BLOCKED_PLUGINS=broken-cli" in err


def test_blocking_the_engine_plugin_removes_its_subcommands(monkeypatch, capsys):
    # modet-export adds `modet export` where it is installed (as in `nox -s floors`): blocked too
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "engine,export")
    plugins.reset_plugin_manager()
    assert cli.subcommands() == {}
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "no subcommands are registered" in err
    assert "'engine' (modet-engine" in err and "blocked by MODET_BLOCKED_PLUGINS" in err


def test_autoload_disabled_is_named_when_no_subcommand_is_found(monkeypatch, capsys):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    plugins.reset_plugin_manager()
    assert cli.main([]) == 2
    assert "MODET_DISABLE_PLUGIN_AUTOLOAD=1 is set" in capsys.readouterr().err


def test_training_without_evaluation_says_what_to_install(monkeypatch, capsys, config_file):
    monkeypatch.setitem(sys.modules, "modet.evaluation", None)  # makes `import modet.evaluation` fail
    assert cli.main(["train", "--config-file", str(config_file)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "modet train: error: modet train (training) needs modet-evaluation: pip install 'modet-engine[train]'"
    ]


def test_python_dash_m_runs_the_plugins_subcommands():
    """``python -m modet.engine.cli`` (no console script) knows the engine's own subcommands."""
    result = subprocess.run(
        [sys.executable, "-m", "modet.engine.cli", "info"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "modet-engine" in result.stdout
