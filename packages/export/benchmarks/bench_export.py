"""Latency per image of Mask R-CNN R50-FPN (full widths) at 800x1067 on the CPU: eager, the ONNX
file run by onnxruntime and the torch.export program, side by side in one run (alternating).

Usage: python packages/export/benchmarks/bench_export.py [--iters N] [--threads T] [--output DIR]
Needs modet-export[onnx] and the repository's tests/support (the parity config and weight rule).
Weights follow the parity filler rule (random, deterministic): speed does not depend on them
beyond the number of detections, which the script prints.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from modet.core.config import get_cfg
from modet.export import export_onnx, export_program, load
from modet.export.check import compare_outputs
from modet.modeling import build_model
from modet_test_support.parity import FIXTURES, fill_weights

# The parity case is detectron2's mask_rcnn_R_50_FPN_3x with tiny widths: these restore the real ones.
FULL_WIDTHS = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "64", "MODEL.RESNETS.RES2_OUT_CHANNELS", "256",
    "MODEL.RESNETS.WIDTH_PER_GROUP", "64", "MODEL.FPN.OUT_CHANNELS", "256",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "1024", "MODEL.ROI_BOX_HEAD.CONV_DIM", "256",
    "MODEL.ROI_MASK_HEAD.CONV_DIM", "256", "TEST.DETECTIONS_PER_IMAGE", "100",
    "MODEL.DEVICE", "cpu",
]  # fmt: skip


def _model() -> torch.nn.Module:
    cfg = get_cfg()
    cfg.merge_from_file(str(FIXTURES / "mask_rcnn_R_50_FPN" / "config.yaml"))
    cfg.merge_from_list(FULL_WIDTHS)
    cfg.MODEL.PIXEL_STD = [57.375, 57.12, 58.395]  # finite activations through 50 layers of random weights
    model = build_model(cfg)
    fill_weights(model)
    return model.eval()


def _image(height: int, width: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (3, height, width), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=5, help="timed rounds (each runs the three once)")
    parser.add_argument("--threads", type=int, default=2, help="threads of torch and onnxruntime")
    parser.add_argument("--output", help="folder for the exported files (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.output or tempfile.mkdtemp(prefix="modet-bench-export-"))
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} threads")

    model = _model()
    sample = [{"image": _image(640, 864, seed=1)}]  # exported at another size than it runs at
    start = time.perf_counter()
    program = export_program(model, sample, folder / "model.pt2")
    captured = time.perf_counter()
    export_onnx(model, sample, folder / "model.onnx", program=program)
    print(
        f"export: torch.export {captured - start:.0f} s, ONNX translation {time.perf_counter() - captured:.0f} s; "
        f"model.onnx {(folder / 'model.onnx').stat().st_size / 2**20:.0f} MiB"
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    runners = {
        "eager": model,
        "onnxruntime": load(folder / "model.onnx", session_options=options),
        "torch.export program": load(folder / "model.pt2"),
    }
    inputs = [{"image": _image(800, 1067, seed=2)}]
    with torch.no_grad():
        outputs = {name: run([dict(x) for x in inputs])[0] for name, run in runners.items()}  # warm-up
    print(f"{len(outputs['eager']['instances'])} detections at 800x1067")
    for name in ("onnxruntime", "torch.export program"):
        print(f"{name} agrees with eager (parity tolerances): {compare_outputs(outputs['eager'], outputs[name])['ok']}")

    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.iters):
        for name, run in runners.items():  # alternating, so load on the machine hits all three alike
            start = time.perf_counter()
            with torch.no_grad():
                run([dict(x) for x in inputs])
            times[name].append(time.perf_counter() - start)
    eager = statistics.median(times["eager"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:>22}: {median:6.2f} s per image (median of {len(values)}), {median / eager:.2f}x eager")


if __name__ == "__main__":
    main()
