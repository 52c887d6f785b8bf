"""3x3 convolutions of the zoo models' shapes: oneDNN, NNPACK's Winograd and modet's Winograd.

Run: python packages/ops/benchmarks/bench_winograd.py [--rounds 3] [--repeats 3] [--threads 2]

Each shape's three ways run in turn, ``--rounds`` times over (alternating, so that a shared
machine's load falls on all alike); a figure is the median. oneDNN gets channels-last input
(its faster layout here), NNPACK NCHW (the only one it reads), modet's channels-last. The error
is the largest difference from a float64 convolution, relative to the output's largest value.
``wrappers._winograd_algorithm`` picks modet's where the ratio column was under 1 on the
machine the thresholds were set on (see the package README).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_ops import _median_seconds  # this folder's timing helper (scripts run from here)
from torch.nn import functional as F

from modet.ops.winograd import winograd_conv3x3

# (name, batch, in channels, out channels, height, width): FPN levels of an 800x1067 image,
# RetinaNet's class and box convolutions, the mask and keypoint heads' 100 regions.
SHAPES = [
    ("FPN/RPN P2", 1, 256, 256, 200, 267),
    ("FPN/RPN P3", 1, 256, 256, 100, 134),
    ("FPN/RPN P4", 1, 256, 256, 50, 67),
    ("FPN/RPN P5", 1, 256, 256, 25, 34),
    ("RPN P6", 1, 256, 256, 13, 17),
    ("RetinaNet classes P3", 1, 256, 720, 100, 134),
    ("RetinaNet classes P5", 1, 256, 720, 25, 34),
    ("RetinaNet boxes P3", 1, 256, 36, 100, 134),
    ("mask head, 100 regions", 100, 256, 256, 14, 14),
    ("keypoint head, 100 regions", 100, 512, 512, 14, 14),
    ("128-channel regions", 100, 128, 128, 14, 14),
]


def _relative_error(out: torch.Tensor, exact: torch.Tensor) -> float:
    return ((out.double() - exact).abs().max() / exact.abs().max()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()},"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians of {args.rounds} alternating rounds"
    )
    print(
        f"{'shape':28s} {'oneDNN':>9s} {'NNPACK':>9s} {'modet':>9s} {'modet/oneDNN':>13s} {'modet/NNPACK':>13s}  error oneDNN / modet"
    )
    generator = torch.Generator().manual_seed(0)
    for name, *shape in SHAPES:
        ms, errors = _measure(*shape, rounds=args.rounds, repeats=args.repeats, generator=generator)
        nn_ms = ms.get("NNPACK", float("nan"))
        print(
            f"{name:28s} {ms['oneDNN']:7.1f}ms {nn_ms:7.1f}ms {ms['modet']:7.1f}ms {ms['modet'] / ms['oneDNN']:12.2f}x"
            f" {ms['modet'] / nn_ms:12.2f}x  {errors['oneDNN']:.1e} / {errors['modet']:.1e}",
            flush=True,
        )


def _measure(
    batch: int, channels: int, out_channels: int, height: int, width: int, *, rounds: int, repeats: int, generator
) -> tuple[dict[str, float], dict[str, float]]:
    """Median milliseconds and relative error of each way on one shape."""
    x = torch.randn(batch, channels, height, width, generator=generator)
    weight = torch.randn(out_channels, channels, 3, 3, generator=generator) / (9 * channels) ** 0.5
    bias = torch.randn(out_channels, generator=generator)
    x_last = x.contiguous(memory_format=torch.channels_last)
    ways = {
        "oneDNN": lambda: F.conv2d(x_last, weight, bias, padding=1),
        "modet": lambda: winograd_conv3x3(x_last, weight, bias),
    }
    if torch.backends.nnpack.is_available() and batch == 1:  # modet calls NNPACK image by image
        ways["NNPACK"] = lambda: torch._nnpack_spatial_convolution(x, weight, bias, [1, 1], [1, 1])
    times: dict[str, list[float]] = {way: [] for way in ways}
    with torch.no_grad():
        exact = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
        errors = {way: _relative_error(fn(), exact) for way, fn in ways.items()}
        for _ in range(rounds):
            for way, fn in ways.items():
                times[way].append(_median_seconds(fn, repeats, x.device))
    return {way: statistics.median(values) * 1e3 for way, values in times.items()}, errors


if __name__ == "__main__":
    main()
