"""Checkpoints as numpy archives (``.npz``): the model's tensors only, read without pickle."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def load_npz(path: str) -> dict[str, Any]:
    # allow_pickle=False: reading a file never runs code from it
    with np.load(path, allow_pickle=False) as archive:
        return {"model": {name: archive[name] for name in archive.files}}


def save_npz(checkpoint: dict[str, Any], path: str) -> None:
    arrays = {name: torch.as_tensor(value).detach().cpu().numpy() for name, value in checkpoint["model"].items()}
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
        np.savez(f, allow_pickle=False, **arrays)
