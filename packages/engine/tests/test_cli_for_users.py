"""What a person at a terminal meets: --device auto, --weights, the random-weights warning,
did-you-mean for zoo names, class names saved with a trained checkpoint, training on a
COCO-format folder given on the command line."""

import json

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL_OPTS
from PIL import Image

from modet.data import MetadataCatalog
from modet.engine import cli
from modet.engine._cli_commands import resolve_config_file, resolve_device
from modet.engine.cli import CLIError

SHAPES = ["square", "triangle", "ellipse"]


def test_device_auto_is_cuda_only_when_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(CLIError, match=r"--device cuda: torch .* sees no CUDA GPU here; use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(CLIError, match=r"--device gpu0: not a device; use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == "cuda"
    with pytest.raises(CLIError, match=r"--device cuda:3: this machine has 1 CUDA device"):
        resolve_device("cuda:3")


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("COCO-Detection/faster_rcnn_R_50_FPN_3X.yaml", "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"),
        ("mask_rcnn_R_50_FPN_1x.yaml", "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"),
        ("COCO-Detection/retinanet_R_50_FPN_1x.yml", "COCO-Detection/retinanet_R_50_FPN_1x.yaml"),
    ],
)
def test_a_wrong_zoo_name_suggests_the_right_one(given, suggested):
    with pytest.raises(CLIError, match="did you mean") as error:
        resolve_config_file(given)
    assert f"config file not found: {given}: neither a file nor a model-zoo config name" in str(error.value)
    assert suggested in str(error.value).split("did you mean")[1]


def test_a_zoo_name_resolves_to_its_file_and_name():
    path, name = resolve_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
    assert name == "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
    assert path.endswith("faster_rcnn_R_50_FPN_1x.yaml")


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)).save(path)
    return path


def test_predict_on_a_zoo_name_runs_on_the_cpu_and_announces_random_weights(capsys, monkeypatch, tmp_path, photo):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    name = "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
    status = cli.main(
        [
            *("predict", "--config-file", name, "--input", str(photo), "--output", str(tmp_path / "out")),
            *("--confidence-threshold", "0", "--opts", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"),
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    warning = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "the model has random weights" in warning[0]
    assert "released weights for it: --weights https://dl.fbaipublicfiles.com/detectron2/COCO-Detection/" in warning[0]
    result = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert result["instances"], "a random Faster R-CNN scores every class about 1/81: threshold 0 keeps them"
    assert all(0 <= inst["category_id"] < 80 for inst in result["instances"])
    # a zoo COCO config names COCO's classes (its DATASETS.TEST is coco_2017_val: detectron2's metadata)
    coco_names = MetadataCatalog.get("coco_2017_val").thing_classes
    assert coco_names[:3] == ["person", "bicycle", "car"] and len(coco_names) == 80
    assert all(inst["category_name"] == coco_names[inst["category_id"]] for inst in result["instances"])
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith(f"[1/1] {photo} (80x60): ")
    assert lines[-1].startswith("modet predict: 1 image, ") and lines[-1].endswith(
        f"on cpu; results in {tmp_path}/out/"
    )


def test_predict_with_weights_says_nothing_of_random_weights(capsys, tmp_path, photo, tiny_checkpoint):
    cfg, weights = tiny_checkpoint
    config = tmp_path / "tiny.yaml"
    no_weights = cfg.clone()
    no_weights.MODEL.WEIGHTS = ""
    config.write_text(no_weights.dump())
    base = ["predict", "--config-file", str(config), "--input", str(photo), "--device", "cpu"]
    assert cli.main([*base, "--output", str(tmp_path / "a"), "--weights", weights]) == 0
    assert "warning" not in capsys.readouterr().err
    assert cli.main([*base, "--output", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "the model has random weights (no --weights given and the config's MODEL.WEIGHTS is empty)" in err


def test_output_naming_a_file_is_one_clear_error(capsys, tmp_path, photo):
    (tmp_path / "taken").write_text("x")
    name = "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
    status = cli.main(["predict", "--config-file", name, "--input", str(photo), "--output", str(tmp_path / "taken")])
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"modet predict: error: --output {tmp_path}/taken is a file, not a folder: give a folder (it is created if missing)"
    )


@pytest.fixture()
def coco_folder(tmp_path):
    from modet.data.datasets.shapes import generate_shapes_dataset

    return generate_shapes_dataset(tmp_path / "shapes", num_train=4, num_val=2)


def test_train_on_a_coco_folder_then_predict_names_its_classes(capsys, tmp_path, coco_folder, photo):
    from modet.data import DatasetCatalog, MetadataCatalog
    from modet.engine._cli_train import TEST_DATASET, TRAIN_DATASET

    train, val = coco_folder["train"], coco_folder["val"]
    out = tmp_path / "run"
    try:
        status = cli.main(
            [
                *(
                    "train",
                    "--config-file",
                    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml",
                    "--weights",
                    "none",
                ),
                *("--device", "cpu", "--output", str(out)),
                *("--train-coco", train["json_file"], train["image_root"]),
                *("--test-coco", val["json_file"], val["image_root"]),
                *("--opts", *TINY_MODEL_OPTS, "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2"),
                *("DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96"),
            ]
        )
        captured = capsys.readouterr()
        assert status == 0, captured.err
        assert captured.out.strip().endswith(f"modet train: done; checkpoints, metrics and log in {out}/")
        checkpoint = torch.load(out / "model_final.pth", weights_only=True)
        assert checkpoint["metadata"]["thing_classes"] == SHAPES
        assert checkpoint["model"]["roi_heads.box_predictor.cls_score.weight"].shape[0] == len(SHAPES) + 1
        assert "bbox" in (out / "metrics.json").read_text()  # evaluated on --test-coco at the end
    finally:
        for name in (TRAIN_DATASET, TEST_DATASET):
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)

    # The config written by the run names datasets this process no longer knows: the names come
    # from the checkpoint.
    status = cli.main(
        [
            *("predict", "--config-file", str(out / "config.yaml"), "--weights", str(out / "model_final.pth")),
            *("--input", str(photo), "--output", str(tmp_path / "pred"), "--confidence-threshold", "0"),
        ]
    )
    assert status == 0, capsys.readouterr().err
    instances = json.loads((tmp_path / "pred" / "photo.json").read_text())["instances"]
    assert instances and {inst["category_name"] for inst in instances} <= set(SHAPES)
    assert all(inst["category_name"] == SHAPES[inst["category_id"]] for inst in instances)


def test_train_names_what_is_wrong_with_a_coco_folder(capsys, tmp_path, coco_folder):
    train = coco_folder["train"]
    base = ["train", "--config-file", "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml", "--output", str(tmp_path / "o")]
    assert cli.main([*base, "--train-coco", str(tmp_path / "nope.json"), train["image_root"]]) == 1
    assert f"--train-coco: annotations file not found: {tmp_path}/nope.json" in capsys.readouterr().err
    assert cli.main([*base, "--train-coco", train["json_file"], str(tmp_path / "nowhere")]) == 1
    assert f"--train-coco: image folder not found: {tmp_path}/nowhere" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"images": []}')
    assert cli.main([*base, "--train-coco", str(tmp_path / "bad.json"), train["image_root"]]) == 1
    assert "has no 'categories' list: not a COCO instances file" in capsys.readouterr().err
    from modet.data import DatasetCatalog
    from modet.engine._cli_train import TRAIN_DATASET

    assert TRAIN_DATASET not in DatasetCatalog  # a refused command registers nothing


def test_a_later_command_in_the_process_trains_on_its_own_folder(tmp_path, coco_folder):
    import argparse

    from modet.data import DatasetCatalog, MetadataCatalog
    from modet.engine._cli_train import TRAIN_DATASET, register_cli_datasets

    train, val = coco_folder["train"], coco_folder["val"]
    try:
        for pair in ((train["json_file"], train["image_root"]), (val["json_file"], val["image_root"])):
            register_cli_datasets(argparse.Namespace(train_coco=pair, test_coco=None))
            assert MetadataCatalog.get(TRAIN_DATASET).json_file == pair[0]
            assert len(DatasetCatalog.get(TRAIN_DATASET)) == (4 if pair[0] == train["json_file"] else 2)
    finally:
        DatasetCatalog.pop(TRAIN_DATASET, None)
        MetadataCatalog.pop(TRAIN_DATASET, None)


def test_train_on_a_zoo_name_without_its_datasets_says_how_to_give_one(capsys, tmp_path):
    base = ["train", "--config-file", "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml", "--output", str(tmp_path / "o")]
    assert cli.main(base) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("modet train: error: dataset 'coco_2017_train' ")
    assert "--train-coco JSON IMAGE_DIR" in err
