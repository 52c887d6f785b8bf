"""``launch``: run a function in one process per GPU (or CPU worker) over torch.distributed.

NCCL joins processes that each own a GPU; gloo joins CPU processes. Under ``torchrun`` (or
any launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) the process group comes from
those variables (``env://``) and ``main_func`` runs in the calling process.

torch is imported inside the functions: ``modet.engine`` exports ``launch`` eagerly (the
function must shadow this module's name) and must stay cheap to import.
"""

from __future__ import annotations

# Deferred imports: torch, as the module docstring says.
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "launch", "launched_by_torchrun"]

DEFAULT_TIMEOUT = timedelta(minutes=30)
logger = logging.getLogger(__name__)


def _find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launched_by_torchrun() -> bool:
    """Whether a launcher (torchrun, SLURM wrappers…) already set the env:// variables."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def _backend(use_gpu: bool) -> str:
    return "nccl" if use_gpu else "gloo"


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
    use_gpu: bool | None = None,
) -> None:
    """Run ``main_func(*args)`` in ``num_gpus_per_machine`` processes on each of ``num_machines``.

    ``dist_url`` is a torch.distributed init method (``tcp://host:port``, ``file://…``) or
    ``"auto"`` (a free local port; one machine only). Processes use NCCL when CUDA is available
    and gloo otherwise (``use_gpu=False`` forces gloo CPU processes). A world size of one runs
    ``main_func`` in this process.
    """
    import torch
    import torch.multiprocessing as mp

    if launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1:
        _run_under_env_launcher(main_func, args, timeout, use_gpu)
        return
    if num_gpus_per_machine < 0 or num_machines < 1:
        raise ValueError(
            f"launch needs num_gpus_per_machine >= 0 and num_machines >= 1, got {num_gpus_per_machine}, {num_machines}"
        )
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if use_gpu is None:
        use_gpu = torch.cuda.is_available()
    if use_gpu and num_gpus_per_machine > torch.cuda.device_count():
        raise ValueError(
            f"launch: {num_gpus_per_machine} GPUs per machine requested, {torch.cuda.device_count()} available"
        )
    if dist_url is None or dist_url == "auto":
        if num_machines > 1:
            raise ValueError("dist_url='auto' works on one machine only: give tcp://<main machine>:<port>")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// init may be unreliable across machines; prefer tcp://")
    mp.start_processes(
        _distributed_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout, use_gpu),
        daemon=False,
        start_method="spawn",
    )


def _distributed_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    num_gpus_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple,
    timeout: timedelta,
    use_gpu: bool,
) -> None:
    import torch
    import torch.distributed as dist

    from . import comm

    global_rank = machine_rank * num_gpus_per_machine + local_rank
    if use_gpu:
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(
            backend=_backend(use_gpu), init_method=dist_url, world_size=world_size, rank=global_rank, timeout=timeout
        )
    except Exception:
        logger.error("process group init failed; init method: %s", dist_url)
        raise
    comm.create_local_process_group(num_gpus_per_machine)
    comm.synchronize()
    try:
        main_func(*args)
        comm.synchronize()  # no process closes its connections while another may still be reading
    finally:
        comm.reset_process_groups()
        dist.destroy_process_group()


def _run_under_env_launcher(
    main_func: Callable[..., Any], args: tuple, timeout: timedelta, use_gpu: bool | None
) -> None:
    import torch
    import torch.distributed as dist

    from . import comm

    if use_gpu is None:
        use_gpu = torch.cuda.is_available()
    if use_gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend=_backend(use_gpu), init_method="env://", timeout=timeout)
    comm.synchronize()
    try:
        main_func(*args)
        if created:
            comm.synchronize()  # no process closes its connections while another may still be reading
    finally:
        if created:
            comm.reset_process_groups()
            dist.destroy_process_group()
