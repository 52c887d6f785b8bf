"""Errors raised when a checkpoint cannot be found, read, trusted or written.

Every message names the path (or URL) and the cause. Each class also derives from the
builtin exception a caller would catch without knowing modet (``FileNotFoundError``,
``ValueError``, ``OSError``, ``pickle.UnpicklingError``).
"""

from __future__ import annotations

import pickle


class CheckpointError(Exception):
    """Base class of every checkpoint loading or saving error."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path does not exist or is not a file."""


class CorruptCheckpointError(CheckpointError, ValueError):
    """The file exists but cannot be read: empty, truncated, or not what its format expects."""


class UnknownCheckpointFormatError(CheckpointError, ValueError):
    """No installed checkpoint format recognises the file's suffix or content."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file asks to import or call something that loading must never run."""


class CheckpointDownloadError(CheckpointError, OSError):
    """A checkpoint URL could not be downloaded."""


class CheckpointSaveError(CheckpointError, OSError):
    """A checkpoint (or another file modet writes atomically) could not be written: full disk, no permission."""


class IncompatibleCheckpointError(CheckpointError, ValueError):
    """A training state (optimizer, trainer...) cannot be restored: the model differs from the saved one."""
