"""detectron2's CUDA paths of modet.ops give the CPU's numbers.

These run where a GPU is present (``tools/gpu_check.sh`` runs them on a lent GPU machine and
records the result in this package's README); on a CPU-only machine they are skipped, since
there is nothing to compare.
"""

from __future__ import annotations

import pytest
import torch

from modet.ops import (
    DeformConv,
    ModulatedDeformConv,
    ROIAlign,
    ROIAlignRotated,
    batched_nms,
    batched_nms_rotated,
    nms_rotated,
    pairwise_iou_rotated,
    paste_masks_in_image,
)
from modet.structures import Boxes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (tools/gpu_check.sh)")

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _fp32_on_cuda():
    """CPU and GPU are compared at fp32: TF32 convolutions would differ by ~1e-3."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _boxes(n: int, size: float, generator: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator) * size * 0.7
    wh = torch.rand(n, 2, generator=generator) * size * 0.3 + 2.0
    return torch.cat([xy, xy + wh], dim=1)


def _rotated_boxes(n: int, size: float, generator: torch.Generator) -> torch.Tensor:
    centres = torch.rand(n, 2, generator=generator) * size
    wh = torch.rand(n, 2, generator=generator) * size * 0.3 + 2.0
    angles = torch.rand(n, 1, generator=generator) * 360.0 - 180.0
    return torch.cat([centres, wh, angles], dim=1)


def test_roi_align_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 8, 40, 48, generator=g)
    rois = torch.cat([torch.randint(0, 2, (300, 1), generator=g).float(), _boxes(300, 40.0, g)], dim=1)
    for aligned in (True, False):
        op = ROIAlign((7, 7), spatial_scale=0.5, sampling_ratio=0, aligned=aligned)
        torch.testing.assert_close(op(features.to(CUDA), rois.to(CUDA)).cpu(), op(features, rois), atol=1e-5, rtol=1e-5)


def test_roi_align_rotated_cuda_matches_cpu_forward_and_backward():
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 4, 32, 32, generator=g)
    rois = torch.cat([torch.randint(0, 2, (64, 1), generator=g).float(), _rotated_boxes(64, 32.0, g)], dim=1)
    op = ROIAlignRotated((5, 5), spatial_scale=1.0, sampling_ratio=2)
    results = []
    for device in ("cpu", CUDA):
        x = features.detach().to(device).requires_grad_(True)
        out = op(x, rois.to(device))
        out.square().sum().backward()
        results.append((out.detach().cpu(), x.grad.cpu()))
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], atol=1e-4, rtol=1e-4)


def test_nms_cuda_keeps_what_cpu_keeps():
    g = torch.Generator().manual_seed(2)
    boxes = _boxes(2000, 200.0, g)
    scores = torch.rand(2000, generator=g)
    classes = torch.randint(0, 5, (2000,), generator=g)
    keep = batched_nms(boxes, scores, classes, 0.5)
    assert torch.equal(batched_nms(boxes.to(CUDA), scores.to(CUDA), classes.to(CUDA), 0.5).cpu(), keep)

    rotated = _rotated_boxes(500, 100.0, g)
    rotated_scores = torch.rand(500, generator=g)
    assert torch.equal(
        nms_rotated(rotated.to(CUDA), rotated_scores.to(CUDA), 0.3).cpu(), nms_rotated(rotated, rotated_scores, 0.3)
    )
    keep_rotated = batched_nms_rotated(rotated, rotated_scores, classes[:500], 0.3)
    keep_cuda = batched_nms_rotated(rotated.to(CUDA), rotated_scores.to(CUDA), classes[:500].to(CUDA), 0.3)
    assert torch.equal(keep_cuda.cpu(), keep_rotated)
    iou = pairwise_iou_rotated(rotated[:100], rotated[100:200])
    torch.testing.assert_close(
        pairwise_iou_rotated(rotated[:100].to(CUDA), rotated[100:200].to(CUDA)).cpu(), iou, atol=1e-5, rtol=1e-5
    )


def test_paste_masks_gpu_chunked_path_matches_cpu_path():
    """On CUDA masks are pasted in chunks over the whole image (no skip of empty areas), as detectron2."""
    g = torch.Generator().manual_seed(3)
    masks = torch.rand(50, 28, 28, generator=g)
    boxes = _boxes(50, 300.0, g)
    cpu = paste_masks_in_image(masks, Boxes(boxes), (320, 400))
    gpu = paste_masks_in_image(masks.to(CUDA), Boxes(boxes.to(CUDA)), (320, 400)).cpu()
    assert gpu.shape == cpu.shape == (50, 320, 400)
    assert gpu.dtype == cpu.dtype == torch.bool
    agreement = (gpu == cpu).float().mean().item()
    assert agreement >= 0.9999, f"GPU and CPU pasted masks agree on {agreement:.5%} of pixels"


@pytest.mark.parametrize("modulated", [False, True])
def test_deform_conv_cuda_matches_cpu(modulated):
    g = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    layer = (ModulatedDeformConv if modulated else DeformConv)(8, 16, 3, padding=1, bias=modulated)
    x = torch.randn(2, 8, 12, 14, generator=g)
    offset = torch.randn(2, 18, 12, 14, generator=g)
    args = (x, offset, torch.rand(2, 9, 12, 14, generator=g)) if modulated else (x, offset)
    cpu = layer(*args)
    gpu = layer.to(CUDA)(*(a.to(CUDA) for a in args)).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
