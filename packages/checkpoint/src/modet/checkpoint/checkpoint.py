"""``Checkpointer`` and ``PeriodicCheckpointer``: fvcore's semantics, with safe formats and atomic saves."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from modet.core.comm import unwrap_model

from .errors import CheckpointNotFoundError, CorruptCheckpointError, IncompatibleCheckpointError
from .file_io import atomic_write_text
from .formats import get_checkpoint_formats, load_checkpoint_file, save_checkpoint_file
from .path_manager import PathManager
from .summary import format_load_summary, group_keys

__all__ = ["Checkpointer", "IncompatibleKeys", "PeriodicCheckpointer", "_IncompatibleKeys"]

LAST_CHECKPOINT_FILE = "last_checkpoint"
DEFAULT_SUFFIX = ".pth"


@attrs.frozen
class IncompatibleKeys:
    """What a load did not do: keys missing from the checkpoint, keys the model lacks, shape mismatches.

    ``incorrect_shapes`` holds ``(key, shape_in_checkpoint, shape_in_model)``; ``loaded_keys``
    the model keys that were filled from the checkpoint.
    """

    missing_keys: list[str] = attrs.field(factory=list)
    unexpected_keys: list[str] = attrs.field(factory=list)
    incorrect_shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = attrs.field(factory=list)
    loaded_keys: list[str] = attrs.field(factory=list)


# fvcore's name for the same record.
_IncompatibleKeys = IncompatibleKeys


def _strip_prefix_if_present(state_dict: MutableMapping[str, Any], prefix: str) -> None:
    """Drop ``prefix`` from every key (and from ``_metadata``) when all keys carry it."""
    keys = sorted(state_dict)
    if not keys or not all(len(key) == 0 or key.startswith(prefix) for key in keys):
        return
    for key in keys:
        state_dict[key[len(prefix) :]] = state_dict.pop(key)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in list(metadata):
            if key:
                metadata[key[len(prefix) :]] = metadata.pop(key)


def _convert_ndarray_to_tensor(state_dict: MutableMapping[str, Any], source: str = "") -> None:
    """Replace numpy arrays (``.pkl`` checkpoints) by tensors, in place; reject anything else.

    An array torch cannot hold (object, string dtypes) is a :class:`CorruptCheckpointError`
    naming ``source`` (the file) and the key.
    """
    where = f"Checkpoint {source}: " if source else "Checkpoint: "
    for key, value in list(state_dict.items()):
        if isinstance(value, torch.Tensor):
            continue
        if not isinstance(value, (np.ndarray, np.generic)):
            raise CorruptCheckpointError(
                f"{where}model entry {key!r} is a {type(value).__name__}, not an array or tensor"
            )
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise CorruptCheckpointError(
                f"{where}model entry {key!r} is a numpy array of dtype {array.dtype} (shape {array.shape}); "
                "weights must be numeric arrays"
            )
        if not array.flags.writeable or not array.flags.c_contiguous:
            array = np.ascontiguousarray(array).copy()
        state_dict[key] = torch.from_numpy(array)


def _filter_reused_missing_keys(model: nn.Module, keys: list[str]) -> list[str]:
    """Drop missing keys that are aliases (shared parameters) of keys that did load."""
    keyset = set(keys)
    names_of: dict[int, set[str]] = defaultdict(set)
    for module_name, module in model.named_modules(remove_duplicate=False):
        tensors = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        for name, tensor in tensors:
            names_of[id(tensor)].add(f"{module_name}.{name}" if module_name else name)
    for names in names_of.values():
        if any(n in keyset for n in names) and not all(n in keyset for n in names):
            keyset.difference_update(names)
    return [k for k in keys if k in keyset]


def get_missing_parameters_message(keys: Iterable[str]) -> str:
    return "Some model parameters or buffers are not found in the checkpoint:\n" + "\n".join(
        "  " + line for line in group_keys(keys)
    )


def get_unexpected_parameters_message(keys: Iterable[str]) -> str:
    return "The checkpoint state_dict contains keys that are not used by the model:\n" + "\n".join(
        "  " + line for line in group_keys(keys)
    )


class Checkpointer:
    """Save and load a model and other checkpointables (anything with ``state_dict``).

    ``Checkpointer(model, "output", optimizer=opt, scheduler=sched).save("model_0000999",
    iteration=999)`` writes ``output/model_0000999.pth`` atomically and records its name in
    ``output/last_checkpoint``; ``load(path)`` restores everything and returns the extra data.
    """

    def __init__(self, model: nn.Module, save_dir: str = "", *, save_to_disk: bool = True, **checkpointables: Any):
        self.model = unwrap_model(model)
        self._wrapped_model = model
        self.checkpointables: dict[str, Any] = {}
        for key, obj in checkpointables.items():
            self.add_checkpointable(key, obj)
        self.logger = logging.getLogger(__name__)
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.incompatible_keys: IncompatibleKeys | None = None
        self._resuming_from: str | None = None  # set while load() restores a training state
        # Resolves the paths given to load() (detectron2's ``checkpointer.path_manager``): replace it
        # with an iopath PathManager carrying other handlers to load from other storage.
        self.path_manager = PathManager

    def add_checkpointable(self, key: str, checkpointable: Any) -> None:
        """Save and load ``checkpointable`` (an optimizer, scheduler...) under ``key``."""
        if key in self.checkpointables or key == "model":
            raise KeyError(f"Key {key!r} already used in the Checkpointer")
        if not hasattr(checkpointable, "state_dict"):
            raise TypeError(f"add_checkpointable({key!r}) needs an object with a state_dict() method")
        self.checkpointables[key] = checkpointable

    # -- saving -------------------------------------------------------------------------

    def _file_name(self, name: str) -> str:
        """``name`` plus ``.pth``, unless it already ends with the suffix of a format that can save."""
        for fmt in get_checkpoint_formats():
            if fmt.save is not None and fmt.matching_suffix(name) is not None:
                return name
        return name + DEFAULT_SUFFIX

    def save(self, name: str, **kwargs: Any) -> None:
        """Write the model, every checkpointable and ``kwargs`` to ``save_dir/name.pth`` atomically."""
        if not self.save_dir or not self.save_to_disk:
            return
        data: dict[str, Any] = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = self._file_name(name)
        if os.path.basename(basename) != basename:
            raise ValueError(f"Checkpoint name {name!r} must be a file name, not a path")
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        save_checkpoint_file(data, save_file)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """Record ``last_filename_basename`` in ``save_dir/last_checkpoint`` (atomically)."""
        atomic_write_text(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE), last_filename_basename)

    # -- finding ------------------------------------------------------------------------

    def has_checkpoint(self) -> bool:
        return os.path.exists(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE))

    def get_checkpoint_file(self) -> str:
        """The path ``last_checkpoint`` names, or "" when there is none (or it is empty)."""
        try:
            with open(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE), encoding="utf-8") as f:
                last_saved = f.read().strip()
        except OSError:
            return ""
        return os.path.join(self.save_dir, last_saved) if last_saved else ""

    def get_all_checkpoint_files(self) -> list[str]:
        """Every checkpoint file in ``save_dir`` (files with a suffix of a format that can save)."""
        if not os.path.isdir(self.save_dir):
            return []
        suffixes = tuple({s for fmt in get_checkpoint_formats() if fmt.save is not None for s in fmt.suffixes})
        return sorted(
            os.path.join(self.save_dir, name)
            for name in os.listdir(self.save_dir)
            if not name.startswith(".")
            and name.lower().endswith(suffixes)
            and os.path.isfile(os.path.join(self.save_dir, name))
        )

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        """Resume from ``last_checkpoint`` when ``resume`` and it exists, else load only the model from ``path``.

        A ``last_checkpoint`` that is empty or names a missing file is an error: silently
        starting over would throw the run's progress away.
        """
        if resume and self.has_checkpoint():
            return self.load(self._checkpoint_to_resume())
        return self.load(path, checkpointables=[])

    def _checkpoint_to_resume(self) -> str:
        tag = os.path.join(self.save_dir, LAST_CHECKPOINT_FILE)
        remedy = f"fix or delete {tag} (deleting it starts the training over)"
        checkpoint = self.get_checkpoint_file()
        if not checkpoint:
            raise CorruptCheckpointError(f"Cannot resume: {tag} is empty; it should name a checkpoint file: {remedy}")
        if not os.path.isfile(checkpoint):
            raise CheckpointNotFoundError(
                f"Cannot resume: {tag} names {os.path.basename(checkpoint)}, but {checkpoint} does not exist: {remedy}"
            )
        return checkpoint

    # -- loading ------------------------------------------------------------------------

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict[str, Any]:
        """Load the model and ``checkpointables`` (all by default) from ``path``; return the remaining data."""
        if not path:
            self.logger.info("No checkpoint found. Initializing model from scratch")
            return {}
        self.logger.info("[Checkpointer] Loading from %s ...", path)
        local_path = self.path_manager.get_local_path(path)
        checkpoint = self._load_file(local_path)
        if isinstance(checkpoint.get("model"), Mapping):
            _convert_ndarray_to_tensor(checkpoint["model"], source=path)
        keys = list(self.checkpointables) if checkpointables is None else list(checkpointables)
        for key in keys:
            if key not in self.checkpointables:
                raise KeyError(f"{key!r} is not a checkpointable of this Checkpointer ({sorted(self.checkpointables)})")
        # Training state (optimizer...) only fits the model it was saved with.
        self._resuming_from = path if any(key in checkpoint for key in keys) else None
        try:
            incompatible = self._load_model(checkpoint)
        finally:
            self._resuming_from = None
        self.incompatible_keys = incompatible
        if incompatible is not None:
            self._log_incompatible_keys(incompatible, source=path)
        for key in keys:
            if key in checkpoint:
                self.logger.info("Loading %s from %s ...", key, path)
                self.checkpointables[key].load_state_dict(checkpoint.pop(key))
        return checkpoint

    def _load_file(self, filename: str) -> dict[str, Any]:
        """Read a local file with the format plugin that knows it."""
        return load_checkpoint_file(filename)

    def _load_model(self, checkpoint: dict[str, Any]) -> IncompatibleKeys:
        """Load ``checkpoint["model"]`` non-strictly, skipping tensors whose shape differs from the model's."""
        checkpoint_state_dict = checkpoint.pop("model")
        if not isinstance(checkpoint_state_dict, MutableMapping):  # changed in place below
            raise ValueError(f"Checkpoint 'model' entry is a {type(checkpoint_state_dict).__name__}, not a state dict")
        _convert_ndarray_to_tensor(checkpoint_state_dict)
        # Saved from a DataParallel / DistributedDataParallel wrapper.
        _strip_prefix_if_present(checkpoint_state_dict, "module.")

        model_state_dict = self.model.state_dict()
        incorrect_shapes = []
        for key in list(checkpoint_state_dict):
            if key not in model_state_dict:
                continue
            model_param = model_state_dict[key]
            if isinstance(model_param, nn.parameter.UninitializedParameter):
                continue
            shape_model = tuple(model_param.shape)
            shape_checkpoint = tuple(checkpoint_state_dict[key].shape)
            if shape_model != shape_checkpoint:
                incorrect_shapes.append((key, shape_checkpoint, shape_model))
        if incorrect_shapes and self._resuming_from:
            raise _model_changed_error(self._resuming_from, incorrect_shapes)
        for key, _, _ in incorrect_shapes:
            checkpoint_state_dict.pop(key)
        result = self.model.load_state_dict(checkpoint_state_dict, strict=False)
        loaded = [key for key in checkpoint_state_dict if key in model_state_dict]
        return IncompatibleKeys(
            missing_keys=list(result.missing_keys),
            unexpected_keys=list(result.unexpected_keys),
            incorrect_shapes=incorrect_shapes,
            loaded_keys=loaded,
        )

    def _log_incompatible_keys(self, incompatible: IncompatibleKeys, source: str = "") -> None:
        for key, shape_checkpoint, shape_model in incompatible.incorrect_shapes:
            self.logger.warning(
                "Skip loading parameter '%s' to the model due to incompatible shapes: %s in the checkpoint but %s "
                "in the model! You might want to double check if this is expected.",
                key,
                shape_checkpoint,
                shape_model,
            )
        missing = _filter_reused_missing_keys(self.model, incompatible.missing_keys)
        if missing:
            self.logger.warning(get_missing_parameters_message(missing))
        if incompatible.unexpected_keys:
            self.logger.warning(get_unexpected_parameters_message(incompatible.unexpected_keys))
        self.logger.info(format_load_summary(incompatible, source=source, missing_keys=missing))


def _model_changed_error(path: str, incorrect_shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]]) -> Exception:
    shown = "; ".join(f"{key}: {tuple(saved)} saved, {tuple(now)} now" for key, saved, now in incorrect_shapes[:10])
    more = f" (and {len(incorrect_shapes) - 10} more)" if len(incorrect_shapes) > 10 else ""
    return IncompatibleCheckpointError(
        f"Cannot resume from {path}: the model is not the one that was saved; {len(incorrect_shapes)} tensors "
        f"changed shape: {shown}{more}. A config value that sizes the model (e.g. MODEL.ROI_HEADS.NUM_CLASSES) "
        "differs from the saved run's. Restore it to resume, or start a new run (another OUTPUT_DIR, no --resume) "
        f"that loads these weights with MODEL.WEIGHTS={path}: mismatched tensors are then skipped."
    )


class PeriodicCheckpointer:
    """Save every ``period`` iterations (and at ``max_iter - 1`` as ``{file_prefix}_final``).

    With ``max_to_keep``, only that many periodic checkpoints are kept; the file
    ``last_checkpoint`` names and ``{file_prefix}_final`` are never deleted.
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        period: int,
        max_iter: int | None = None,
        max_to_keep: int | None = None,
        file_prefix: str = "model",
    ):
        if int(period) <= 0:
            raise ValueError(f"PeriodicCheckpointer period must be positive, got {period}")
        if max_to_keep is not None and max_to_keep <= 0:
            raise ValueError(f"PeriodicCheckpointer max_to_keep must be positive or None, got {max_to_keep}")
        self.checkpointer = checkpointer
        self.period = int(period)
        self.max_iter = max_iter
        self.max_to_keep = max_to_keep
        self.recent_checkpoints: list[str] = []
        self.file_prefix = file_prefix

    def step(self, iteration: int, **kwargs: Any) -> None:
        """Save if ``iteration`` ends a period (or is the last); ``iteration`` and ``kwargs`` go into the file."""
        iteration = int(iteration)
        additional_state = {"iteration": iteration, **kwargs}
        if (iteration + 1) % self.period == 0:
            self.checkpointer.save(f"{self.file_prefix}_{iteration:07d}", **additional_state)
            saved = bool(self.checkpointer.save_dir) and self.checkpointer.save_to_disk
            if self.max_to_keep is not None and saved:
                self._delete_old_checkpoints()
        if self.max_iter is not None and iteration >= self.max_iter - 1:
            self.checkpointer.save(f"{self.file_prefix}_final", **additional_state)

    def _delete_old_checkpoints(self) -> None:
        latest = self.checkpointer.get_checkpoint_file()
        if not latest:
            return
        if latest in self.recent_checkpoints:
            self.recent_checkpoints.remove(latest)
        self.recent_checkpoints.append(latest)
        assert self.max_to_keep is not None
        while len(self.recent_checkpoints) > self.max_to_keep:
            file_to_delete = self.recent_checkpoints.pop(0)
            protected = self.checkpointer.get_checkpoint_file()
            is_final = os.path.basename(file_to_delete).startswith(f"{self.file_prefix}_final.")
            same_as_last = protected and os.path.abspath(file_to_delete) == os.path.abspath(protected)
            if os.path.exists(file_to_delete) and not is_final and not same_as_last:
                os.remove(file_to_delete)

    def save(self, name: str, **kwargs: Any) -> None:
        """Save now under ``name`` (same as ``checkpointer.save``)."""
        self.checkpointer.save(name, **kwargs)
