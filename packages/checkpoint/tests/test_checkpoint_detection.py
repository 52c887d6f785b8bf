from __future__ import annotations

import logging
import pickle
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from checkpoint_helpers import FIXTURES, TinyNet, module_with_keys
from torch import nn

from modet.checkpoint import (
    CheckpointNotFoundError,
    DetectionCheckpointer,
    IncompatibleKeys,
    align_and_update_state_dicts,
    convert_basic_c2_names,
    convert_c2_detectron_names,
)

C2_DIR = FIXTURES / "c2_imagenet_R_50"
ZOO_DIR = FIXTURES / "mask_rcnn_R_50_FPN"


def _model_like(state_dict: dict[str, torch.Tensor], extra: dict[str, tuple[int, ...]] | None = None) -> nn.Module:
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    return module_with_keys({**shapes, **(extra or {})})


def test_caffe2_imagenet_weights_load_exactly_as_detectron2_loads_them() -> None:
    expected = torch.load(C2_DIR / "expected.pt", weights_only=True)
    heads = {"backbone.fpn_lateral2.weight": (32, 32, 1, 1), "proposal_generator.rpn_head.conv.weight": (32, 32, 3, 3)}
    model = _model_like(expected["loaded"], heads)
    checkpointer = DetectionCheckpointer(model)
    assert checkpointer.load(str(C2_DIR / "R-50-tiny.pkl")) == {"__author__": "Caffe2", "matching_heuristics": True}

    state = model.state_dict()
    for key, tensor in expected["loaded"].items():
        assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), key
    report = checkpointer.incompatible_keys
    assert sorted(report.loaded_keys) == sorted(expected["loaded"])
    assert sorted(report.missing_keys) == sorted(heads)
    assert sorted(report.unexpected_keys) == ["fc1000.bias", "fc1000.weight"]  # the ImageNet classifier


def test_caffe2_names_map_to_detectron2_names() -> None:
    expected = torch.load(C2_DIR / "expected.pt", weights_only=True)["c2_to_d2"]
    renamed = dict(zip(expected, convert_basic_c2_names(list(expected))))
    for c2_name, d2_name in expected.items():
        assert d2_name == f"backbone.bottom_up.{renamed[c2_name]}", c2_name
    assert convert_basic_c2_names(["res_conv1_bn_s", "conv1_w", "res5_2_branch2c_bn_b", "pred_w"]) == [
        "stem.conv1.norm.weight",
        "stem.conv1.weight",
        "res5.2.conv3.norm.bias",
        "linear.weight",
    ]


def test_caffe2_detection_names_and_background_class_handling() -> None:
    weights = {
        "cls_score_w": torch.arange(3.0).view(3, 1),  # background first in Caffe2
        "bbox_pred_b": torch.arange(12.0),
        "fc6_w": torch.ones(2),
        "conv_rpn_fpn2_w": torch.ones(1),
        "rpn_bbox_pred_fpn2_b": torch.ones(1),
        "fpn_inner_res4_5_sum_lateral_w": torch.ones(1),
        "fpn_res3_3_sum_b": torch.ones(1),
        "mask_fcn_logits_w": torch.arange(3.0),
        "kps_score_lowres_w": torch.ones(1),
        "conv_fcn3_b": torch.ones(1),
    }
    converted, original = convert_c2_detectron_names(weights)
    assert sorted(converted) == [
        "bbox_pred.bias",
        "box_head.fc1.weight",
        "cls_score.weight",
        "fpn_lateral4.weight",
        "fpn_output3.bias",
        "mask_head.predictor.weight",
        "proposal_generator.rpn_head.anchor_deltas.bias",
        "proposal_generator.rpn_head.conv.weight",
        "roi_heads.keypoint_head.conv_fcn3.bias",
        "roi_heads.keypoint_head.score_lowres.weight",
    ]
    assert original["cls_score.weight"] == "cls_score_w"
    assert converted["cls_score.weight"].flatten().tolist() == [1.0, 2.0, 0.0]  # background moved last
    assert converted["bbox_pred.bias"].tolist() == list(range(4, 12))  # background box dropped
    assert converted["mask_head.predictor.weight"].tolist() == [1.0, 2.0]


def test_suffix_matching_prefers_the_longest_whole_component_suffix() -> None:
    model_state = {
        "backbone.res2.conv1.weight": torch.zeros(2),
        "backbone.conv1.weight": torch.zeros(2),
        "head.whatever_conv1.weight": torch.zeros(2),
        "head.fc.weight": torch.zeros(3),
    }
    ckpt = {
        "res2.conv1.weight": torch.full((2,), 1.0),
        "conv1.weight": torch.full((2,), 2.0),
        "fc.weight": torch.ones(4),
    }
    result = align_and_update_state_dicts(model_state, ckpt, c2_conversion=False)
    assert result["backbone.res2.conv1.weight"].tolist() == [1.0, 1.0]
    assert result["backbone.conv1.weight"].tolist() == [2.0, 2.0]
    assert "head.whatever_conv1.weight" not in result  # "conv1" is not a whole-component suffix of it
    assert "head.fc.weight" not in result and "fc.weight" in result  # shape differs: kept unmatched
    with pytest.raises(ValueError, match="Ambiguous checkpoint key 'conv1.weight'"):
        align_and_update_state_dicts(
            {"a.conv1.weight": torch.zeros(1), "b.conv1.weight": torch.zeros(1)},
            {"conv1.weight": torch.ones(1)},
            c2_conversion=False,
        )


@pytest.mark.parametrize("name", ["model_final.pth", "model_final.pkl"])
def test_model_zoo_files_load_as_they_are(name: str) -> None:
    reference = torch.load(ZOO_DIR / "model_final.pth", weights_only=True)["model"]
    model = _model_like(reference)
    checkpointer = DetectionCheckpointer(model)
    extra = checkpointer.load(str(ZOO_DIR / name))
    assert extra == {"__author__": extra["__author__"]}
    state = model.state_dict()
    for key, tensor in reference.items():
        assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), key
    assert checkpointer.incompatible_keys == IncompatibleKeys(loaded_keys=checkpointer.incompatible_keys.loaded_keys)
    assert len(checkpointer.incompatible_keys.loaded_keys) == len(reference)


def test_fine_tuning_skips_mismatched_shapes_with_one_log_line_each(tmp_path: Path, caplog_info) -> None:
    coco = TinyNet(num_classes=80)
    torch.save({"model": coco.state_dict()}, tmp_path / "coco.pth")
    model = TinyNet(num_classes=3)
    initial_classifier = model.cls_score.weight.detach().clone()
    checkpointer = DetectionCheckpointer(model)
    checkpointer.load(str(tmp_path / "coco.pth"))

    report = checkpointer.incompatible_keys
    assert report.incorrect_shapes == [("cls_score.weight", (81, 4), (4, 4)), ("cls_score.bias", (81,), (4,))]
    assert report.missing_keys == ["cls_score.weight", "cls_score.bias"]
    assert torch.equal(model.cls_score.weight, initial_classifier)
    assert torch.equal(model.backbone[0].weight, coco.backbone[0].weight)
    skip_lines = [r.getMessage() for r in caplog_info.records if r.getMessage().startswith("Skip loading parameter")]
    assert skip_lines == [
        "Skip loading parameter 'cls_score.weight' to the model due to incompatible shapes: (81, 4) in the checkpoint "
        "but (4, 4) in the model! You might want to double check if this is expected.",
        "Skip loading parameter 'cls_score.bias' to the model due to incompatible shapes: (81,) in the checkpoint "
        "but (4,) in the model! You might want to double check if this is expected.",
    ]
    summary = next(r.getMessage() for r in caplog_info.records if r.getMessage().startswith("Checkpoint load summary"))
    lines = summary.splitlines()
    assert lines[1].split() == ["module", "|", "loaded", "|", "skipped", "|", "random", "|", "unused"]
    rows = {line.split("|")[0].strip(): [int(x) for x in line.split("|")[1:]] for line in lines[3:] if "|" in line}
    assert rows["backbone.0"] == [2, 0, 0, 0]
    assert rows["backbone.1"] == [5, 0, 0, 0]  # BatchNorm: weight, bias, running stats, num_batches_tracked
    assert rows["cls_score"] == [0, 2, 2, 0]
    assert rows["(top level)"] == [2, 0, 0, 0]  # pixel_mean, pixel_std
    assert rows["total"] == [9, 2, 2, 0]


def test_missing_pixel_stats_and_unexpected_cell_anchors_are_not_reported(tmp_path: Path, caplog_info) -> None:
    state = {k: v for k, v in TinyNet().state_dict().items() if k not in ("pixel_mean", "pixel_std")}
    state["proposal_generator.anchor_generator.cell_anchors.0"] = torch.zeros(3, 4)
    state["old_head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "old.pth")
    checkpointer = DetectionCheckpointer(TinyNet())
    checkpointer.load(str(tmp_path / "old.pth"))
    assert checkpointer.incompatible_keys.missing_keys == []
    assert checkpointer.incompatible_keys.unexpected_keys == ["old_head.weight"]
    warnings = "\n".join(r.getMessage() for r in caplog_info.records if r.levelno >= logging.WARNING)
    assert "pixel_mean" not in warnings and "cell_anchors" not in warnings and "old_head.weight" in warnings


def test_numpy_state_dicts_and_module_prefixes_are_accepted(tmp_path: Path) -> None:
    source = TinyNet()
    numpy_state = {"module." + k: v.numpy() for k, v in source.state_dict().items()}
    (tmp_path / "np.pkl").write_bytes(pickle.dumps({"model": numpy_state, "__author__": "someone"}))
    model = TinyNet()
    DetectionCheckpointer(model).load(str(tmp_path / "np.pkl"))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps({"model": {"w": [1, 2]}, "__author__": "someone"}))
    with pytest.raises(ValueError, match="bad.pkl: model entry .w. is a list, not an array or tensor"):
        DetectionCheckpointer(model).load(str(tmp_path / "bad.pkl"))


def test_matching_heuristics_query_matches_names_by_suffix(tmp_path: Path) -> None:
    source = TinyNet()
    short_names = {k.removeprefix("backbone."): v for k, v in source.state_dict().items() if k.startswith("backbone.")}
    torch.save(short_names, tmp_path / "backbone.pth")
    model = TinyNet()
    checkpointer = DetectionCheckpointer(model)
    checkpointer.load(str(tmp_path / "backbone.pth"))
    assert not torch.equal(model.backbone[0].weight, source.backbone[0].weight)
    checkpointer.load(f"{tmp_path / 'backbone.pth'}?matching_heuristics=True")
    assert torch.equal(model.backbone[0].weight, source.backbone[0].weight)
    assert torch.equal(model.backbone[1].running_var, source.backbone[1].running_var)
    assert checkpointer.load((tmp_path / "backbone.pth").as_uri() + "?matching_heuristics=True") == {
        "matching_heuristics": True
    }
    with pytest.raises(ValueError, match="Unsupported query 'foo=1'"):
        checkpointer.load(f"{tmp_path / 'backbone.pth'}?foo=1")


def test_data_parallel_models_are_unwrapped(tmp_path: Path) -> None:
    inner = TinyNet()
    DetectionCheckpointer(nn.DataParallel(inner), str(tmp_path)).save("dp")
    saved = torch.load(tmp_path / "dp.pth", weights_only=True)["model"]
    assert list(saved) == list(inner.state_dict())
    other = nn.DataParallel(TinyNet())
    DetectionCheckpointer(other).load(str(tmp_path / "dp.pth"))
    assert torch.equal(other.module.cls_score.weight, inner.cls_score.weight)


def test_distributed_data_parallel_models_are_unwrapped_and_loaded(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        source = TinyNet()
        torch.save({"model": source.state_dict(), "iteration": 5}, tmp_path / "m.pth")
        ddp = nn.parallel.DistributedDataParallel(TinyNet())
        checkpointer = DetectionCheckpointer(ddp, str(tmp_path / "out"))
        assert checkpointer.model is ddp.module and checkpointer.save_to_disk  # rank 0
        assert checkpointer.load(str(tmp_path / "m.pth")) == {"iteration": 5}
        assert torch.equal(ddp.module.cls_score.weight, source.cls_score.weight)
        with pytest.raises(FileNotFoundError, match="not found on the main worker"):
            checkpointer.load(str(tmp_path / "missing.pth"))
    finally:
        dist.destroy_process_group()


def test_bad_paths_give_one_clear_error(tmp_path: Path) -> None:
    checkpointer = DetectionCheckpointer(TinyNet())
    with pytest.raises(CheckpointNotFoundError, match=r"Checkpoint .*nope\.pkl not found"):
        checkpointer.load(str(tmp_path / "nope.pkl"))
    with pytest.raises(CheckpointNotFoundError, match=r"nope\.pth not found"):
        checkpointer.load((tmp_path / "nope.pth").as_uri())


def test_pycls_weights_are_matched_by_suffix(tmp_path: Path) -> None:
    source = TinyNet()
    state = {k.removeprefix("backbone."): v for k, v in source.state_dict().items() if k.startswith("backbone.")}
    torch.save({"epoch": 1, "model_state": state}, tmp_path / "regnet.pyth")
    model = TinyNet()
    DetectionCheckpointer(model).load(str(tmp_path / "regnet.pyth"))
    assert torch.equal(model.backbone[0].weight, source.backbone[0].weight)
    assert model.backbone[1].num_batches_tracked.item() == 0  # dropped from pycls files


def _load_on_two_workers(rank: int, folder: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/init", rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)  # different weights on each worker before loading
        ddp = nn.parallel.DistributedDataParallel(TinyNet())
        # Only the main worker can read the file: the other gets the weights by broadcast.
        path = f"{folder}/m.pth" if rank == 0 else f"{folder}/not-on-this-worker.pth"
        DetectionCheckpointer(ddp).load(path)
        torch.save(ddp.module.state_dict(), f"{folder}/loaded-{rank}.pt")
        dist.barrier()  # neither closes its connection while the other may still be reading
    finally:
        dist.destroy_process_group()


def test_a_worker_without_the_file_gets_the_main_workers_weights(tmp_path: Path) -> None:
    torch.manual_seed(7)
    source = TinyNet()
    torch.save({"model": source.state_dict()}, tmp_path / "m.pth")
    # fork: the workers reuse this process's imports instead of starting Python twice.
    torch.multiprocessing.start_processes(
        _load_on_two_workers, args=(str(tmp_path),), nprocs=2, join=True, start_method="fork"
    )
    for rank in (0, 1):
        loaded = torch.load(tmp_path / f"loaded-{rank}.pt", weights_only=True)
        assert set(loaded) == set(source.state_dict())
        for key, value in source.state_dict().items():
            assert torch.equal(loaded[key], value), (rank, key)


def test_longest_common_prefix_str() -> None:
    from modet.checkpoint.c2_model_loading import longest_common_prefix_str

    assert longest_common_prefix_str(["class", "dlaps_model"]) == ""
    assert longest_common_prefix_str(["classA", "classB"]) == "class"
    assert longest_common_prefix_str(["classA", "classB", "clab"]) == "cla"
    assert longest_common_prefix_str(["res2.0.conv1", "res2.0.conv2", "res2.1"]) == "res2."
    assert longest_common_prefix_str(["same"]) == "same" and longest_common_prefix_str([]) == ""
