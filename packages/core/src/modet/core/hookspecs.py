"""Every hook a modet plugin can implement, in one file: this is the whole extension surface.

A plugin is a module (or object) named by an entry point in the ``modet`` group::

    [project.entry-points.modet]
    my_backbones = "my_package.modet_plugin"

and implements any of the hooks below with ``@modet.core.hookimpl``. A script or notebook
registers an object with such methods by hand: ``modet.core.get_plugin_manager().register(obj)``.
Wrapper hookimpls (``@hookimpl(wrapper=True)``) work as pluggy defines them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .components import ComponentRegistry
    from .config import CfgNode

PROJECT_NAME = "modet"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def modet_register_components(registry: ComponentRegistry) -> None:
    """Add named builders to ``registry`` by kind.

    Kinds are detectron2's registries: ``meta_arch``, ``backbone``, ``proposal_generator``,
    ``rpn_head``, ``anchor_generator``, ``roi_heads``, ``roi_box_head``, ``roi_mask_head``,
    ``roi_keypoint_head``, ``sem_seg_head``. Use ``registry.register(kind, obj)`` or, to keep
    start-up cheap, ``registry.register_lazy(kind, name, "package.module:attr")``. A kind of
    one's own is declared first with ``registry.add_kind(kind)``; any other kind is an error.
    """


@hookspec
def modet_add_config(cfg: CfgNode) -> None:
    """Add this plugin's config keys, with their defaults, to ``cfg`` (the result of get_cfg).

    Declare the ranges of keys a user may get wrong with ``cfg.add_checks({...})``. A key
    another plugin already defines with a different default is an error naming both.
    """


@hookspec
def modet_checkpoint_formats() -> list[Any]:
    """Return checkpoint formats (``modet.checkpoint.CheckpointFormat`` objects) this plugin provides."""


@hookspec
def modet_subcommands() -> dict[str, Any]:
    """Return ``{name: modet.engine.cli.Subcommand}``: the ``modet <name>`` commands this plugin adds."""


@hookspec
def modet_inference_modes() -> dict[str, Any]:
    """Return ``{name: prepare}``: opt-in ways to run a built model in inference, which
    ``DefaultPredictor`` picks by ``cfg.TEST.INFERENCE_MODE`` (``modet predict --inference-mode``).

    ``prepare(model, cfg)`` gets the model in eval mode with its weights loaded and returns a
    callable with the model's contract, ``list[dict] -> list[dict]``. modet-engine provides
    "eager", "compile" and "bfloat16", modet-export "export" (``modet.engine.inference_modes``).
    """
