"""What modet-safetensors registers: the ``.safetensors`` checkpoint format."""

from __future__ import annotations

from modet.checkpoint import CheckpointFormat
from modet.core import hookimpl


@hookimpl
def modet_checkpoint_formats() -> list[CheckpointFormat]:
    # deferred: every `modet` command imports this plugin; safetensors loads when a format is used
    from .format import SAFETENSORS_FORMAT

    return [SAFETENSORS_FORMAT]
