"""Time Mask R-CNN R50-FPN (full widths, random weights) on CPU: inference at 800x1067, training at 2x512x512.

Usage: python packages/modeling/benchmarks/bench_rcnn.py [--iters N] [--threads T]
Prints the median time per iteration of each.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from modet import model_zoo
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.structures import Boxes, Instances, PolygonMasks


def _model(train: bool) -> torch.nn.Module:
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    cfg.MODEL.DEVICE = "cpu"
    # Random weights stay finite through 50 layers only on normalised pixels (the cost is the same).
    cfg.MODEL.PIXEL_STD = [57.375, 57.12, 58.395]
    torch.manual_seed(0)
    return build_model(cfg).train(train)


def _median_seconds(step, iters: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _training_input(size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[40.0, 60.0, 200.0, 300.0], [250.0, 100.0, 480.0, 400.0]])
    instances = Instances((size, size))
    instances.gt_boxes = Boxes(boxes)
    instances.gt_classes = torch.tensor([1, 7])
    instances.gt_masks = PolygonMasks([[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes.tolist()])
    image = torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
    return {"image": image, "instances": instances}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.iters} timed iterations")

    model = _model(train=False)
    image = torch.randint(0, 256, (3, 800, 1067), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)

    def infer() -> None:
        with torch.no_grad():
            model([{"image": image}])

    print(f"inference 1x3x800x1067: median {_median_seconds(infer, args.iters):.3f} s/image")

    model = _model(train=True)
    batch = [_training_input(512, 1), _training_input(512, 2)]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)

    def train_step() -> None:
        losses = model(batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    with EventStorage():
        print(f"training 2x3x512x512: median {_median_seconds(train_step, args.iters):.3f} s/iteration")


if __name__ == "__main__":
    main()
