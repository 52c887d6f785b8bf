"""Median CPU times of the box-overlap kernels and the mask paste (a script, not a test).

Run: python packages/structures/benchmarks/bench_structures.py [--repeats N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from modet.structures import Boxes, pairwise_iou, pairwise_iou_rotated
from modet.structures.paste_masks import paste_masks_in_image
from modet.structures.rotated_boxes import RotatedBoxes


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _xyxy(n: int, generator: torch.Generator, image: float = 1000.0) -> Boxes:
    xy = torch.rand(n, 2, generator=generator) * image
    wh = torch.rand(n, 2, generator=generator) * image / 5 + 1
    return Boxes(torch.cat([xy, xy + wh], dim=1))


def _rotated(n: int, generator: torch.Generator, image: float = 1000.0) -> RotatedBoxes:
    centers = torch.rand(n, 2, generator=generator) * image
    sizes = torch.rand(n, 2, generator=generator) * image / 5 + 1
    angles = torch.rand(n, 1, generator=generator) * 360 - 180
    return RotatedBoxes(torch.cat([centers, sizes, angles], dim=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)

    b1, b2 = _xyxy(10_000, g), _xyxy(10_000, g)
    t = _median_seconds(lambda: pairwise_iou(b1, b2), args.repeats)
    print(f"pairwise_iou          10k x 10k boxes: {t * 1000:8.1f} ms (median of {args.repeats})")

    r1, r2 = _rotated(1_000, g), _rotated(1_000, g)
    overlapping = int((pairwise_iou_rotated(r1, r2) > 0).sum())
    t = _median_seconds(lambda: pairwise_iou_rotated(r1, r2), args.repeats)
    print(
        f"pairwise_iou_rotated   1k x  1k boxes: {t * 1000:8.1f} ms (median of {args.repeats}; {overlapping} pairs overlap)"
    )

    masks = torch.rand(100, 28, 28, generator=g)
    boxes = _xyxy(100, g, image=800.0).tensor
    t = _median_seconds(lambda: paste_masks_in_image(masks, boxes, (800, 1333)), args.repeats)
    print(f"paste_masks_in_image  100 28x28 masks into 800x1333: {t * 1000:8.1f} ms (median of {args.repeats})")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
