"""Inference modes: cfg.TEST.INFERENCE_MODE / DefaultPredictor(inference_mode=) / modet predict --inference-mode."""

import shutil

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from modet.core import hookimpl, plugins
from modet.core.config import get_cfg
from modet.engine import DefaultPredictor, cli
from modet.engine.inference_modes import inference_modes


def _image(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    image[10:35, 15:45] = (30, 160, 220)
    return image


def test_the_default_mode_is_eager_and_modet_engine_provides_three():
    assert "INFERENCE_MODE" not in get_cfg().TEST  # detectron2's keys only: its configs stay loadable there
    assert {"eager", "compile", "bfloat16"} <= set(inference_modes())


def test_an_unknown_mode_is_a_clear_error_listing_the_modes(tiny_checkpoint):
    cfg, _ = tiny_checkpoint
    with pytest.raises(ValueError, match=r"unknown inference mode 'fast': choose one of \[.*'bfloat16'.*'eager'"):
        DefaultPredictor(cfg, inference_mode="fast")


def test_the_config_key_picks_the_mode_and_a_plugin_can_add_one(tiny_checkpoint):
    cfg, _ = tiny_checkpoint
    prepared = []

    class HalfBatches:
        @hookimpl
        def modet_inference_modes(self):
            def prepare(model, cfg):
                prepared.append((model.training, cfg.TEST.INFERENCE_MODE))
                return lambda inputs: [{"instances": model(inputs)[0]["instances"][:3]} for _ in inputs]

            return {"three": prepare}

    plugins.get_plugin_manager().register(HalfBatches(), name="three-plugin")
    cfg = cfg.clone()
    cfg.TEST.INFERENCE_MODE = "three"
    predictor = DefaultPredictor(cfg)
    assert predictor.inference_mode == "three" and prepared == [(False, "three")]
    assert len(predictor(_image())["instances"]) == 3
    assert [len(o["instances"]) for o in predictor([_image(), _image(2)])] == [3, 3]
    assert len(DefaultPredictor(cfg, inference_mode="eager")(_image())["instances"]) == 20  # the argument wins


def test_two_plugins_giving_one_mode_name_is_an_error_naming_both(tiny_checkpoint):
    class Clash:
        @hookimpl
        def modet_inference_modes(self):
            return {"eager": lambda model, cfg: model}

    plugins.get_plugin_manager().register(Clash(), name="clash-plugin")
    with pytest.raises(ValueError, match=r"inference mode 'eager' is provided by both plugin .*'clash-plugin'"):
        inference_modes()


def _bf16_supported() -> bool:
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def test_bfloat16_mode_convolves_in_bfloat16_and_returns_float32_close_to_eager(tiny_checkpoint):
    cfg, _ = tiny_checkpoint
    if not _bf16_supported():
        with pytest.raises(RuntimeError, match="this CPU has no bfloat16 instructions"):
            DefaultPredictor(cfg, inference_mode="bfloat16")
        return
    predictor = DefaultPredictor(cfg, inference_mode="bfloat16")
    dtypes = []
    predictor.model.backbone.bottom_up.stem.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    ours = predictor(_image())["instances"]
    eager = DefaultPredictor(cfg)(_image())["instances"]
    assert dtypes == [torch.bfloat16]
    assert ours.scores.dtype == ours.pred_boxes.tensor.dtype == torch.float32
    assert ours.pred_masks.dtype == torch.bool and ours.image_size == (50, 70)
    # bfloat16 keeps 8 bits of mantissa: boxes move, but most stay where float32 puts them
    best_iou = box_iou(eager.pred_boxes.tensor, ours.pred_boxes.tensor).amax(dim=1)
    assert len(ours) == len(eager) == 20
    assert best_iou.median() >= 0.8, best_iou
    assert (eager.scores.sort().values - ours.scores.sort().values).abs().max() < 0.02


def test_compile_mode_gives_eager_numbers_or_says_it_needs_a_compiler(tiny_checkpoint, monkeypatch):
    cfg, _ = tiny_checkpoint
    if not any(shutil.which(name) for name in ("g++", "c++", "clang++")):
        with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler"):
            DefaultPredictor(cfg, inference_mode="compile")
        return
    predictor = DefaultPredictor(cfg, inference_mode="compile")
    keys = set(predictor.model.state_dict())
    ours = predictor(_image())["instances"]
    eager = DefaultPredictor(cfg)(_image())["instances"]
    assert set(predictor.model.state_dict()) == keys  # compiled in place: checkpoints still load
    assert len(ours) == len(eager)
    torch.testing.assert_close(ours.pred_boxes.tensor, eager.pred_boxes.tensor, atol=1e-2, rtol=1e-4)
    torch.testing.assert_close(ours.scores, eager.scores, atol=1e-4, rtol=1e-4)


def test_predict_names_a_wrong_mode_before_building_and_reports_the_mode_used(capsys, tmp_path, tiny_checkpoint):
    from PIL import Image

    cfg, _ = tiny_checkpoint
    config = tmp_path / "tiny.yaml"
    config.write_text(cfg.dump())
    photo = tmp_path / "photo.png"
    Image.fromarray(_image()).save(photo)
    base = ["predict", "--config-file", str(config), "--input", str(photo), "--device", "cpu"]
    assert cli.main([*base, "--output", str(tmp_path / "a"), "--inference-mode", "fastest"]) == 1
    assert "modet predict: error: unknown inference mode 'fastest': choose one of" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    mode = "bfloat16" if _bf16_supported() else "eager"
    assert cli.main([*base, "--output", str(tmp_path / "b"), "--inference-mode", mode]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "s per image on cpu" + (" (bfloat16)" if mode == "bfloat16" else "") + ";" in last
    assert (tmp_path / "b" / "photo.json").is_file()
