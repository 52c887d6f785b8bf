"""``PathManager``: detectron2's file-access object (``detectron2.utils.file_io.PathManager``).

It is an iopath ``PathManager``, so code written for detectron2 keeps calling
``PathManager.open/exists/isfile/ls/mkdirs/get_local_path`` and registering its own iopath
``PathHandler``s. Local paths go to iopath's native handler; ``http(s)://`` and
``detectron2://`` paths go to :class:`ModetURLHandler`, which downloads once into modet's cache
(:func:`modet.checkpoint.file_io.get_local_path`), the same cache the checkpointer uses.
"""

from __future__ import annotations

from typing import IO, Any

from iopath.common.file_io import PathHandler
from iopath.common.file_io import PathManager as _IopathPathManager

from .file_io import get_local_path

__all__ = ["ModetURLHandler", "PathManager"]


class ModetURLHandler(PathHandler):
    """Reads ``http://``, ``https://`` and ``detectron2://`` paths through modet's download cache;
    ``file://`` URLs are local files."""

    PREFIXES = ("http://", "https://", "detectron2://", "file://")

    def _get_supported_prefixes(self) -> list[str]:
        return list(self.PREFIXES)

    def _get_local_path(self, path: str, force: bool = False, **kwargs: Any) -> str:
        self._check_kwargs(kwargs)
        return get_local_path(path)

    def _open(self, path: str, mode: str = "r", buffering: int = -1, **kwargs: Any) -> IO[Any]:
        self._check_kwargs(kwargs)
        if mode not in ("r", "rb") and not path.startswith("file://"):
            raise ValueError(f"{path!r} is read-only: cannot open it with mode {mode!r}")
        return open(get_local_path(path), mode, buffering=buffering)


#: The shared path manager, as ``detectron2.utils.file_io.PathManager``.
PathManager = _IopathPathManager()
PathManager.register_handler(ModetURLHandler())
