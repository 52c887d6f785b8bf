"""modet-checkpoint: detectron2's checkpointers, with checkpoint formats as plugins.

Loading never runs code from a file and saving is atomic.
"""

from importlib.metadata import version as _distribution_version

from .c2_model_loading import align_and_update_state_dicts, convert_basic_c2_names, convert_c2_detectron_names
from .checkpoint import Checkpointer, IncompatibleKeys, PeriodicCheckpointer, _IncompatibleKeys
from .detection_checkpoint import DetectionCheckpointer
from .errors import (
    CheckpointDownloadError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CorruptCheckpointError,
    IncompatibleCheckpointError,
    UnknownCheckpointFormatError,
    UnsafeCheckpointError,
)
from .file_io import DETECTRON2_URL_PREFIX, atomic_write, get_cache_dir, get_local_path
from .formats import (
    CheckpointFormat,
    find_format,
    get_checkpoint_formats,
    load_checkpoint_file,
    save_checkpoint_file,
)
from .path_manager import PathManager
from .safe_pickle import RestrictedUnpickler, safe_load_pickle, safe_loads_pickle

__version__ = _distribution_version("modet-checkpoint")  # the one source of the version is pyproject.toml

__all__ = [
    "DETECTRON2_URL_PREFIX",
    "CheckpointDownloadError",
    "CheckpointError",
    "CheckpointFormat",
    "CheckpointNotFoundError",
    "CheckpointSaveError",
    "Checkpointer",
    "CorruptCheckpointError",
    "DetectionCheckpointer",
    "IncompatibleCheckpointError",
    "IncompatibleKeys",
    "PathManager",
    "PeriodicCheckpointer",
    "RestrictedUnpickler",
    "UnknownCheckpointFormatError",
    "UnsafeCheckpointError",
    "_IncompatibleKeys",
    "align_and_update_state_dicts",
    "atomic_write",
    "convert_basic_c2_names",
    "convert_c2_detectron_names",
    "find_format",
    "get_cache_dir",
    "get_checkpoint_formats",
    "get_local_path",
    "load_checkpoint_file",
    "safe_load_pickle",
    "safe_loads_pickle",
    "save_checkpoint_file",
]
