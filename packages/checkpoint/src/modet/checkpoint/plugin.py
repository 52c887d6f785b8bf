"""modet-checkpoint's own plugin: the built-in checkpoint formats, registered like any other."""

from __future__ import annotations

from modet.core import hookimpl

from .formats import CheckpointFormat


@hookimpl
def modet_checkpoint_formats() -> list[CheckpointFormat]:
    # deferred: every `modet` command loads this plugin; the formats (and torch) load on first use
    from .builtin_formats import builtin_formats

    return builtin_formats()
