"""DefaultPredictor's throughput (images per second) and peak memory (RSS) per image size and batch.

    python packages/modeling/benchmarks/bench_predictor.py [--model mask_rcnn] [--sizes 480 640 800]
        [--batches 1 4] [--iters 2] [--threads 2] [--mode eager]

For each test size (``INPUT.MIN_SIZE_TEST``: 4:3 photos are resized to size x 4/3 size) and batch,
a fresh process builds the predictor (the zoo model, random weights, every detection kept as in
bench_compare.py), runs one warm-up batch and ``--iters`` timed batches of distinct images, and
reports images per second, the resident memory after the build and its peak over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from bench_compare import WORKLOADS, benchmark_config, run_worker

MODELS = [w for w in WORKLOADS if not w.endswith("_train")]


def _rss_mib() -> float:
    """This process's resident memory now (Linux's /proc; the peak where it is not readable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_rss_mib()


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def worker(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from modet.engine import DefaultPredictor

    torch.set_num_threads(args.threads)
    cfg = benchmark_config(args.model)
    cfg.INPUT.MIN_SIZE_TEST = args.worker_size
    cfg.MODEL.WEIGHTS = ""  # random weights (seeded below): the zoo config names an ImageNet download
    torch.manual_seed(0)
    predictor = DefaultPredictor(cfg, inference_mode=args.mode)
    built = _rss_mib()
    rng = np.random.default_rng(0)
    height, width = 480, 640
    batches = [
        [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(args.worker_batch)]
        for _ in range(args.iters + 1)
    ]
    predictor(batches[0])
    start = time.perf_counter()
    for batch in batches[1:]:
        predictor(batch)
    seconds = time.perf_counter() - start
    return {"images_per_s": args.iters * args.worker_batch / seconds, "built_mib": built, "peak_mib": _peak_rss_mib()}


def compare(args: argparse.Namespace) -> None:
    import torch

    print(
        f"{args.model} DefaultPredictor ({args.mode}), random weights, 100 detections per image; torch "
        f"{torch.__version__}, {args.threads} threads; {time.strftime('%Y-%m-%d %H:%M')} load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for size in args.sizes:
        for batch in args.batches:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker-size", str(size)]
            command += ["--worker-batch", str(batch), "--model", args.model, "--mode", args.mode]
            command += ["--iters", str(args.iters), "--threads", str(args.threads)]
            r = run_worker(command, args.threads, f"size {size} batch {batch}", Path(__file__).parent)
            model_input = f"{size}x{round(size * 4 / 3)}"
            print(
                f"input {model_input:9s} batch {batch:2d}: {r['images_per_s']:6.2f} images/s  "
                f"RSS after build {r['built_mib']:6.0f} MiB, peak {r['peak_mib']:6.0f} MiB",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mask_rcnn", choices=MODELS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[480, 640, 800], help="INPUT.MIN_SIZE_TEST values")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4], help="images per predictor call")
    parser.add_argument("--iters", type=int, default=2, help="timed batches after one warm-up batch")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--mode", default="eager", help="the predictor's inference mode")
    parser.add_argument("--worker-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_size:
        print(json.dumps(worker(args)))
    else:
        compare(args)


if __name__ == "__main__":
    main()
