"""Every example in every ``modet <command> --help`` of modet-engine runs, in the order a user
would (the demo first: the other examples read its model and its shapes dataset).

The examples run as written with test-sized additions: fewer demo images and iterations,
training iterations divided by 150, small images, a tiny model for training, and ``--weights none`` before the example's
own options for training (the zoo's ImageNet backbone is a download; an example's own
``--weights`` comes later and wins).
"""

import argparse
import json
import shlex

import numpy as np
import pytest
from conftest import TINY_MODEL_OPTS
from PIL import Image

from modet.engine import cli
from modet.engine.cli import ENGINE_SUBCOMMANDS

ORDER = ["demo", "info", "predict", "train"]
SMALL_IMAGES = [
    *("INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96"),
    *("INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96", "DATALOADER.NUM_WORKERS", "0"),
]


def help_examples(name: str) -> list[str]:
    """The command lines under ``examples:`` in ``modet <name> --help``."""
    parser = argparse.ArgumentParser(prog=f"modet {name}")
    ENGINE_SUBCOMMANDS[name].load_add_arguments()(parser)
    text = parser.format_help()
    assert "examples:\n" in text, f"modet {name} --help has no examples"
    block = text.split("examples:\n", 1)[1]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("modet ")]


def test_every_engine_command_has_examples():
    assert sorted(ENGINE_SUBCOMMANDS) == sorted(ORDER)
    for name in ORDER:
        assert help_examples(name)


def _test_sized(argv: list[str]) -> list[str]:
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return [command, "--iters", "2", "--num-train", "4", "--num-val", "2", "--num-vis", "1", *rest]
    if command not in ("predict", "train"):
        return argv
    if "SOLVER.MAX_ITER" in rest:
        at = rest.index("SOLVER.MAX_ITER") + 1
        rest[at] = str(max(1, int(rest[at]) // 150))
    # Training: the tiny widths of the other tests (and BatchNorm: random weights through frozen BN diverge).
    extra = [*SMALL_IMAGES, *TINY_MODEL_OPTS, "SOLVER.IMS_PER_BATCH", "2"] if command == "train" else SMALL_IMAGES
    rest = [*rest, *extra] if "--opts" in rest else [*rest, "--opts", *extra]
    return [command, "--weights", "none", *rest] if command == "train" else [command, *rest]


def test_every_help_example_runs(tmp_path, monkeypatch, capsys):
    import torch

    from modet.data import DatasetCatalog, MetadataCatalog

    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)).save("photo.jpg")
    examples = [line for name in ORDER for line in help_examples(name)]
    try:
        for line in examples:
            argv = shlex.split(line)[1:]
            status = cli.main(_test_sized(argv))
            captured = capsys.readouterr()
            assert status == 0, f"{line}\n{captured.err}"
            if argv[:2] == ["info", "--json"]:
                assert "predict" in json.loads(captured.out)["commands"]
    finally:
        torch.set_num_threads(threads)  # the demo sets one thread for its process
        for name in [*DatasetCatalog]:
            if name.startswith(("shapes_", "modet_train_coco", "modet_test_coco")):
                DatasetCatalog.pop(name, None)
                MetadataCatalog.pop(name, None)
    assert (tmp_path / "output" / "predict" / "photo.png").is_file()
    assert (tmp_path / "output" / "shapes_frcnn" / "model_final.pth").is_file()
    assert (tmp_path / "output" / "shapes_frcnn_eval" / "inference").is_dir()
    predicted = json.loads(next((tmp_path / "output" / "demo_predictions").glob("*.json")).read_text())
    assert all(inst["category_name"] in ("square", "triangle", "ellipse") for inst in predicted["instances"])


@pytest.mark.parametrize("name", ORDER)
def test_help_prints_and_exits_0(name, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([name, "--help"])
    assert exited.value.code == 0
    assert "examples:" in capsys.readouterr().out
