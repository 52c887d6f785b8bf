"""Meta-architectures (whole models) and ``build_model``.

Imported lazily, so that this package imports even where an optional meta-architecture's
module is absent or being rewritten.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "META_ARCH_REGISTRY": "build",
    "build_model": "build",
    "GeneralizedRCNN": "rcnn",
    "ProposalNetwork": "rcnn",
    "DenseDetector": "dense_detector",
    "RetinaNet": "retinanet",
    "SemanticSegmentor": "semantic_seg",
    "SemSegFPNHead": "semantic_seg",
    "SEM_SEG_HEADS_REGISTRY": "semantic_seg",
    "build_sem_seg_head": "semantic_seg",
    "PanopticFPN": "panoptic_fpn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modet.modeling.meta_arch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
