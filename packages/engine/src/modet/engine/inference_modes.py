"""Opt-in inference modes: other ways to run a built model, picked by ``cfg.TEST.INFERENCE_MODE``.

That key is not among the defaults (detectron2's config has no such key, and a config modet dumps
must stay one detectron2 loads): set it in Python, ``cfg.TEST.INFERENCE_MODE = "compile"``;
where it is absent the mode is "eager".

``DefaultPredictor(cfg, inference_mode=...)`` and ``modet predict --inference-mode`` override
the config. A mode is a function ``prepare(model, cfg) -> run``; ``run(list[dict]) -> list[dict]``
keeps the model's contract, so a mode changes how fast a model runs and, for all but "eager",
its numbers slightly (``packages/modeling/benchmarks/bench_modes.py`` prints by how much).

- "eager" (the default): the model as built; detectron2's numbers.
- "compile": the backbone and the heads compiled in place by ``torch.compile`` (inductor);
  each new image size compiles again at first sight (tens of seconds on a CPU; needs a C++
  compiler there). Same float32 arithmetic, other rounding.
- "bfloat16": the model under ``torch.autocast`` in bfloat16 where the device has bfloat16
  instructions; boxes are decoded and regions pooled in float32, outputs come back as float32.
- "export" (with modet-export installed): the model captured by ``torch.export`` from the first
  image it sees, for any image size, then run as that program.

Plugins add modes through the ``modet_inference_modes`` hook (``modet.core.hookspecs``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from modet.core.config import CfgNode
from modet.core.plugins import ModetPluginManager, collect_named, get_plugin_manager
from modet.structures import Instances

__all__ = [
    "DEFAULT_INFERENCE_MODE",
    "ENGINE_MODES",
    "inference_mode",
    "inference_modes",
    "mode_name",
    "prepare_inference",
]

Runner = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
Prepare = Callable[[nn.Module, CfgNode], Runner]

DEFAULT_INFERENCE_MODE = "eager"


def inference_modes() -> dict[str, Prepare]:
    """Every registered plugin's inference modes by name."""
    return dict(get_plugin_manager().derived(_collect_modes))


def _collect_modes(pm: ModetPluginManager) -> dict[str, Prepare]:
    modes = collect_named("modet_inference_modes", object, "inference mode", pm)
    for name, prepare in modes.items():
        if not callable(prepare):
            raise TypeError(f"inference mode {name!r} is {type(prepare).__name__}; expected prepare(model, cfg)")
    return modes


def mode_name(cfg: CfgNode, requested: str | None = None) -> str:
    """The mode to run in: ``requested``, else ``cfg.TEST.INFERENCE_MODE`` where set, else "eager"."""
    return requested or cfg.TEST.get("INFERENCE_MODE", DEFAULT_INFERENCE_MODE)


def prepare_inference(model: nn.Module, cfg: CfgNode, mode: str | None = None) -> Runner:
    """``model`` (in eval mode, weights loaded) run in ``mode`` (default: :func:`mode_name`)."""
    return inference_mode(mode_name(cfg, mode))(model, cfg)


def inference_mode(name: str) -> Prepare:
    """The ``prepare`` function of the mode ``name``; a ValueError listing the modes if there is none."""
    modes = inference_modes()
    if name not in modes:
        hint = "; 'export' comes with modet-export (pip install modet-export)" if name == "export" else ""
        raise ValueError(f"unknown inference mode {name!r}: choose one of {sorted(modes)}{hint}")
    return modes[name]


# -- modet-engine's modes ------------------------------------------------------------------


def eager(model: nn.Module, cfg: CfgNode) -> Runner:
    """The model itself."""
    return model


def compiled(model: nn.Module, cfg: CfgNode) -> Runner:
    """The model with its backbone and heads compiled in place (``nn.Module.compile``: the module
    tree and ``state_dict`` keys stay as they are). Post-processing stays eager."""
    device = _device_of(model)
    if device.type == "cpu" and not any(shutil.which(name) for name in ("g++", "c++", "clang++")):
        raise RuntimeError("inference mode 'compile' needs a C++ compiler on the CPU (g++ or clang++); none is on PATH")
    for module in _compiled_parts(model):
        module.compile(dynamic=True)
    return model


def _compiled_parts(model: nn.Module) -> list[nn.Module]:
    """The backbone and each head's layers that run on whole feature maps or region batches."""
    parts: list[nn.Module] = []
    for path in (
        "backbone",
        "proposal_generator.rpn_head",
        "roi_heads.box_head",
        "roi_heads.mask_head",
        "roi_heads.keypoint_head",
        "head",
        "sem_seg_head",
    ):
        module: Any = model
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, nn.Module):
            parts.append(module)
    if not parts:
        parts.append(model)
    return parts


def bfloat16(model: nn.Module, cfg: CfgNode) -> Runner:
    """The model under bfloat16 autocast; floating outputs back in float32."""
    device = _device_of(model)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"inference mode 'bfloat16': {torch.cuda.get_device_name(device)} has no bfloat16 support")
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise RuntimeError(
            "inference mode 'bfloat16': this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), "
            "where it would run slower than float32"
        )

    def run(batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            outputs = model(batched_inputs)
        return [{key: _to_float32(value) for key, value in output.items()} for output in outputs]

    return run


def _to_float32(value: Any) -> Any:
    """Outputs with their bfloat16 tensors (also inside ``Instances``, ``Boxes``...) in float32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype == torch.bfloat16 else value
    if isinstance(value, Instances):
        for name, field in value.get_fields().items():
            value.set(name, _to_float32(field))
        return value
    if isinstance(getattr(value, "tensor", None), torch.Tensor):  # Boxes, Keypoints, masks
        value.tensor = _to_float32(value.tensor)
        return value
    if isinstance(value, tuple):
        return tuple(_to_float32(v) for v in value)
    if isinstance(value, list):
        return [_to_float32(v) for v in value]
    return value


def _device_of(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


#: modet-engine's modes, registered through its plugin (``modet.engine.plugin``).
ENGINE_MODES: dict[str, Prepare] = {"eager": eager, "compile": compiled, "bfloat16": bfloat16}
