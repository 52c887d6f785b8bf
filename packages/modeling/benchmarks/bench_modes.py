"""Speed and agreement of the opt-in inference modes against eager float32, in alternating runs.

    python packages/modeling/benchmarks/bench_modes.py [--modes compile bfloat16 export]
        [--models mask_rcnn retinanet keypoint_rcnn] [--rounds 2] [--iters 2] [--threads 2]
    python packages/modeling/benchmarks/bench_modes.py --config-file output/demo/config.yaml \\
        --weights output/demo/model_final.pth --images output/demo/shapes/images/val

The first form runs bench_compare.py's workloads (zoo models, full widths, random weights,
800x1067, 100 detections per image); the second a trained model on a folder of images through
``DefaultPredictor``, where agreement means most (random weights score every class alike, so
any rounding reorders their detections). Every run is its own process, eager and the mode
alternating; a mode's time per image is the median after its first call, whose time (where
``compile`` compiles and ``export`` captures) is printed apart. Agreement: the share of eager's
detections that the mode's match at IoU 0.9 with the same class and a score within 0.01.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_compare import WORKLOADS, agreement, benchmark_config, build_benchmark_model, run_worker

MODES = ["compile", "bfloat16", "export"]
MODELS = [w for w in WORKLOADS if not w.endswith("_train")]


def _fields(output: dict) -> dict:
    instances = output["instances"]
    return {name: getattr(value, "tensor", value) for name, value in instances.get_fields().items()}


def _zoo_runs(model_name: str, mode: str, iters: int):
    """The zoo model's runner in ``mode`` and its one input, repeated for every call."""
    import torch

    from modet.engine.inference_modes import prepare_inference

    run = prepare_inference(build_benchmark_model(model_name, train=False), benchmark_config(model_name), mode)
    image = torch.randint(0, 256, (3, 800, 1067), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return [lambda: _fields(run([{"image": image}])[0])] * (iters + 1)


def _predictor_runs(config_file: str, weights: str, images: str, mode: str, iters: int):
    """One call per image of the folder (``iters`` rounds over it, after one warm-up image)."""
    import numpy as np
    from PIL import Image

    from modet.core.config import get_cfg
    from modet.engine import DefaultPredictor

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.MODEL.WEIGHTS = weights
    cfg.MODEL.DEVICE = "cpu"
    predictor = DefaultPredictor(cfg, input_format="RGB", inference_mode=mode)
    paths = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    calls = [lambda a=arrays[0]: _fields(predictor(a))]
    for _ in range(iters):
        calls += [lambda a=a: _fields(predictor(a)) for a in arrays]
    return calls


def worker(args: argparse.Namespace) -> dict:
    """Time one mode in this process; save the outputs of every call after the first."""
    import torch

    torch.set_num_threads(args.threads)
    if args.config_file:
        calls = _predictor_runs(args.config_file, args.weights, args.images, args.worker_mode, args.iters)
    else:
        calls = _zoo_runs(args.worker_model, args.worker_mode, args.iters)
    times, outputs = [], []
    for call in calls:
        start = time.perf_counter()
        with torch.no_grad():
            outputs.append(call())
        times.append(time.perf_counter() - start)
    torch.save(outputs[1:], args.outputs)
    return {"first_s": times[0], "median_s": statistics.median(times[1:])}


def _run(mode: str, model: str, args: argparse.Namespace, outputs: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker-mode", mode, "--worker-model", model]
    command += ["--iters", str(args.iters), "--threads", str(args.threads), "--outputs", str(outputs)]
    if args.config_file:
        command += ["--config-file", args.config_file, "--weights", args.weights, "--images", args.images]
    return run_worker(command, args.threads, f"{model} in mode {mode}", Path(__file__).parent)


def _agreement(eager: Path, ours: Path) -> str:
    import torch

    pairs = zip(torch.load(eager, weights_only=True), torch.load(ours, weights_only=True))
    matched = total = extra = 0
    for a, b in pairs:
        m, n, e = agreement(a, b)
        matched, total, extra = matched + m, total + n, extra + e
    return f"agreement {matched}/{total} ({100 * matched / max(total, 1):.1f}%), {extra} unmatched new"


def compare(args: argparse.Namespace) -> None:
    import torch

    models = [Path(args.weights).name] if args.config_file else args.models
    print(
        f"modes {args.modes} vs eager float32; torch {torch.__version__}, {args.threads} threads, "
        f"{args.rounds} alternating rounds; {time.strftime('%Y-%m-%d %H:%M')} load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="modet-modes-") as scratch:
        for model in models:
            for mode in args.modes:
                runs: dict[str, list[dict]] = {"eager": [], mode: []}
                for _ in range(args.rounds):
                    for side in runs:
                        runs[side].append(_run(side, model, args, Path(scratch) / f"{side}.pt"))
                eager = statistics.median(r["median_s"] for r in runs["eager"])
                ours = statistics.median(r["median_s"] for r in runs[mode])
                first = statistics.median(r["first_s"] for r in runs[mode])
                outputs = _agreement(Path(scratch) / "eager.pt", Path(scratch) / f"{mode}.pt")
                print(
                    f"{model:16s} {mode:9s} eager {eager:7.3f} s  {mode} {ours:7.3f} s  ratio {ours / eager:5.2f}x  "
                    f"(first call {first:6.1f} s)  {outputs}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=MODES, help=f"modes to compare with eager (default: {MODES})")
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per model and mode")
    parser.add_argument("--iters", type=int, default=2, help="timed calls (or passes over --images) after the first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--config-file", help="a trained model's config (with --weights and --images)")
    parser.add_argument("--weights")
    parser.add_argument("--images", help="a folder of images")
    parser.add_argument("--worker-mode", help=argparse.SUPPRESS)
    parser.add_argument("--worker-model", help=argparse.SUPPRESS)
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config_file and not (args.weights and args.images):
        parser.error("--config-file needs --weights and --images")
    if args.worker_mode:
        print(json.dumps(worker(args)))
    else:
        compare(args)


if __name__ == "__main__":
    main()
