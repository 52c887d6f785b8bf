"""Median wall time of modet.ops' heavier pure-torch paths.

Run: python packages/ops/benchmarks/bench_ops.py [--device cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from modet.ops import ROIAlignRotated, nms_rotated, paste_masks_in_image


def _median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _random_rotated_boxes(num: int, extent: float, size: float, generator: torch.Generator) -> torch.Tensor:
    centers = torch.rand(num, 2, generator=generator) * extent
    sides = torch.rand(num, 2, generator=generator) * size + 4
    angles = torch.rand(num, 1, generator=generator) * 180 - 90
    return torch.cat([centers, sides, angles], dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads")

    # paste_masks_in_image: 100 masks of 28x28 into an 800x1333 image.
    masks = torch.rand(100, 28, 28, generator=generator).to(device)
    xy = torch.rand(100, 2, generator=generator) * torch.tensor([1200.0, 700.0])
    boxes = torch.cat([xy, xy + torch.rand(100, 2, generator=generator) * 200 + 10], dim=1).to(device)
    seconds = _median_seconds(lambda: paste_masks_in_image(masks, boxes, (800, 1333)), args.repeats, device)
    print(f"paste_masks_in_image   100 x 28x28 -> 800x1333          {seconds * 1e3:8.1f} ms")

    # ROIAlignRotated: 256 rotated boxes, 7x7 bins, 2x2 samples, from a 1x256x64x96 stride-8 map.
    features = torch.randn(1, 256, 64, 96, generator=generator).to(device).requires_grad_(True)
    rois = torch.cat([torch.zeros(256, 1), _random_rotated_boxes(256, 500.0, 120.0, generator)], dim=1).to(device)
    pooler = ROIAlignRotated((7, 7), spatial_scale=1 / 8, sampling_ratio=2)
    with torch.no_grad():
        seconds = _median_seconds(lambda: pooler(features, rois), args.repeats, device)
    print(f"ROIAlignRotated fwd     256 rois, C=256, 7x7, ratio 2    {seconds * 1e3:8.1f} ms")
    seconds = _median_seconds(lambda: pooler(features, rois).sum().backward(), args.repeats, device)
    print(f"ROIAlignRotated fwd+bwd 256 rois, C=256, 7x7, ratio 2    {seconds * 1e3:8.1f} ms")
    pooler_adaptive = ROIAlignRotated((7, 7), spatial_scale=1 / 8, sampling_ratio=0)
    with torch.no_grad():
        seconds = _median_seconds(lambda: pooler_adaptive(features, rois), args.repeats, device)
    print(f"ROIAlignRotated fwd     256 rois, C=256, 7x7, adaptive   {seconds * 1e3:8.1f} ms")

    # nms_rotated: 2000 proposals clustered like detector output (several boxes per object).
    objects = _random_rotated_boxes(400, 1000.0, 80.0, generator)
    jitter = torch.randn(2000, 5, generator=generator) * torch.tensor([4.0, 4.0, 4.0, 4.0, 5.0])
    proposals = (objects.repeat(5, 1) + jitter).to(device)
    proposals[:, 2:4] = proposals[:, 2:4].clamp(min=1)
    scores = torch.rand(2000, generator=generator).to(device)
    kept = len(nms_rotated(proposals, scores, 0.5))
    seconds = _median_seconds(lambda: nms_rotated(proposals, scores, 0.5), args.repeats, device)
    print(f"nms_rotated             2000 boxes, IoU 0.5 ({kept} kept)    {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
