"""Renaming Caffe2 Detectron weights to detectron2 names, and matching names by suffix.

Caffe2 blob names (``res2_0_branch2a_bn_s``) become detectron2 names
(``res2.0.conv1.norm.weight``) by ordered regex rules; then every model key is paired with
the longest checkpoint key that is a dot-separated suffix of it, so ``res2.0.conv1.weight``
fills ``backbone.bottom_up.res2.0.conv1.weight``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import torch

__all__ = [
    "_longest_common_prefix_str",
    "align_and_update_state_dicts",
    "convert_basic_c2_names",
    "convert_c2_detectron_names",
    "longest_common_prefix_str",
]

logger = logging.getLogger(__name__)

# Applied in order to every name after "_" -> "." (regex, replacement).
_BASIC_RULES: tuple[tuple[str, str], ...] = (
    (r"\.b$", ".bias"),
    (r"\.w$", ".weight"),
    # batch norm and group norm are both "norm" in detectron2
    (r"bn\.s$", "norm.weight"),
    (r"bn\.bias$", "norm.bias"),
    (r"bn\.rm", "norm.running_mean"),
    (r"bn\.running\.mean$", "norm.running_mean"),
    (r"bn\.riv$", "norm.running_var"),
    (r"bn\.running\.var$", "norm.running_var"),
    (r"bn\.gamma$", "norm.weight"),
    (r"bn\.beta$", "norm.bias"),
    (r"gn\.s$", "norm.weight"),
    (r"gn\.bias$", "norm.bias"),
    # stem; "stem." keeps "conv1" from matching convs of heads
    (r"^res\.conv1\.norm\.", "conv1.norm."),
    (r"^conv1\.", "stem.conv1."),
    # residual blocks
    (r"\.branch1\.", ".shortcut."),
    (r"\.branch2a\.", ".conv1."),
    (r"\.branch2b\.", ".conv2."),
    (r"\.branch2c\.", ".conv3."),
    # DensePose
    (r"^body\.conv\.fcn", "body_conv_fcn"),
    (r"AnnIndex\.lowres", "ann_index_lowres"),
    (r"Index\.UV\.lowres", "index_uv_lowres"),
    (r"U\.lowres", "u_lowres"),
    (r"V\.lowres", "v_lowres"),
)

_DETECTRON_RULES: tuple[tuple[str, str], ...] = (
    # RPN: FPN models define the head on level 2 ("fpn2") and share it across levels.
    (r"conv\.rpn\.fpn2", "proposal_generator.rpn_head.conv"),
    (r"conv\.rpn", "proposal_generator.rpn_head.conv"),
    (r"rpn\.bbox\.pred\.fpn2", "proposal_generator.rpn_head.anchor_deltas"),
    (r"rpn\.cls\.logits\.fpn2", "proposal_generator.rpn_head.objectness_logits"),
    (r"rpn\.bbox\.pred", "proposal_generator.rpn_head.anchor_deltas"),
    (r"rpn\.cls\.logits", "proposal_generator.rpn_head.objectness_logits"),
    # Fast R-CNN box head
    (r"^bbox\.pred", "bbox_pred"),
    (r"^cls\.score", "cls_score"),
    (r"^fc6\.", "box_head.fc1."),
    (r"^fc7\.", "box_head.fc2."),
    (r"^head\.conv", "box_head.conv"),
)

_MASK_AND_KEYPOINT_RULES: tuple[tuple[str, str], ...] = (
    (r"\.\[mask\]\.fcn", "mask_head.mask_fcn"),
    (r"^\.mask\.fcn", "mask_head.mask_fcn"),
    (r"mask\.fcn\.logits", "mask_head.predictor"),
    (r"conv5\.mask", "mask_head.deconv"),
    (r"conv\.fcn", "roi_heads.keypoint_head.conv_fcn"),
    (r"kps\.score\.lowres", "roi_heads.keypoint_head.score_lowres"),
    (r"kps\.score\.", "roi_heads.keypoint_head.score."),
)

_HARD_CODED = {"pred_b": "linear_b", "pred_w": "linear_w"}


def _apply(rules: Iterable[tuple[str, str]], name: str) -> str:
    for pattern, replacement in rules:
        name = re.sub(pattern, replacement, name)
    return name


def convert_basic_c2_names(original_keys: list[str]) -> list[str]:
    """Rename typical Caffe2 backbone blob names to detectron2 names (same length and order)."""
    return [_apply(_BASIC_RULES, _HARD_CODED.get(key, key).replace("_", ".")) for key in original_keys]


def _fpn_name(name: str) -> str:
    """``fpn.inner.res2.2.sum.lateral.weight`` -> ``fpn_lateral2.weight``; ``fpn.res2.2.sum.*`` -> ``fpn_output2.*``."""
    parts = name.split(".")
    norm = ".norm" if "norm" in parts else ""
    if name.startswith("fpn.inner."):
        return f"fpn_lateral{int(parts[2][len('res') :])}{norm}.{parts[-1]}"
    if name.startswith("fpn.res"):
        return f"fpn_output{int(parts[1][len('res') :])}{norm}.{parts[-1]}"
    return name


def convert_c2_detectron_names(
    weights: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Map Caffe2 Detectron weights to detectron2 names.

    Returns the renamed weights and a map from each new name to its Caffe2 name. Box and
    mask predictors lose the background class's rows; the classifier moves background from
    index 0 to the last index, as detectron2 orders classes.
    """
    logger.info("Renaming Caffe2 weights ......")
    original_keys = sorted(weights)
    renamed_keys = [
        _apply(_MASK_AND_KEYPOINT_RULES, _fpn_name(_apply(_DETECTRON_RULES, key)))
        for key in convert_basic_c2_names(original_keys)
    ]
    if len(set(renamed_keys)) != len(renamed_keys):
        duplicates = sorted({k for k in renamed_keys if renamed_keys.count(k) > 1})
        raise ValueError(f"Caffe2 weight names collide after renaming: {duplicates}")

    new_weights: dict[str, torch.Tensor] = {}
    new_to_original: dict[str, str] = {}
    for original, renamed in zip(original_keys, renamed_keys):
        new_to_original[renamed] = original
        value = weights[original]
        if renamed.startswith(("bbox_pred.", "mask_head.predictor.")):
            first_foreground = 4 if renamed.startswith("bbox_pred.") else 1
            new_weights[renamed] = value[first_foreground:]
            logger.info(
                "Remove prediction weight for background class in %s. The shape changes from %s to %s.",
                renamed,
                tuple(value.shape),
                tuple(new_weights[renamed].shape),
            )
        elif renamed.startswith("cls_score."):
            logger.info("Move classification weights for background class in %s from index 0 to the end.", renamed)
            new_weights[renamed] = torch.cat([value[1:], value[:1]])
        else:
            new_weights[renamed] = value
    return new_weights, new_to_original


def longest_common_prefix_str(names: Sequence[str]) -> str:
    """The longest string every one of ``names`` starts with (character by character; "" if none)."""
    if not names:
        return ""
    first, last = min(names), max(names)  # the common prefix of all is that of the extremes
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]


#: detectron2's spelling (``detectron2.checkpoint.c2_model_loading._longest_common_prefix_str``).
_longest_common_prefix_str = longest_common_prefix_str


def _longest_suffix_match(model_key: str, ckpt_keys: set[str]) -> str | None:
    """The longest checkpoint key equal to ``model_key`` or to a whole-component suffix of it."""
    parts = model_key.split(".")
    for start in range(len(parts)):
        candidate = ".".join(parts[start:])
        if candidate in ckpt_keys:
            return candidate
    return None


def align_and_update_state_dicts(
    model_state_dict: Mapping[str, torch.Tensor],
    ckpt_state_dict: Mapping[str, torch.Tensor],
    c2_conversion: bool = True,
) -> dict[str, torch.Tensor]:
    """A state dict for the model, built from a checkpoint whose names differ by a prefix.

    Each model key takes the checkpoint tensor whose name is its longest whole-component
    suffix (``backbone.bottom_up.res2.0.conv1.weight`` <- ``res2.0.conv1.weight``, never
    ``conv1.weight`` when the longer one exists). Pairs whose shapes differ are skipped with a
    warning. Checkpoint keys no model key matched are kept under their (renamed) name so they
    are reported as unexpected. With ``c2_conversion`` the checkpoint is renamed from Caffe2 first.
    """
    if c2_conversion:
        ckpt_state_dict, original_keys = convert_c2_detectron_names(ckpt_state_dict)
    else:
        original_keys = {key: key for key in ckpt_state_dict}
    ckpt_keys = set(ckpt_state_dict)

    result: dict[str, torch.Tensor] = {}
    model_key_of: dict[str, str] = {}  # checkpoint key -> model key it filled
    for model_key in sorted(model_state_dict):
        ckpt_key = _longest_suffix_match(model_key, ckpt_keys)
        if ckpt_key is None:
            continue
        value = ckpt_state_dict[ckpt_key]
        shape_in_model = tuple(model_state_dict[model_key].shape)
        if tuple(value.shape) != shape_in_model:
            logger.warning(
                "Shape of %s in checkpoint is %s, while shape of %s in model is %s; %s will not be loaded.",
                original_keys[ckpt_key],
                tuple(value.shape),
                model_key,
                shape_in_model,
                original_keys[ckpt_key],
            )
            continue
        if ckpt_key in model_key_of:
            raise ValueError(
                f"Ambiguous checkpoint key {original_keys[ckpt_key]!r}: it matches both model keys "
                f"{model_key_of[ckpt_key]!r} and {model_key!r}. Cannot match one checkpoint key to several model keys."
            )
        result[model_key] = value
        model_key_of[ckpt_key] = model_key

    if not model_key_of:
        logger.warning("No weights in checkpoint matched with model.")
        return dict(ckpt_state_dict)
    width = max(len(k) for k in model_key_of.values())
    rows = "\n".join(
        f"  {model_key: <{width}}  <-  {original_keys[ckpt_key]}  {tuple(result[model_key].shape)}"
        for ckpt_key, model_key in sorted(model_key_of.items(), key=lambda item: item[1])
    )
    logger.info("Matched %d checkpoint weights to the model by name suffix:\n%s", len(model_key_of), rows)
    for ckpt_key in sorted(ckpt_keys - set(model_key_of)):
        result[ckpt_key] = ckpt_state_dict[ckpt_key]
    return result
