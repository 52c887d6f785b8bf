"""`modet export`: found through the plugin's modet_subcommands hook, loads MODEL.WEIGHTS, writes the
file, its schema and a report whose check passes; errors are one clear line."""

from __future__ import annotations

import json

import torch

from modet.engine.cli import main
from modet.export import load
from modet_test_support.parity import FIXTURES, assert_outputs_match, build_parity_model, load_case, load_inputs

CASE = "faster_rcnn_R_50_FPN"
SMALL = ["INPUT.MIN_SIZE_TEST", "160", "INPUT.MAX_SIZE_TEST", "224"]


def test_modet_export_writes_the_program_its_schema_and_a_passing_report(tmp_path, capsys):
    weights = tmp_path / "weights.pth"
    torch.save({"model": build_parity_model(CASE).state_dict()}, weights)
    output = tmp_path / "out"
    argv = ["export", "--config-file", str(FIXTURES / CASE / "config.yaml"), "--format", "program"]
    status = main([*argv, "--output", str(output), "--opts", "MODEL.WEIGHTS", str(weights), *SMALL])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    report = json.loads((output / "report.json").read_text())
    assert report["size_bytes"] == (output / "model.pt2").stat().st_size > 0
    assert (output / "model.pt2.schema.json").is_file()
    assert report["outputs"] == ["instances.pred_boxes", "instances.scores", "instances.pred_classes"]
    assert [e["name"] for e in report["inputs"]] == ["image", "height", "width"]
    assert report["sample_size"] == [160, 213] and report["check"]["ok"] is True
    check = report["check"]["instances"]
    assert check["eager"] == check["exported"] == check["matched"]
    assert "instances.pred_boxes" in printed.out and "report.json" in printed.out
    assert "MODEL.WEIGHTS is empty" not in printed.err
    # The file holds the weights of MODEL.WEIGHTS: it reproduces detectron2's outputs on the fixtures.
    outputs = load(output / "model.pt2")([dict(x) for x in load_inputs()])
    assert_outputs_match(outputs, load_case(CASE).outputs["single"], "modet export")


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
