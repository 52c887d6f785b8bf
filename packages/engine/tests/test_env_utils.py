import re

import numpy as np
import pytest
import torch

from modet.engine.collect_env import collect_env_info
from modet.engine.env import TORCH_VERSION, seed_all_rng
from modet.engine.memory import retry_if_cuda_oom


def test_collect_env_info_reports_versions():
    report = collect_env_info()
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in report.splitlines())
    assert rows["numpy"] == np.__version__ and rows["CUDA available"] == str(torch.cuda.is_available())
    assert rows["PyTorch"].startswith(torch.__version__) and rows["modet-engine"] == "0.1.0"


def test_torch_version_and_seeding():
    assert tuple(int(v) for v in torch.__version__.split(".")[:2]) == TORCH_VERSION
    seed_all_rng(3)
    first = (np.random.rand(), torch.rand(1).item())
    assert seed_all_rng(3) == 3 and (np.random.rand(), torch.rand(1).item()) == first
    assert isinstance(seed_all_rng(None), int)


def test_retry_if_cuda_oom_retries_then_moves_to_cpu():
    calls = []

    def flaky(x):
        calls.append(x.device.type)
        if len(calls) < 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return x * 2

    assert torch.equal(retry_if_cuda_oom(flaky)(torch.ones(2)), torch.full((2,), 2.0))
    assert len(calls) == 3  # the call, the retry after emptying the cache, the CPU run

    def broken(x):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        retry_if_cuda_oom(broken)(torch.ones(2))
