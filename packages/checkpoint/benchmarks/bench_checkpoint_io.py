"""Print how long modet-checkpoint takes to read the fixture checkpoints and to save one.

Run: python packages/checkpoint/benchmarks/bench_checkpoint_io.py
"""

from __future__ import annotations

import pickle
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modet.checkpoint import Checkpointer, load_checkpoint_file

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
FILES = [
    FIXTURES / "mask_rcnn_R_50_FPN" / "model_final.pth",
    FIXTURES / "mask_rcnn_R_50_FPN" / "model_final.pkl",
    FIXTURES / "c2_imagenet_R_50" / "R-50-tiny.pkl",
]


def _median_ms(fn, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    for path in FILES:
        size_mb = path.stat().st_size / 1e6
        ours = _median_ms(lambda p=path: load_checkpoint_file(str(p)))
        if path.suffix == ".pkl":
            plain = _median_ms(lambda p=path: pickle.loads(p.read_bytes(), encoding="latin1"))
            baseline = "pickle.load (unrestricted)"
        else:
            plain = _median_ms(lambda p=path: torch.load(p, map_location="cpu", weights_only=False))
            baseline = "torch.load(weights_only=False)"
        print(f"{path.name:<18} {size_mb:5.1f} MB  load {ours:7.1f} ms   {baseline} {plain:7.1f} ms")

    state = torch.load(FILES[0], weights_only=True)["model"]
    model = torch.nn.Module()
    for index, value in enumerate(state.values()):
        model.register_buffer(f"t{index}", value.clone())
    with tempfile.TemporaryDirectory() as folder:
        checkpointer = Checkpointer(model, folder)
        atomic = _median_ms(lambda: checkpointer.save("model", iteration=1))
        plain = _median_ms(lambda: torch.save({"model": model.state_dict()}, Path(folder) / "plain.pth"))
    print(f"save {len(state)} tensors: atomic (fsync + rename) {atomic:.1f} ms   plain torch.save {plain:.1f} ms")


if __name__ == "__main__":
    main()
