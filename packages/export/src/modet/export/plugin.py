"""modet-export's plugin: the ``modet export`` subcommand (when modet-engine, its ``cli`` extra, is
installed) and the "export" inference mode of ``DefaultPredictor``."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from modet.core import hookimpl

if TYPE_CHECKING:
    from torch import nn


@hookimpl
def modet_subcommands() -> dict[str, Any]:
    if importlib.util.find_spec("modet.engine") is None:  # the command needs the `cli` extra
        return {}
    from .cli import EXPORT_COMMAND  # imports modet.engine: only when the modet command asks

    return {"export": EXPORT_COMMAND}


@hookimpl
def modet_inference_modes() -> dict[str, Any]:
    return {"export": prepare_exported}


def prepare_exported(model: nn.Module, cfg: Any) -> Any:
    """The "export" inference mode: ``model`` run as its ``torch.export`` program (captured at its first call)."""
    from .inference_mode import ExportOnFirstCall  # imports torch.export: only when a predictor asks

    return ExportOnFirstCall(model)
