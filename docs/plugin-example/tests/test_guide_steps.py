"""Each step of docs/writing-a-plugin.md, as a user meets it, against this package installed from its
wheel (``python3 -m nox -s plugin_guide``). Code between ``# guide: NAME`` and ``# end guide``
is shown in the guide as it is here (tests/test_guide_text.py checks that)."""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1]
GUIDE = EXAMPLE.parent / "writing-a-plugin.md"
ZOO_CONFIG = "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
# Commands the guide shows, run as written (from a folder holding model_final.pth).
INFO = "modet info"
CONVERT = "modet convert-checkpoint model_final.pth model_final.npz"
BUILD = "python examples/build_model.py"
BLOCKED = "MODET_BLOCKED_PLUGINS=example python examples/build_model.py"


def _run(command: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``command`` with this environment's ``modet`` and ``python``."""
    words = shlex.split(command)
    executable = {"modet": Path(sys.executable).with_name("modet"), "python": sys.executable}[words[0]]
    return subprocess.run([str(executable), *words[1:]], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def _user_config():
    """The config examples/build_model.py builds (run from this folder, as the guide does)."""
    import runpy

    return runpy.run_path(str(EXAMPLE / "examples" / "build_model.py"))["cfg"]


def test_step_1_the_package_is_installed_from_its_wheel_with_its_entry_point():
    import modet_plugin_example

    assert "site-packages" in modet_plugin_example.__file__, "installed from the wheel, not the source folder"
    points = importlib.metadata.entry_points(group="modet")
    [point] = [p for p in points if p.name == "example"]
    assert point.value == "modet_plugin_example.plugin" and point.dist.name == "modet-plugin-example"


def test_step_2_the_config_keys_have_defaults_and_checks():
    from modet.core.config import get_cfg

    cfg = get_cfg()
    assert (cfg.MODEL.EXAMPLE_HEAD.WIDTH, cfg.MODEL.EXAMPLE_HEAD.NUM_FC) == (256, 2)
    with pytest.raises(ValueError, match=r"MODEL\.EXAMPLE_HEAD\.WIDTH.*must be >= 1"):
        cfg.merge_from_list(["MODEL.EXAMPLE_HEAD.WIDTH", "0"])


def test_step_3_the_box_head_keeps_the_contract():
    from modet_plugin_example.head import ExampleMLPHead

    from modet.core.config import get_cfg
    from modet.ops import ShapeSpec

    cfg = get_cfg()
    for num_fc, width in ((2, 256), (0, 64 * 7 * 7)):
        cfg.MODEL.EXAMPLE_HEAD.NUM_FC = num_fc
        head = ExampleMLPHead(cfg, ShapeSpec(channels=64, height=7, width=7))
        features = head(torch.rand(5, 64, 7, 7))
        assert features.shape == (5, width) and head.output_shape == ShapeSpec(channels=width)


def test_step_4_build_model_finds_the_head_without_an_import(monkeypatch):
    from modet.core.registry import get_registry
    from modet.modeling import build_model

    monkeypatch.chdir(EXAMPLE)  # the script reads configs/ from here
    model = build_model(_user_config())
    head = model.roi_heads.box_head
    assert type(head).__name__ == "ExampleMLPHead" and head.output_shape.channels == 128
    assert model.roi_heads.box_predictor.cls_score.in_features == 128  # sized from output_shape
    assert get_registry().entry("roi_box_head", "ExampleMLPHead").provider.startswith("modet-plugin-example")
    model.eval()
    with torch.no_grad():
        [result] = model([{"image": torch.randint(0, 255, (3, 64, 80), dtype=torch.uint8)}])
    assert result["instances"].image_size == (64, 80)
    printed = _run(BUILD, EXAMPLE)  # a fresh process, whose script never imports the plugin
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("ExampleMLPHead ShapeSpec(channels=128")


@pytest.fixture()
def trained(tmp_path, monkeypatch):
    from modet.checkpoint import DetectionCheckpointer
    from modet.modeling import build_model

    monkeypatch.chdir(EXAMPLE)
    model = build_model(_user_config())
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("model_final")
    return model, tmp_path


def test_step_5_the_subcommand_and_the_checkpoint_format(trained):
    from modet.checkpoint import DetectionCheckpointer
    from modet.modeling import build_model

    model, folder = trained
    converted = _run(CONVERT, folder)
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout.strip() == f"model_final.npz: {len(model.state_dict())} tensors in the npz format"
    torch.manual_seed(1)
    other = build_model(_user_config())
    DetectionCheckpointer(other).load(str(folder / "model_final.npz"))
    for name, tensor in model.state_dict().items():
        assert torch.equal(other.state_dict()[name], tensor), name
    DetectionCheckpointer(other).load(str(folder / "model_final.pth"))  # .pth files still load


def test_step_6_modet_info_lists_the_plugin_its_head_and_its_format(tmp_path):
    info = _run(INFO, tmp_path)
    assert info.returncode == 0, info.stderr
    plugins = info.stdout.split("Plugins")[1].split("Components")[0]
    assert any(line.split()[:2] == ["example", "modet-plugin-example"] for line in plugins.splitlines() if line.strip())
    assert any(line.split()[:2] == ["ExampleMLPHead", "modet-plugin-example"] for line in info.stdout.splitlines())
    assert "npz" in info.stdout.split("Checkpoint formats:")[1]
    assert "convert-checkpoint" in info.stdout.split("Commands:")[1]


def test_step_7_a_blocked_plugin_is_named_in_the_error():
    assignment, command = BLOCKED.split(" ", 1)
    name, value = assignment.split("=")
    result = _run(command, EXAMPLE, env={**os.environ, name: value})
    assert result.returncode == 1
    shown = _guide_block_after(
        "<!-- the error: tests/test_guide_steps.py::test_step_7_a_blocked_plugin_is_named_in_the_error -->"
    )
    error = result.stderr.strip().splitlines()
    assert shown.splitlines()[0] in error, result.stderr
    assert shown.splitlines()[-1] == error[-1], result.stderr  # the guide leaves out the list of known names


def _guide_block_after(marker: str) -> str:
    text = GUIDE.read_text()
    after = text.split(marker, 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1].rstrip("\n")
