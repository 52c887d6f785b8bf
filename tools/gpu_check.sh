#!/usr/bin/env bash
# The GPU checks of modet, in one run (issue #14): detectron2's parity fixtures on CUDA, the CUDA
# paths of ops and engine (skipped on CPU-only machines), AMP training of the main job, and the
# Mask R-CNN benchmark on the GPU.
#
#   tools/gpu_check.sh prepare   # here, with network to PyPI: wheels into .whl/ (git-ignored)
#   tools/gpu_check.sh run       # on the GPU machine, from the repository root; results in $OUT
#
# The GPU machine has its own torch and no network: modet's packages and the few dependencies
# its image lacks (yacs, omegaconf, pycocotools, iopath) travel as wheels and install with --no-deps.
set -uo pipefail
PACKAGES="core structures ops modeling checkpoint model-zoo data evaluation engine"

prepare() {
    rm -rf .whl && mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl yacs omegaconf pycocotools iopath
    for package in $PACKAGES; do uv build -q --wheel -o .whl "packages/$package"; done
    ls .whl
}

run() {
    OUT=${OUT:-gpu_check_out}
    DEVICE=${GPU_CHECK_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
    ITERS=${GPU_CHECK_DEMO_ITERS:-1500}
    mkdir -p "$OUT" /tmp/site
    export PYTHONUNBUFFERED=1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD/tests/support/src"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
    python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/gpu.txt"
    status=0

    echo "== 1. parity fixtures on CUDA, CUDA paths of ops and engine"
    (
        cd packages/modeling && MODET_TEST_DEVICE="$DEVICE" python3 -m pytest -q -p no:cacheprovider -rfs \
            tests/test_parity_rcnn.py tests/test_parity_dense_seg.py
    ) 2>&1 | tee "$OUT/tests.log" || status=1
    (cd packages/ops && python3 -m pytest -q -p no:cacheprovider -rfs tests/test_cuda.py) 2>&1 | tee -a "$OUT/tests.log" || status=1
    (cd packages/engine && python3 -m pytest -q -p no:cacheprovider -rfs tests/test_cuda.py) 2>&1 | tee -a "$OUT/tests.log" || status=1

    echo "== 2. the main job on CUDA with AMP (float16, loss scaler)"
    timeout 240 python3 -m modet.engine.cli demo --device "$DEVICE" --iters "$ITERS" --num-threads 0 --output /tmp/demo_amp \
        SOLVER.AMP.ENABLED True 2>&1 | tr '\r' '\n' | grep -v "it/s" | tail -40 | tee "$OUT/demo_amp.log" || status=1
    cp /tmp/demo_amp/results.json "$OUT/demo_amp_results.json" 2>/dev/null

    echo "== 3. Mask R-CNN R50-FPN benchmark"
    timeout 200 python3 packages/modeling/benchmarks/bench_rcnn.py --device "$DEVICE" --iters "${GPU_CHECK_BENCH_ITERS:-10}" 2>&1 | tee "$OUT/bench.txt" || status=1
    exit $status
}

"${1:?usage: tools/gpu_check.sh prepare|run}"
