"""The command line never overwrites what the user gave it, checks every input before writing
anything, and reports each error as one line (no traceback) with a non-zero exit status."""

import json
import os
import subprocess
import sys
import traceback

import numpy as np
import pytest
from conftest import tiny_mask_rcnn_cfg
from PIL import Image

from modet.engine import cli


def _snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "street.png")
    Image.fromarray(pixels[:30]).save(folder / "park.jpg", quality=90)
    return folder


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_mask_rcnn_cfg().dump())
    return path


def _predict(capsys, *args):
    status = cli.main(["predict", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("output", ["same folder", "symlink to it", "an input file"])
def test_predict_refuses_outputs_that_could_land_on_inputs(capsys, tmp_path, image_folder, config_file, output):
    before = _snapshot(image_folder)
    target = {
        "same folder": image_folder,
        "symlink to it": tmp_path / "link",
        "an input file": image_folder / "street.png",
    }[output]
    if output == "symlink to it":
        os.symlink(image_folder, target)
    status, out, err = _predict(
        capsys, "--config-file", str(config_file), "--input", str(image_folder), "--output", str(target)
    )
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"modet predict: error: --output {target} ")
    assert ("is a file, not a folder" if output == "an input file" else "is the folder of input image") in lines[0]
    assert "Traceback" not in out + err
    assert _snapshot(image_folder) == before  # nothing written, nothing replaced


def test_a_truncated_image_stops_predict_before_any_output(capsys, tmp_path, image_folder, config_file):
    whole = (image_folder / "park.jpg").read_bytes()
    (image_folder / "zz_cut.jpg").write_bytes(whole[: len(whole) // 2])
    out_dir = tmp_path / "predictions"
    status, _, err = _predict(
        capsys, "--config-file", str(config_file), "--input", str(image_folder), "--output", str(out_dir)
    )
    assert status == 1
    (line,) = err.strip().splitlines()
    assert line.startswith(f"modet predict: error: cannot read image {image_folder / 'zz_cut.jpg'}: not an image file")
    assert "(OSError: image file is truncated (" in line
    assert not out_dir.exists()  # the two good images before it were not predicted either


def test_a_worker_process_error_is_shown_as_its_last_line():
    from torch.multiprocessing import ProcessRaisedException

    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise FloatingPointError("Loss became infinite or NaN at iteration=7!\nloss_dict = {'a': nan}") from inner
    except FloatingPointError:
        text = traceback.format_exc()
    error = ProcessRaisedException(f"\n\n-- Process 1 terminated with the following error:\n{text}", 1, 4242)
    assert cli._one_line(error) == (
        "process 1: FloatingPointError: Loss became infinite or NaN at iteration=7! loss_dict = {'a': nan}"
    )


_RUN_COMMANDS = """
import contextlib, io, json, sys
from modet.data.datasets import register_shapes
from modet.engine.cli import main

register_shapes(sys.argv[1], prefix="cli_reliability", num_train=3, num_val=1)
results = {}
for name, argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    results[name] = [status, err.getvalue()]
print("RESULTS " + json.dumps(results))
"""


def test_train_errors_are_one_line_without_traceback(tmp_path):
    cfg = tiny_mask_rcnn_cfg()
    cfg.DATASETS.TRAIN = ("cli_reliability_train",)
    cfg.DATASETS.TEST = ()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TRAIN = (48,)
    cfg.INPUT.MAX_SIZE_TRAIN = 64
    cfg.SOLVER.IMS_PER_BATCH = 1
    cfg.SOLVER.MAX_ITER = 1
    cfg.SEED = 0
    config = tmp_path / "train.yaml"
    config.write_text(cfg.dump())
    run, empty = tmp_path / "run", tmp_path / "empty_tag"
    empty.mkdir()
    (empty / "last_checkpoint").write_text("")
    train = ["train", "--config-file", str(config), "--opts"]
    commands = [
        ("first run", [*train, "OUTPUT_DIR", str(run)]),
        ("more classes", ["train", "--resume", *train[1:], "OUTPUT_DIR", str(run), "MODEL.ROI_HEADS.NUM_CLASSES", "5"]),
        ("empty tag", ["train", "--resume", *train[1:], "OUTPUT_DIR", str(empty)]),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_COMMANDS, str(tmp_path / "shapes"), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.split("RESULTS ", 1)[1])
    assert results["first run"] == [0, ""]
    status, err = results["more classes"]
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"modet train: error: Cannot resume from {run / 'model_final.pth'}: ")
    for key in ("roi_heads.box_predictor.cls_score.weight", "roi_heads.mask_head.predictor.weight"):
        assert key in err
    status, err = results["empty tag"]
    assert status == 1 and err.strip() == (
        f"modet train: error: Cannot resume: {empty / 'last_checkpoint'} is empty; it should name a checkpoint "
        f"file: fix or delete {empty / 'last_checkpoint'} (deleting it starts the training over)"
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Exception during training" not in proc.stdout  # both failed before training started
