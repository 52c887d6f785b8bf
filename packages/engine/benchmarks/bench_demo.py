"""Time the main job (``modet demo``) end to end and print its figures.

    python packages/data/benchmarks/bench_demo.py [--iters 1500] [--num-threads 1] [--output-dir DIR]

Prints wall time (dataset generation, training, evaluation, drawing), training speed and the
COCO box / mask AP on the held-out split, then checks them against the targets
(under 15 minutes on 2 cores, box AP >= 50, mask AP >= 50).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from modet.engine.demo import add_demo_arguments, demo_main


def main() -> None:
    parser = add_demo_arguments(argparse.ArgumentParser(description=__doc__))
    args = parser.parse_args()
    if args.output_dir == "./modet_demo_output":
        args.output_dir = tempfile.mkdtemp(prefix="modet_demo_bench_")
    start = time.perf_counter()
    metrics = demo_main(args)
    total = time.perf_counter() - start
    threads = args.num_threads or torch.get_num_threads()
    print("\n== modet demo benchmark ==")
    print(f"cpu count           : {os.cpu_count()}  (torch threads: {threads})")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")
    print(f"iterations          : {metrics['iterations']} (batch {4})")
    print(
        f"training            : {metrics['train_seconds']:.0f} s ({metrics['iterations'] / metrics['train_seconds']:.2f} it/s)"
    )
    print(f"total wall time     : {total:.0f} s ({total / 60:.1f} min)")
    print(f"box AP              : {metrics['bbox']['AP']:.1f}  (AP50 {metrics['bbox']['AP50']:.1f})")
    print(f"mask AP             : {metrics['segm']['AP']:.1f}  (AP50 {metrics['segm']['AP50']:.1f})")
    ok = total < 15 * 60 and metrics["bbox"]["AP"] >= 50 and metrics["segm"]["AP"] >= 50
    print(f"targets (<15 min, box AP >= 50, mask AP >= 50): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
