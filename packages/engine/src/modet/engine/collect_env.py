"""A text report of the software and hardware a run used (detectron2's ``collect_env_info``),
for bug reports and the top of training logs."""

from __future__ import annotations

import importlib
import os
import platform
import sys

import numpy as np
import torch

from ._cli_commands import installed_modet_distributions

__all__ = ["collect_env_info"]

# Libraries whose versions matter to modet's numbers or I/O, reported when installed.
_OPTIONAL_LIBRARIES = ("torchvision", "PIL", "pycocotools", "matplotlib", "fvcore", "iopath", "cv2", "omegaconf")


def _version_of(module_name: str) -> str | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "unknown"))


def collect_env_info() -> str:
    """Platform, Python, numpy, every installed modet distribution, torch (build, CUDA, devices)
    and the optional libraries, one ``name  value`` row each."""
    rows: list[tuple[str, str]] = [
        ("sys.platform", sys.platform),
        ("Python", sys.version.replace("\n", " ")),
        ("platform", platform.platform()),
        ("numpy", np.__version__),
    ]
    rows += [(name, version) for name, version in installed_modet_distributions()]
    rows += [
        ("PyTorch", f"{torch.__version__} @{os.path.dirname(torch.__file__)}"),
        ("PyTorch debug build", str(torch.version.debug)),
        ("CUDA available", str(torch.cuda.is_available())),
    ]
    if torch.cuda.is_available():
        rows.append(("CUDA (torch built with)", str(torch.version.cuda)))
        names: dict[str, list[str]] = {}
        for index in range(torch.cuda.device_count()):
            names.setdefault(torch.cuda.get_device_name(index), []).append(str(index))
        rows += [(f"GPU {','.join(ids)}", name) for name, ids in names.items()]
    rows.append(("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", "<not set>")))
    for module_name in _OPTIONAL_LIBRARIES:
        version = _version_of(module_name)
        if version is not None:
            rows.append((module_name, version))
    rows.append(("torch threads", str(torch.get_num_threads())))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


if __name__ == "__main__":
    print(collect_env_info())
