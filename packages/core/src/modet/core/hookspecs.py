"""Every hook a modet plugin can implement, in one file: this is the whole extension surface.

A plugin is a module (or object) named by an entry point in the ``modet`` group::

    [project.entry-points.modet]
    my_backbones = "my_package.modet_plugin"

and implements any of the hooks below with ``@modet.core.hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .config import CfgNode
    from .registry import ComponentRegistry

PROJECT_NAME = "modet"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def modet_register_components(registry: ComponentRegistry) -> None:
    """Add named builders to ``registry`` by kind.

    Kinds are detectron2's registries: ``meta_arch``, ``backbone``, ``proposal_generator``,
    ``rpn_head``, ``anchor_generator``, ``roi_heads``, ``roi_box_head``, ``roi_mask_head``,
    ``roi_keypoint_head``, ``sem_seg_head``. Use ``registry.register(kind, obj)`` or, to keep
    start-up cheap, ``registry.register_lazy(kind, name, "package.module:attr")``.
    """


@hookspec
def modet_add_config(cfg: CfgNode) -> None:
    """Add this plugin's config keys, with their defaults, to ``cfg`` (the result of get_cfg)."""


@hookspec
def modet_checkpoint_formats() -> list[Any]:
    """Return checkpoint formats (``modet.checkpoint.CheckpointFormat`` objects) this plugin provides."""
