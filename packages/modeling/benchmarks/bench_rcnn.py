"""Time Mask R-CNN R50-FPN (full widths, random weights): inference at 800x1067, training at 2x512x512.

Usage: python packages/modeling/benchmarks/bench_rcnn.py [--iters N] [--threads T] [--device cuda]
Prints the median time per iteration of each; on CUDA also under autocast (bfloat16 inference,
float16 training with a loss scaler, as AMPTrainer) and TF32 off, so fp32 means fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from modet import model_zoo
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.structures import Boxes, Instances, PolygonMasks


def _model(train: bool, device: str) -> torch.nn.Module:
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    cfg.MODEL.DEVICE = device
    # Random weights stay finite through 50 layers only on normalised pixels (the cost is the same).
    cfg.MODEL.PIXEL_STD = [57.375, 57.12, 58.395]
    torch.manual_seed(0)
    return build_model(cfg).train(train)


def _median_seconds(step, iters: int, warmup: int = 1) -> float:
    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        synchronize()
        start = time.perf_counter()
        step()
        synchronize()
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


def _autocast(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    on_cuda = args.device.startswith("cuda")
    if on_cuda:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        print(f"device {torch.cuda.get_device_name()}", end=", ")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.iters} timed iterations")

    model = _model(train=False, device=args.device)
    image = torch.randint(0, 256, (3, 800, 1067), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for label, dtype in [("fp32", None)] + ([("bf16 autocast", torch.bfloat16)] if on_cuda else []):

        def infer(batch_size: int = 1, dtype: torch.dtype | None = dtype) -> None:
            with torch.no_grad(), _autocast(args.device, dtype):
                model([{"image": image}] * batch_size)

        print(f"inference 1x3x800x1067 {label}: median {_median_seconds(infer, args.iters):.3f} s/image")
        if on_cuda:
            seconds = _median_seconds(lambda: infer(8), args.iters)
            print(f"inference 8x3x800x1067 {label}: {8 / seconds:.1f} images/s")

    model = _model(train=True, device=args.device)
    batch = [_training_input(512, 1), _training_input(512, 2)]
    for label, dtype in [("fp32", None)] + ([("fp16 AMP", torch.float16)] if on_cuda else []):
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

        def train_step(
            dtype: torch.dtype | None = dtype,
            optimizer: torch.optim.Optimizer = optimizer,
            scaler: torch.amp.GradScaler = scaler,
        ) -> None:
            with _autocast(args.device, dtype):
                losses = model(batch)
            optimizer.zero_grad()
            scaler.scale(sum(losses.values())).backward()
            scaler.step(optimizer)
            scaler.update()

        with EventStorage():
            seconds = _median_seconds(train_step, args.iters)
        print(f"training 2x3x512x512 {label}: median {seconds:.3f} s/iteration")
    if on_cuda:
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
