"""Speed of this tree against a baseline commit, as a ratio measured in alternating runs.

    python packages/modeling/benchmarks/bench_compare.py --baseline main [--rounds 3] [--threads 2]

The baseline commit is checked out in a temporary git worktree; every run is its own process,
alternating baseline / this tree, so that a shared machine's load falls on both alike. Each
run builds the model (zoo config, full widths, random weights seeded alike), times ``--iters``
calls after one warm-up and reports the median; a model's figure is the median over rounds.

Workloads (issue #14): inference at 800x1067 for Mask R-CNN R50-FPN, RetinaNet R50-FPN and
Keypoint R-CNN R50-FPN with the score threshold at 0, so that every image keeps 100 detections
from 1000 proposals as trained weights do (random weights keep few); a training iteration of
Mask R-CNN R50-FPN on 2x512x512 (frozen BN) through modet.engine's ``SimpleTrainer``. Outputs of
both trees on the same input are compared: detections by their agreement (share matched at IoU 0.9 with the same class and a score within
0.01), training losses by their largest difference. A speed-up must not change the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = {
    "mask_rcnn": "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml",
    "retinanet": "COCO-Detection/retinanet_R_50_FPN_3x.yaml",
    "keypoint_rcnn": "COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x.yaml",
}
WORKLOADS = ["mask_rcnn", "retinanet", "keypoint_rcnn", "mask_rcnn_train"]


# ----------------------------------------------------------------------------- one run (worker)


def benchmark_config(name: str):
    """The zoo config of a workload's model: CPU, every detection kept (random weights score low)."""
    from modet import model_zoo

    cfg = model_zoo.get_config(CONFIGS[name])
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.PIXEL_STD = [57.375, 57.12, 58.395]  # random weights stay finite on normalised pixels
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.MODEL.RETINANET.SCORE_THRESH_TEST = 0.0
    return cfg


def build_benchmark_model(name: str, train: bool):
    """The workload's model with random weights seeded alike in every tree."""
    import torch

    from modet.modeling import build_model

    torch.manual_seed(0)
    return build_model(benchmark_config(name)).train(train)


def _training_batch():
    import torch

    from modet.structures import Boxes, Instances, PolygonMasks

    batch = []
    for seed in (1, 2):
        boxes = torch.tensor([[40.0, 60.0, 200.0, 300.0], [250.0, 100.0, 480.0, 400.0]])
        instances = Instances((512, 512), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([1, 7]))
        instances.gt_masks = PolygonMasks([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes.tolist()])
        image = torch.randint(0, 256, (3, 512, 512), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
        batch.append({"image": image, "instances": instances})
    return batch


def _train(model, iters: int) -> tuple[list[float], dict]:
    """``iters + 1`` iterations of modet.engine's SimpleTrainer on one fixed batch: the times of all
    but the first, and the first iteration's losses (before any update)."""
    import itertools

    import torch

    from modet.engine import HookBase, SimpleTrainer

    times: list[float] = []

    class StepTimer(HookBase):
        def before_step(self) -> None:
            self.start = time.perf_counter()

        def after_step(self) -> None:
            times.append(time.perf_counter() - self.start)

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    trainer = SimpleTrainer(model, itertools.repeat(_training_batch()), optimizer)
    trainer.register_hooks([StepTimer()])
    torch.manual_seed(0)  # the same proposal and ROI sampling in both trees
    trainer.train(0, iters + 1)
    names = [name for name in trainer.storage.histories() if name.startswith("loss_")]
    first = {name: torch.tensor(trainer.storage.history(name).values()[0][0]) for name in names}
    return times[1:], first


def worker(workload: str, iters: int, threads: int, outputs_path: str) -> dict:
    """Time one workload in this process; save its outputs for the comparison."""
    import torch

    torch.set_num_threads(threads)
    train = workload.endswith("_train")
    model = build_benchmark_model(workload.removesuffix("_train"), train)
    if train:
        times, first = _train(model, iters)
    else:
        image = torch.randint(0, 256, (3, 800, 1067), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)

        def step():
            with torch.no_grad():
                instances = model([{"image": image}])[0]["instances"]
            return {name: getattr(value, "tensor", value) for name, value in instances.get_fields().items()}

        times = []
        first = step()  # warm-up; its outputs are the ones compared
        for _ in range(iters):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    torch.save(first, outputs_path)
    return {"median_s": statistics.median(times), "times_s": times}


# ----------------------------------------------------------------------------- the comparison


def _source_path(tree: Path) -> str:
    folders = sorted((tree / "packages").glob("*/src")) + sorted((tree / "plugins").glob("*/src"))
    return os.pathsep.join(str(f) for f in folders)


def run_worker(command: list[str], threads: int, what: str, cwd: Path, **env: str) -> dict:
    """Run one benchmark process on ``threads`` threads; its last line of output is its JSON result."""
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), **env)
    result = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _run(tree: Path, workload: str, args: argparse.Namespace, outputs: Path) -> float:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", workload]
    command += ["--iters", str(args.iters), "--threads", str(args.threads), "--outputs", str(outputs)]
    result = run_worker(command, args.threads, f"{workload} in {tree}", tree, PYTHONPATH=_source_path(tree))
    return result["median_s"]


def agreement(a: dict, b: dict) -> tuple[int, int, int]:
    """(matched, len(a), unmatched in b): how many of detections ``a`` one of ``b`` matches at
    IoU >= 0.9 with the same class and a score within 0.01 (their order may differ where scores tie)."""
    import torch
    from torchvision.ops import box_iou

    candidates = box_iou(a["pred_boxes"], b["pred_boxes"]) >= 0.9
    candidates &= a["pred_classes"][:, None] == b["pred_classes"][None, :]
    candidates &= (a["scores"][:, None] - b["scores"][None, :]).abs() <= 0.01
    used = torch.zeros(len(b["scores"]), dtype=torch.bool)
    matched = 0
    for row in candidates[a["scores"].argsort(descending=True)]:  # a benchmark's 100 rows, not a hot path
        free = row & ~used
        if free.any():
            used[int(free.nonzero()[0])] = True
            matched += 1
    return matched, len(a["scores"]), len(b["scores"]) - matched


def _largest_difference(base: Path, new: Path) -> str:
    import torch

    a, b = torch.load(base, weights_only=True), torch.load(new, weights_only=True)
    if set(a) != set(b):
        return f"different fields: {sorted(a)} vs {sorted(b)}"
    if "pred_boxes" in a:
        matched, total, extra = agreement(a, b)
        return f"agreement {matched}/{total} (IoU 0.9, score 0.01), {extra} unmatched new"
    worst = 0.0
    for key in a:
        if a[key].shape != b[key].shape:
            return f"{key}: shape {tuple(a[key].shape)} vs {tuple(b[key].shape)}"
        if a[key].numel():
            worst = max(worst, (a[key].double() - b[key].double()).abs().max().item())
    return "identical" if worst == 0 else f"max |difference| {worst:.3g}"


def compare(args: argparse.Namespace) -> None:
    import torch

    rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], capture_output=True, text=True, cwd=ROOT)
    if rev.returncode != 0:
        raise SystemExit(f"--baseline {args.baseline!r} is not a commit of {ROOT}: {rev.stderr.strip()}")
    here = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    with tempfile.TemporaryDirectory(prefix="modet-baseline-") as scratch:
        base_tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base_tree), rev.stdout.strip()], cwd=ROOT, check=True
        )
        try:
            print(
                f"baseline {rev.stdout.strip()} vs this tree (HEAD {here.stdout.strip()} + working changes); "
                f"torch {torch.__version__}, {args.threads} threads, {args.rounds} alternating rounds of "
                f"{args.iters} timed iterations; {time.strftime('%Y-%m-%d %H:%M')} load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            for workload in args.workloads:
                medians: dict[str, list[float]] = {"base": [], "new": []}
                for _ in range(args.rounds):
                    for side, tree in (("base", base_tree), ("new", ROOT)):
                        medians[side].append(_run(tree, workload, args, Path(scratch) / f"{workload}.{side}.pt"))
                base, new = statistics.median(medians["base"]), statistics.median(medians["new"])
                outputs = _largest_difference(
                    Path(scratch) / f"{workload}.base.pt", Path(scratch) / f"{workload}.new.pt"
                )
                print(
                    f"{workload:16s} baseline {base:7.3f} s  new {new:7.3f} s  ratio {new / base:5.2f}x  outputs: {outputs}",
                    flush=True,
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="the commit to compare with (default: main)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per run, after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    parser.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.iters, args.threads, args.outputs)))
    else:
        compare(args)


if __name__ == "__main__":
    main()
