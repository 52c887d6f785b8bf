"""What modet-safetensors registers: the ``.safetensors`` checkpoint format."""

from __future__ import annotations

from modet.checkpoint import CheckpointFormat
from modet.core import hookimpl


@hookimpl
def modet_checkpoint_formats() -> list[CheckpointFormat]:
    from .format import SAFETENSORS_FORMAT

    return [SAFETENSORS_FORMAT]
