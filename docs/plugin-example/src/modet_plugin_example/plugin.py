"""What this distribution gives modet: one function per hook (all hooks: modet.core.hookspecs)."""

from __future__ import annotations

from typing import Any

from modet.core import hookimpl
from modet.core.config import CfgNode, Range, section
from modet.core.registry import ComponentRegistry


@hookimpl
def modet_register_components(registry: ComponentRegistry) -> None:
    # Lazy: the head's module (and torch) load only when a config names the head.
    registry.register_lazy("roi_box_head", "ExampleMLPHead", "modet_plugin_example.head:ExampleMLPHead")


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    head = section(cfg, "MODEL.EXAMPLE_HEAD")  # a section of your own: no clash with other packages
    head.WIDTH = 256
    head.NUM_FC = 2
    cfg.add_checks(
        {
            "MODEL.EXAMPLE_HEAD.WIDTH": Range(min=1, integer=True),
            "MODEL.EXAMPLE_HEAD.NUM_FC": Range(min=0, integer=True),
        }
    )


@hookimpl
def modet_checkpoint_formats() -> list[Any]:
    from modet.checkpoint import CheckpointFormat

    from .npz_format import load_npz, save_npz

    # No `sniff`: .npz files are zip archives, as torch's .pth files are, so only the suffix
    # may claim a file; a sniff of b"PK" would take every .pth checkpoint.
    return [CheckpointFormat(name="npz", suffixes=(".npz",), load=load_npz, save=save_npz)]


@hookimpl
def modet_subcommands() -> dict[str, Any]:
    from modet.engine.cli import Subcommand  # modet-engine provides the modet command

    return {
        "convert-checkpoint": Subcommand(
            help="convert a checkpoint between formats (.pth, .pkl, .npz...), by the files' suffixes",
            main="modet_plugin_example.cli:main",
            add_arguments="modet_plugin_example.cli:add_arguments",
        )
    }
