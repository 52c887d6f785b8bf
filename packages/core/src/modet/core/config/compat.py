"""Config versions: detectron2's ``upgrade_config`` / ``downgrade_config`` for ``get_cfg`` configs.

detectron2's configs are at ``VERSION: 2``. Version 1 named the RPN head ``MODEL.RPN_HEAD.NAME``;
version 0 also used the pre-release names (``MODEL.WEIGHT``, ``TEST.AUG_ON``…). Each converter
renames keys one version up or down; ``CfgNode.merge_from_file`` uses them to read old files.
Converters assume a full config (every default present), not a partial one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cfgnode import CfgNode

#: detectron2's current config format.
LATEST_VERSION = 2

__all__ = ["downgrade_config", "guess_version", "upgrade_config"]

logger = logging.getLogger(__name__)


def _get(cfg: CfgNode, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"config has no key {dotted}: version conversion needs a full config (get_cfg())")
        node = node[part]
    return node


def _has(cfg: CfgNode, dotted: str) -> bool:
    try:
        _get(cfg, dotted)
    except KeyError:
        return False
    return True


def _delete(cfg: CfgNode, dotted: str) -> None:
    """Delete a key, and each parent that this leaves empty."""
    parts = dotted.split(".")
    parent = _get(cfg, ".".join(parts[:-1])) if len(parts) > 1 else cfg
    del parent[parts[-1]]
    if len(parts) > 1 and len(parent) == 0:
        _delete(cfg, ".".join(parts[:-1]))


def _rename(cfg: CfgNode, old: str, new: str) -> None:
    value = _get(cfg, old)
    node = cfg
    for part in new.split(".")[:-1]:
        if part not in node:
            node[part] = type(cfg)()
        node = node[part]
    node[new.split(".")[-1]] = value
    _delete(cfg, old)


class _Renames:
    """A converter made of renames only: (old name, new name) pairs, applied in order going up."""

    RENAMES: tuple[tuple[str, str], ...] = ()

    @classmethod
    def upgrade(cls, cfg: CfgNode) -> None:
        for old, new in cls.RENAMES:
            _rename(cfg, old, new)

    @classmethod
    def downgrade(cls, cfg: CfgNode) -> None:
        for old, new in reversed(cls.RENAMES):
            _rename(cfg, new, old)


class _V0ToV1(_Renames):
    RENAMES = (("MODEL.RPN_HEAD.NAME", "MODEL.RPN.HEAD_NAME"),)


class _V1ToV2(_Renames):
    RENAMES = (
        ("MODEL.WEIGHT", "MODEL.WEIGHTS"),
        ("MODEL.PANOPTIC_FPN.SEMANTIC_LOSS_SCALE", "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT"),
        ("MODEL.PANOPTIC_FPN.RPN_LOSS_SCALE", "MODEL.RPN.LOSS_WEIGHT"),
        ("MODEL.PANOPTIC_FPN.INSTANCE_LOSS_SCALE", "MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT"),
        ("MODEL.PANOPTIC_FPN.COMBINE_ON", "MODEL.PANOPTIC_FPN.COMBINE.ENABLED"),
        ("MODEL.PANOPTIC_FPN.COMBINE_OVERLAP_THRESHOLD", "MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH"),
        ("MODEL.PANOPTIC_FPN.COMBINE_STUFF_AREA_LIMIT", "MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT"),
        (
            "MODEL.PANOPTIC_FPN.COMBINE_INSTANCES_CONFIDENCE_THRESHOLD",
            "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH",
        ),
        ("MODEL.ROI_HEADS.SCORE_THRESH", "MODEL.ROI_HEADS.SCORE_THRESH_TEST"),
        ("MODEL.ROI_HEADS.NMS", "MODEL.ROI_HEADS.NMS_THRESH_TEST"),
        ("MODEL.RETINANET.INFERENCE_SCORE_THRESHOLD", "MODEL.RETINANET.SCORE_THRESH_TEST"),
        ("MODEL.RETINANET.INFERENCE_TOPK_CANDIDATES", "MODEL.RETINANET.TOPK_CANDIDATES_TEST"),
        ("MODEL.RETINANET.INFERENCE_NMS_THRESHOLD", "MODEL.RETINANET.NMS_THRESH_TEST"),
        ("TEST.DETECTIONS_PER_IMG", "TEST.DETECTIONS_PER_IMAGE"),
        ("TEST.AUG_ON", "TEST.AUG.ENABLED"),
        ("TEST.AUG_MIN_SIZES", "TEST.AUG.MIN_SIZES"),
        ("TEST.AUG_MAX_SIZE", "TEST.AUG.MAX_SIZE"),
        ("TEST.AUG_FLIP", "TEST.AUG.FLIP"),
    )

    @classmethod
    def upgrade(cls, cfg: CfgNode) -> None:
        super().upgrade(cfg)
        # v1 kept anchors under RPN and RETINANET; v2 has one ANCHOR_GENERATOR, filled from the
        # section of the meta-architecture in use
        if cfg.MODEL.META_ARCHITECTURE == "RetinaNet":
            used, unused = "MODEL.RETINANET", "MODEL.RPN"
        else:
            used, unused = "MODEL.RPN", "MODEL.RETINANET"
        _rename(cfg, f"{used}.ANCHOR_ASPECT_RATIOS", "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS")
        _rename(cfg, f"{used}.ANCHOR_SIZES", "MODEL.ANCHOR_GENERATOR.SIZES")
        _delete(cfg, f"{unused}.ANCHOR_SIZES")
        _delete(cfg, f"{unused}.ANCHOR_ASPECT_RATIOS")
        _delete(cfg, "MODEL.RETINANET.ANCHOR_STRIDES")

    @classmethod
    def downgrade(cls, cfg: CfgNode) -> None:
        super().downgrade(cfg)
        _rename(cfg, "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", "MODEL.RPN.ANCHOR_ASPECT_RATIOS")
        _rename(cfg, "MODEL.ANCHOR_GENERATOR.SIZES", "MODEL.RPN.ANCHOR_SIZES")
        cfg.MODEL.RETINANET.ANCHOR_ASPECT_RATIOS = cfg.MODEL.RPN.ANCHOR_ASPECT_RATIOS
        cfg.MODEL.RETINANET.ANCHOR_SIZES = cfg.MODEL.RPN.ANCHOR_SIZES
        cfg.MODEL.RETINANET.ANCHOR_STRIDES = []  # never read by any version


# converter i takes a config from version i to i + 1
_CONVERTERS: tuple[type[_Renames], ...] = (_V0ToV1, _V1ToV2)
assert len(_CONVERTERS) == LATEST_VERSION


def upgrade_config(cfg: CfgNode, to_version: int | None = None) -> CfgNode:
    """A copy of ``cfg`` converted from its ``VERSION`` up to ``to_version`` (default: the latest)."""
    cfg = cfg.clone()
    to_version = LATEST_VERSION if to_version is None else to_version
    if not cfg.VERSION <= to_version <= LATEST_VERSION:
        raise ValueError(f"Cannot upgrade from v{cfg.VERSION} to v{to_version}!")
    for version in range(cfg.VERSION, to_version):
        _CONVERTERS[version].upgrade(cfg)
        cfg.VERSION = version + 1
    return cfg


def downgrade_config(cfg: CfgNode, to_version: int) -> CfgNode:
    """A copy of ``cfg`` converted from its ``VERSION`` down to ``to_version``.

    Meant to recover an old version's full defaults, so that an old partial YAML file can be
    merged into them and the result upgraded again; not every setting has an old equivalent.
    """
    cfg = cfg.clone()
    if not 0 <= to_version <= cfg.VERSION:
        raise ValueError(f"Cannot downgrade from v{cfg.VERSION} to v{to_version}!")
    for version in range(cfg.VERSION, to_version, -1):
        _CONVERTERS[version - 1].downgrade(cfg)
        cfg.VERSION = version - 1
    return cfg


def guess_version(cfg: CfgNode, filename: str) -> int:
    """The version of a partial config without ``VERSION``: 1 when it uses v1 names
    (``MODEL.WEIGHT``, ``TEST.AUG_ON``), else the latest. Logs the guess."""
    if _has(cfg, "MODEL.WEIGHT") or _has(cfg, "TEST.AUG_ON"):
        logger.warning("Config '%s' has no VERSION. Assuming it to be v1.", filename)
        return 1
    logger.warning(
        "Config '%s' has no VERSION. Assuming it to be compatible with latest v%d.", filename, LATEST_VERSION
    )
    return LATEST_VERSION
