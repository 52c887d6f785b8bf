"""`modet export`: the installed console script finds it through the plugin's modet_subcommands hook,
loads MODEL.WEIGHTS, writes the file, its schema and a report whose check passes; errors are one clear
line, and a model that cannot export is named with the operation and the module where capture stopped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import requires_detection_export
from torch import nn

from modet.engine.cli import main
from modet.export import DETECTION_EXPORT_MIN_TORCH, ExportError, detection_export_supported, export_program, load
from modet.modeling import META_ARCH_REGISTRY
from modet_test_support.parity import FIXTURES, assert_outputs_match, build_parity_model, load_case, load_inputs

CASE = "faster_rcnn_R_50_FPN"
SMALL = ["INPUT.MIN_SIZE_TEST", "160", "INPUT.MAX_SIZE_TEST", "224"]


@requires_detection_export
def test_the_installed_modet_command_exports_an_onnx_file_that_reproduces_detectron2(tmp_path):
    """The `modet` console script of this environment (nox installs modet-export[onnx,cli], not
    editable), run as a user would: loads MODEL.WEIGHTS, writes the file, its schema and a passing report."""
    modet = shutil.which("modet", path=str(Path(sys.executable).parent))
    assert modet, f"no modet console script beside {sys.executable}: is modet-export[cli] installed?"
    weights = tmp_path / "weights.pth"
    torch.save({"model": build_parity_model(CASE).state_dict()}, weights)
    output = tmp_path / "out"
    argv = ["export", "--config-file", str(FIXTURES / CASE / "config.yaml"), "--format", "onnx"]
    argv += ["--output", str(output), "--opts", "MODEL.WEIGHTS", str(weights), *SMALL]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([modet, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((output / "report.json").read_text())
    assert report["size_bytes"] == (output / "model.onnx").stat().st_size > 0
    assert (output / "model.onnx.schema.json").is_file()
    assert report["outputs"] == ["instances.pred_boxes", "instances.scores", "instances.pred_classes"]
    assert [e["name"] for e in report["inputs"]] == ["image", "height", "width"]
    assert report["sample_size"] == [160, 213] and report["check"]["ok"] is True
    check = report["check"]["instances"]
    assert check["eager"] == check["exported"] == check["matched"]
    assert "instances.pred_boxes" in done.stdout and "report.json" in done.stdout
    assert "MODEL.WEIGHTS is empty" not in done.stderr
    # The file holds the weights of MODEL.WEIGHTS: run by onnxruntime, it reproduces detectron2's outputs.
    outputs = load(output / "model.onnx")([dict(x) for x in load_inputs()])
    assert_outputs_match(outputs, load_case(CASE).outputs["single"], "modet export")


class _DataDependentHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        if x.mean() > 0:  # a Python branch on a tensor's value: torch.export cannot capture it
            x = -x
        return x


class _Unexportable(nn.Module):
    """A registered meta-architecture whose head branches on data."""

    def __init__(self, cfg):
        super().__init__()
        self.head = _DataDependentHead()

    def forward(self, batched_inputs):
        return [{"sem_seg": self.head(item["image"].float()[None])[0]} for item in batched_inputs]


def test_modet_export_of_a_model_that_cannot_export_names_the_operation_and_the_module(tmp_path, capsys):
    config = tmp_path / "unexportable.yaml"
    config.write_text(
        "MODEL:\n  META_ARCHITECTURE: UnexportableForTest\nINPUT:\n  MIN_SIZE_TEST: 64\n  MAX_SIZE_TEST: 96\n"
    )
    META_ARCH_REGISTRY.register(_Unexportable, name="UnexportableForTest")
    try:
        argv = ["export", "--config-file", str(config), "--format", "onnx", "--output", str(tmp_path / "out")]
        status = main(argv)
    finally:
        META_ARCH_REGISTRY.unregister("UnexportableForTest")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1
    assert err.startswith("modet export: error: _Unexportable cannot be exported (torch.export)"), err
    assert "`if x.mean() > 0:" in err and "in module head (_DataDependentHead)" in err
    assert not (tmp_path / "out" / "model.onnx").exists()  # nothing half-written


def test_modet_export_errors_are_one_line(tmp_path, capsys):
    config = FIXTURES / CASE / "config.yaml"
    assert main(["export", "--config-file", str(tmp_path / "nope.yaml"), "--format", "onnx", "--output", "o"]) == 1
    assert "--config-file" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    argv = ["export", "--config-file", str(config), "--format", "onnx", "--output", str(tmp_path / "file")]
    assert main(argv) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    argv = ["export", "--config-file", str(config), "--format", "program", "--output", str(tmp_path / "o")]
    assert main([*argv, "--sample-image", str(tmp_path / "file")]) == 1
    assert "cannot read --sample-image" in capsys.readouterr().err


@pytest.mark.skipif(detection_export_supported(), reason="the advice is for older torch (nox -s floors runs it)")
def test_on_older_torch_a_detection_model_export_says_which_torch_it_needs(tmp_path):
    model = build_parity_model(CASE)
    sample = [{"image": torch.randint(0, 256, (3, 224, 288), dtype=torch.uint8)}]
    with pytest.raises(ExportError, match=f"older than {DETECTION_EXPORT_MIN_TORCH}.*upgrade torch"):
        export_program(model, sample, tmp_path / "model.pt2")
    assert not (tmp_path / "model.pt2").exists()
