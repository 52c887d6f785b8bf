"""Print DefaultPredictor latency (one image at a time vs batched) and SimpleTrainer step time.

Uses the tiny Mask R-CNN of the tests (model-zoo config, small widths) on CPU:
    python packages/engine/benchmarks/bench_predictor.py [--images 8] [--size 480 640]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from conftest import tiny_mask_rcnn_cfg

from modet.checkpoint import DetectionCheckpointer
from modet.engine import DefaultPredictor, EventStorage
from modet.modeling import build_model


def _timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(480, 640))
    parser.add_argument("--min-size-test", type=int, default=320)
    args = parser.parse_args()
    cfg = tiny_mask_rcnn_cfg()
    cfg.INPUT.MIN_SIZE_TEST = args.min_size_test
    cfg.INPUT.MAX_SIZE_TEST = 2 * args.min_size_test
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        DetectionCheckpointer(build_model(cfg), save_dir=tmp).save("model")
        cfg.MODEL.WEIGHTS = os.path.join(tmp, "model.pth")
        predictor = DefaultPredictor(cfg)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*args.size, 3), dtype=np.uint8) for _ in range(args.images)]
    one_by_one = _timed(lambda: [predictor(im) for im in images])
    batched = _timed(lambda: predictor(images))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images {args.size}")
    print(f"DefaultPredictor one at a time: {1000 * one_by_one / args.images:.1f} ms/image")
    print(f"DefaultPredictor batched:       {1000 * batched / args.images:.1f} ms/image")

    model = build_model(cfg)
    model.train()
    inputs = predictor.preprocess(images[0])
    from modet.structures import Boxes, Instances

    h, w = inputs["image"].shape[1:]
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 10.0, w / 2, h / 2]]))
    inst.gt_classes = torch.tensor([1])
    from modet.structures import BitMasks

    mask = torch.zeros(1, h, w, dtype=torch.bool)
    mask[:, 10 : h // 2, 10 : w // 2] = True
    inst.gt_masks = BitMasks(mask)
    batch = [{"image": inputs["image"], "instances": inst}] * 2
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        with EventStorage():
            loss = sum(model(batch).values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    print(f"training step (2 images):       {1000 * _timed(step):.1f} ms")


if __name__ == "__main__":
    main()
