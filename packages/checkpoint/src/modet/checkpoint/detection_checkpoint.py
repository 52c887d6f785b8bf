"""``DetectionCheckpointer``: detectron2's checkpointer, reading every detectron2 checkpoint format."""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from modet.core import comm

from .c2_model_loading import align_and_update_state_dicts
from .checkpoint import Checkpointer, IncompatibleKeys, _convert_ndarray_to_tensor

__all__ = ["DetectionCheckpointer"]

logger = logging.getLogger(__name__)

_MATCHING_HEURISTICS_QUERY = "matching_heuristics"


_URL_SCHEMES = ("http", "https", "file", "detectron2")


def _split_matching_heuristics(path: str) -> tuple[str, bool]:
    """``path`` without a ``?matching_heuristics=True`` query, and whether it had one.

    A file that exists under the exact name given is that file, ``?`` and all; so is a local
    name whose ``?`` starts no ``key=value`` query. A URL keeps its other queries.
    """
    if not path or os.path.exists(path):
        return path, False
    parsed = urlparse(path)
    if not parsed.query:
        return path, False
    queries = parse_qs(parsed.query, keep_blank_values=True)
    requested = queries.pop(_MATCHING_HEURISTICS_QUERY, ["False"]) == ["True"]
    if parsed.scheme in _URL_SCHEMES:
        return parsed._replace(query=urlencode(queries, doseq=True)).geturl(), requested
    if any(value != [""] for value in queries.values()):
        raise ValueError(
            f"Unsupported query {parsed.query!r} in checkpoint path {path} (no file has this exact name): "
            f"the only option is ?{_MATCHING_HEURISTICS_QUERY}=True"
        )
    if queries:
        return path, False  # a local file name with a "?" in it, like "what?.pth"
    return parsed._replace(query="").geturl(), requested


class DetectionCheckpointer(Checkpointer):
    """A :class:`Checkpointer` that also reads detectron2 model-zoo ``.pkl``, Caffe2 Detectron
    ``.pkl`` and pycls ``.pyth`` files, matches Caffe2 names to the model, and accepts
    ``?matching_heuristics=True`` on a path or URL to match any checkpoint by name suffix.

    ``save_to_disk`` defaults to "only on the main process".
    """

    def __init__(self, model: nn.Module, save_dir: str = "", *, save_to_disk: bool | None = None, **checkpointables):
        super().__init__(
            model,
            save_dir,
            save_to_disk=comm.is_main_process() if save_to_disk is None else save_to_disk,
            **checkpointables,
        )
        self._matching_heuristics_requested = False

    def load(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        path, matching_heuristics = _split_matching_heuristics(path)
        need_sync = False
        if path and isinstance(self._wrapped_model, DistributedDataParallel):  # DDP: a process group exists
            path = self.path_manager.get_local_path(path)
            has_file = os.path.isfile(path)
            all_have_file = comm.all_gather(has_file)
            if not all_have_file[0]:
                raise FileNotFoundError(f"Checkpoint {path} not found on the main worker")
            if not all(all_have_file):
                logger.warning("Not all workers can read checkpoint %s. Training may fail to fully resume.", path)
                need_sync = True
            if not has_file:
                path = ""  # this worker gets the weights by broadcast
        self._matching_heuristics_requested = matching_heuristics
        try:
            result = super().load(path, *args, **kwargs)
        finally:
            self._matching_heuristics_requested = False
        if need_sync:
            logger.info("Broadcasting model states from main worker ...")
            # detectron2 calls DistributedDataParallel._sync_params_and_buffers, which torch no longer
            # has: every worker takes the main worker's parameters and buffers.
            for tensor in itertools.chain(self.model.parameters(), self.model.buffers()):
                dist.broadcast(tensor.data, src=0)
        return result

    def _load_file(self, filename: str) -> dict[str, Any]:
        checkpoint = super()._load_file(filename)
        if self._matching_heuristics_requested:
            checkpoint["matching_heuristics"] = True
        return checkpoint

    def _load_model(self, checkpoint: dict[str, Any]) -> IncompatibleKeys:
        if checkpoint.get("matching_heuristics", False):
            _convert_ndarray_to_tensor(checkpoint["model"])
            checkpoint["model"] = align_and_update_state_dicts(
                self.model.state_dict(),
                checkpoint["model"],
                c2_conversion=checkpoint.get("__author__") == "Caffe2",
            )
        incompatible = super()._load_model(checkpoint)

        # Old checkpoints lack pixel_mean/std; the model takes them from its config anyway.
        own_buffers = dict(self.model.named_buffers(recurse=False))
        for key in ("pixel_mean", "pixel_std"):
            if key in own_buffers and key in incompatible.missing_keys:
                incompatible.missing_keys.remove(key)
        # Cell anchors are non-persistent buffers now, but old checkpoints still have them.
        for key in list(incompatible.unexpected_keys):
            if "anchor_generator.cell_anchors" in key:
                incompatible.unexpected_keys.remove(key)
        return incompatible
