"""Shared helper for the parity tests: build a fixture's model, fill its weights, compare outputs.

The fixtures (``fixtures/`` beside this file, copied from shared/parity/) were made by detectron2 itself.
Weights follow the rule of shared/parity/README.md, implemented here in :func:`fill_value`;
comparison follows that README's "How to compare".

Typical use from a test module::

    from modet_test_support.parity import build_parity_model, load_inputs, load_case, assert_outputs_match

    case = load_case("rpn_R_50_FPN")
    model = build_parity_model(case)
    assert_state_dict_matches(model, case)
    outputs = [model([x])[0] for x in load_inputs()]
    assert_outputs_match(outputs, case.outputs["single"])

or simply ``check_case("rpn_R_50_FPN")``, which does all of it for single and batched runs.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

FIXTURES = Path(__file__).parent / "fixtures"

# Tolerances of shared/parity/README.md ("How to compare").
BOX_IOU_MIN = 0.99
SCORE_ATOL = 1e-4
BOX_ATOL = 1e-2
MASK_AGREEMENT_MIN = 0.99
KEYPOINT_ATOL = 0.5
SEM_SEG_LOGIT_ATOL = 1e-3
SEM_SEG_ARGMAX_AGREEMENT_MIN = 0.999
HEATMAP_ATOL = 1e-3


@dataclass
class ParityCase:
    """One fixture folder: config path, expected state_dict shapes, FrozenBN stats and outputs."""

    name: str
    folder: Path
    info: dict[str, Any]
    norm_stats: dict[str, torch.Tensor]
    outputs: dict[str, list[dict[str, Any]]]

    @property
    def config_file(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def state_dict_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v) for k, v in self.info["state_dict"].items()}


def load_case(name: str) -> ParityCase:
    folder = FIXTURES / name
    info = json.loads((folder / "case.json").read_text())
    norm_stats = torch.load(folder / "norm_stats.pt", weights_only=True)
    outputs = torch.load(folder / "outputs.pt", weights_only=True)
    return ParityCase(name, folder, info, norm_stats, outputs)


def load_inputs() -> list[dict[str, Any]]:
    """The shared inputs: uint8 BGR (3, H, W) images with ``height``/``width``."""
    return torch.load(FIXTURES / "inputs.pt", weights_only=True)


# ----------------------------------------------------------------------------- weights


def fill_value(key: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """The parity weight rule: a deterministic tensor from (state_dict key, shape) alone."""
    generator = torch.Generator().manual_seed((zlib.crc32(key.encode()) + 7919 * seed) % (2**31 - 1))
    shape = tuple(shape)
    leaf = key.rsplit(".", 1)[-1]
    is_norm = ".norm." in key or key.endswith(("bn.weight", "bn.bias")) or "running_" in key
    if leaf == "running_mean":
        return torch.randn(shape, generator=generator) * 0.1
    if leaf == "running_var":
        return torch.rand(shape, generator=generator) * 0.5 + 0.75
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    if leaf == "bias":
        return torch.randn(shape, generator=generator) * 0.05
    if leaf == "weight" and (len(shape) == 1 or is_norm):
        small_residual = "conv3.norm" in key or ("conv2.norm" in key and "res" in key and "basic" in key)
        return (torch.rand(shape, generator=generator) * 0.5 + 0.75) * (0.25 if small_residual else 1.0)
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:]) if "deconv" not in key else shape[0] * math.prod(shape[2:])
        return torch.randn(shape, generator=generator) * math.sqrt(1.0 / max(fan_in, 1))
    return torch.randn(shape, generator=generator) * 0.1


def fill_weights(model: torch.nn.Module, norm_stats: dict[str, torch.Tensor] | None = None) -> None:
    """Fill every state_dict entry by :func:`fill_value`, then FrozenBN stats from ``norm_stats``."""
    state = model.state_dict()
    filled = {k: fill_value(k, v.shape).to(v.dtype) for k, v in state.items()}
    for key, value in (norm_stats or {}).items():
        if key not in filled:
            raise KeyError(f"norm_stats key {key!r} is not in the model's state_dict")
        filled[key] = value.to(filled[key].dtype).reshape(filled[key].shape)
    model.load_state_dict(filled, strict=True)


def parity_device() -> str:
    """The device parity models run on: ``MODET_TEST_DEVICE`` (default ``cpu``; ``cuda`` on a GPU machine).

    On CUDA, TF32 is turned off for the process: detectron2's fixtures are fp32 and the tolerances
    of the comparison rule are fp32's.
    """
    device = os.environ.get("MODET_TEST_DEVICE", "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"MODET_TEST_DEVICE={device!r} but torch.cuda.is_available() is False")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def build_parity_model(case: ParityCase | str) -> torch.nn.Module:
    """The model of a case: get_cfg() + config.yaml, filled weights, eval mode, on :func:`parity_device`."""
    from modet.core.config import get_cfg
    from modet.modeling import build_model

    if isinstance(case, str):
        case = load_case(case)
    cfg = get_cfg()
    cfg.merge_from_file(str(case.config_file))
    cfg.MODEL.DEVICE = parity_device()
    model = build_model(cfg)
    fill_weights(model, case.norm_stats)
    return model.eval()


def assert_state_dict_matches(model: torch.nn.Module, case: ParityCase) -> None:
    """Same state_dict keys and shapes as detectron2's model of this config."""
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = case.state_dict_shapes
    missing = sorted(set(expected) - set(ours))
    extra = sorted(set(ours) - set(expected))
    assert not missing and not extra, f"{case.name}: missing keys {missing[:10]}, unexpected keys {extra[:10]}"
    wrong = {k: (ours[k], expected[k]) for k in expected if ours[k] != expected[k]}
    assert not wrong, f"{case.name}: shapes differ (ours, detectron2's): {wrong}"


# ----------------------------------------------------------------------------- outputs


def _tensor(value: Any) -> torch.Tensor:
    return getattr(value, "tensor", value)


def plain_output(output: dict[str, Any]) -> dict[str, Any]:
    """Our model's output dict as plain tensors, in the layout of outputs.pt (masks unpacked)."""
    plain: dict[str, Any] = {}
    if "instances" in output:
        inst = output["instances"]
        fields = inst.get_fields()
        item: dict[str, Any] = {"image_size": list(inst.image_size)}
        for name, value in fields.items():
            item[name] = _tensor(value).detach().cpu()
        plain["instances"] = item
    if "proposals" in output:
        props = output["proposals"]
        plain["proposals"] = {
            "image_size": list(props.image_size),
            "proposal_boxes": _tensor(props.proposal_boxes).detach().cpu(),
            "objectness_logits": props.objectness_logits.detach().cpu(),
        }
    if "sem_seg" in output:
        plain["sem_seg"] = output["sem_seg"].detach().cpu()
    if "panoptic_seg" in output:
        seg, segments_info = output["panoptic_seg"]
        plain["panoptic_seg"] = {"seg": seg.detach().cpu(), "segments_info": segments_info}
    return plain


def unpack_masks(reference: dict[str, Any]) -> torch.Tensor:
    """Reference bool masks (N, H, W) from their bit-packed form."""
    width = reference["pred_masks_shape"][-1]
    packed = reference["pred_masks_packed"].numpy()
    return torch.from_numpy(np.unpackbits(packed, axis=-1, count=width).astype(bool))


def _greedy_match(ok: torch.Tensor, quality: torch.Tensor) -> list[int]:
    """For each reference row, the best still unused column where ``ok``; -1 where none."""
    if ok.shape[0] and ok.shape[1]:
        candidates_per_row = ok.sum(dim=1)
        only = ok.float().argmax(dim=1)
        if bool((candidates_per_row == 1).all()) and len(set(only.tolist())) == len(only):
            return only.tolist()  # the common case: an unambiguous one-to-one match, no loop
    used = torch.zeros(ok.shape[1], dtype=torch.bool)
    matches = []
    for row in range(ok.shape[0]):
        candidates = ok[row] & ~used
        if not candidates.any():
            matches.append(-1)
            continue
        column = int(torch.where(candidates, quality[row], torch.full_like(quality[row], -1.0)).argmax())
        used[column] = True
        matches.append(column)
    return matches


def _match_boxes(
    ref_boxes: torch.Tensor, ref_scores: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU matrix, candidate matrix) of reference x ours by box IoU, box and score tolerances.

    Rotated boxes (5 columns) are compared by rotated IoU, and their angles in degrees within the
    box tolerance."""
    ref_boxes, boxes = ref_boxes.double(), boxes.double()
    if len(ref_boxes) == 0 or len(boxes) == 0:
        empty = torch.zeros(len(ref_boxes), len(boxes), dtype=torch.float64)
        return empty, empty.bool()
    if ref_boxes.shape[1] == 5:  # rotated (cx, cy, w, h, angle): the angle counts in degrees, modulo 360
        from modet.structures import pairwise_iou_rotated

        sides = ref_boxes[:, 2:4]
        iou = pairwise_iou_rotated(ref_boxes, boxes)
        difference = ref_boxes[:, None, :] - boxes[None, :, :]
        difference[..., 4] = (difference[..., 4] + 180.0) % 360.0 - 180.0
    else:
        sides = ref_boxes[:, 2:] - ref_boxes[:, :2]
        iou = box_iou(ref_boxes, boxes)
        difference = ref_boxes[:, None, :] - boxes[None, :, :]
    close = difference.abs().amax(dim=-1) <= BOX_ATOL
    # IoU cannot tell apart boxes thinner than a pixel (a 0.012-px-high proposal at IoU 0.92 is
    # 0.001 px from detectron2's): within the box tolerance they match whatever their IoU.
    ok = close & ((iou >= BOX_IOU_MIN) | (sides.amin(dim=-1, keepdim=True) < 1.0))
    ok &= (ref_scores.double()[:, None] - scores.double()[None, :]).abs() <= SCORE_ATOL
    return iou, ok


def assert_instances_match(ours: dict[str, Any], reference: dict[str, Any], where: str = "") -> None:
    """Detections as sets: every reference detection matched by one of ours, no extra ones."""
    assert list(ours["image_size"]) == list(reference["image_size"]), (
        f"{where}: image_size {ours['image_size']} != {reference['image_size']}"
    )
    ref_boxes, boxes = reference["pred_boxes"], ours["pred_boxes"]
    iou, ok = _match_boxes(ref_boxes, reference["scores"], boxes, ours["scores"])
    ok &= reference["pred_classes"][:, None] == ours["pred_classes"][None, :]
    if "pred_masks_packed" in reference:
        ref_masks = unpack_masks(reference).flatten(1).float()
        masks = ours["pred_masks"].flatten(1).float()
        assert masks.shape[1] == ref_masks.shape[1], (
            f"{where}: mask size {tuple(ours['pred_masks'].shape[1:])} != {reference['pred_masks_shape'][1:]}"
        )
        agree = 1.0 - (ref_masks @ (1 - masks).T + (1 - ref_masks) @ masks.T) / max(ref_masks.shape[1], 1)
        ok &= agree >= MASK_AGREEMENT_MIN
    if "pred_keypoints" in reference:
        ref_kp, kp = reference["pred_keypoints"][..., :2], ours["pred_keypoints"][..., :2]
        ok &= (ref_kp[:, None] - kp[None]).abs().flatten(2).amax(dim=-1) <= KEYPOINT_ATOL
    matches = _greedy_match(ok, iou.float())
    unmatched = [i for i, m in enumerate(matches) if m < 0]
    assert not unmatched, (
        f"{where}: {len(unmatched)} of {len(matches)} reference detections unmatched, e.g. #{unmatched[0]}: "
        f"box {ref_boxes[unmatched[0]].tolist()} score {float(reference['scores'][unmatched[0]]):.6f} "
        f"class {int(reference['pred_classes'][unmatched[0]])}; ours has {len(boxes)} detections"
    )
    assert len(boxes) == len(ref_boxes), f"{where}: {len(boxes)} detections, detectron2 has {len(ref_boxes)}"
    if "pred_keypoint_heatmaps" in reference:
        ref_heatmaps = reference["pred_keypoint_heatmaps"]
        heatmaps = ours["pred_keypoint_heatmaps"][matches[: len(ref_heatmaps)]]
        torch.testing.assert_close(heatmaps, ref_heatmaps, atol=HEATMAP_ATOL, rtol=1e-3, msg=f"{where}: heatmaps")


def assert_proposals_match(ours: dict[str, Any], reference: dict[str, Any], where: str = "") -> None:
    """Proposals as sets, by the detection rule with objectness logits as scores."""
    assert list(ours["image_size"]) == list(reference["image_size"]), f"{where}: proposal image_size differs"
    ref_boxes, boxes = reference["proposal_boxes"], ours["proposal_boxes"]
    iou, ok = _match_boxes(ref_boxes, reference["objectness_logits"], boxes, ours["objectness_logits"])
    matches = _greedy_match(ok, iou.float())
    unmatched = [i for i, m in enumerate(matches) if m < 0]
    assert not unmatched, (
        f"{where}: {len(unmatched)} of {len(matches)} reference proposals unmatched, e.g. #{unmatched[0]}: "
        f"{ref_boxes[unmatched[0]].tolist()} logit {float(reference['objectness_logits'][unmatched[0]]):.6f}"
    )
    assert len(boxes) == len(ref_boxes), f"{where}: {len(boxes)} proposals, detectron2 has {len(ref_boxes)}"


def assert_sem_seg_match(ours: torch.Tensor, reference: dict[str, Any], where: str = "") -> None:
    """Logits within 1e-3 at the sampled pixels; argmax equal on >= 99.9% of pixels."""
    assert list(ours.shape) == list(reference["shape"]), f"{where}: sem_seg shape {list(ours.shape)}"
    yx = reference["sample_yx"].long()
    sampled = ours[:, yx[:, 0], yx[:, 1]].T
    torch.testing.assert_close(
        sampled.float(), reference["sample_logits"].float(), atol=SEM_SEG_LOGIT_ATOL, rtol=0, msg=where
    )
    agreement = (ours.argmax(dim=0) == reference["argmax"]).float().mean().item()
    assert agreement >= SEM_SEG_ARGMAX_AGREEMENT_MIN, f"{where}: sem_seg argmax agrees on {agreement:.4%}"


def assert_panoptic_match(ours: dict[str, Any], reference: dict[str, Any], where: str = "") -> None:
    """Same segments (isthing, category) and the id maps agree on >= 99% of pixels after renaming ids."""
    ref_seg, seg = reference["seg"], ours["seg"]
    assert ref_seg.shape == seg.shape, f"{where}: panoptic seg shape {tuple(seg.shape)} != {tuple(ref_seg.shape)}"
    ref_info = {s["id"]: s for s in reference["segments_info"]}
    info = {s["id"]: s for s in ours["segments_info"]}
    assert len(info) == len(ref_info), f"{where}: {len(info)} segments, detectron2 has {len(ref_info)}"
    renamed = torch.zeros_like(seg)
    for our_id, segment in info.items():
        overlap = ref_seg[seg == our_id]
        ref_id = int(overlap.mode().values) if overlap.numel() else -1
        ref_segment = ref_info.get(ref_id)
        assert ref_segment is not None and (ref_segment["isthing"], ref_segment["category_id"]) == (
            segment["isthing"],
            segment["category_id"],
        ), f"{where}: segment {segment} has no detectron2 counterpart"
        renamed[seg == our_id] = ref_id
    agreement = (renamed == ref_seg).float().mean().item()
    assert agreement >= MASK_AGREEMENT_MIN, f"{where}: panoptic ids agree on {agreement:.4%}"


def assert_outputs_match(outputs: list[dict[str, Any]], references: list[dict[str, Any]], where: str = "") -> None:
    """Compare a list of model outputs (ours, raw or plain) with detectron2's list from outputs.pt."""
    assert len(outputs) == len(references), f"{where}: {len(outputs)} outputs for {len(references)} inputs"
    for index, (output, reference) in enumerate(zip(outputs, references)):
        plain = plain_output(output)
        here = f"{where}[{index}]"
        assert set(plain) == set(reference), f"{here}: output keys {sorted(plain)} != {sorted(reference)}"
        if "instances" in reference:
            assert_instances_match(plain["instances"], reference["instances"], here + ".instances")
        if "proposals" in reference:
            assert_proposals_match(plain["proposals"], reference["proposals"], here + ".proposals")
        if "sem_seg" in reference:
            assert_sem_seg_match(plain["sem_seg"], reference["sem_seg"], here + ".sem_seg")
        if "panoptic_seg" in reference:
            assert_panoptic_match(plain["panoptic_seg"], reference["panoptic_seg"], here + ".panoptic_seg")


def run_single_and_batched(model: torch.nn.Module, inputs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Outputs for each input alone and for all inputs in one batch, like outputs.pt."""
    with torch.no_grad():
        single = [model([dict(x)])[0] for x in inputs]
        batched = model([dict(x) for x in inputs])
    return {"single": single, "batched": batched}


def check_case(name: str) -> None:
    """Build the case's model, check its state_dict, and compare single and batched outputs."""
    case = load_case(name)
    model = build_parity_model(case)
    assert_state_dict_matches(model, case)
    outputs = run_single_and_batched(model, load_inputs())
    for mode in ("single", "batched"):
        assert_outputs_match(outputs[mode], case.outputs[mode], f"{name}.{mode}")
