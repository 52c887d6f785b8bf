"""modet-export's plugin: the ``modet export`` subcommand (when modet-engine, its ``cli`` extra, is installed)."""

from __future__ import annotations

import importlib.util
from typing import Any

from modet.core import hookimpl


@hookimpl
def modet_subcommands() -> dict[str, Any]:
    if importlib.util.find_spec("modet.engine") is None:  # the command needs the `cli` extra
        return {}
    from .cli import EXPORT_COMMAND  # imports modet.engine: only when the modet command asks

    return {"export": EXPORT_COMMAND}
