"""A restricted unpickler for ``.pkl`` checkpoints: numpy arrays and plain containers only.

``pickle.load`` imports and calls whatever a file names, so a crafted ``.pkl`` can run any
command. This unpickler resolves only the globals numpy needs to rebuild arrays (under both
numpy 1.x ``numpy.core`` and numpy 2 ``numpy._core`` names) and a few container types;
anything else is refused with :class:`UnsafeCheckpointError` before it is imported.
"""

from __future__ import annotations

import codecs
import collections
import importlib
import io
import pickle
from typing import Any, BinaryIO

import numpy

from .errors import UnsafeCheckpointError

# numpy moved numpy.core to numpy._core in 2.0; pickles name whichever wrote them.
_NUMPY_CORE_MODULES = ("numpy.core", "numpy._core")
_NUMPY_RECONSTRUCTORS = ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to text codecs.

    Python 3 writes ``bytes`` into protocol 2 as ``_codecs.encode(str, "latin1")``; other
    codecs (zlib, base64...) are not needed and are refused.
    """
    if not isinstance(text, str) or codecs.lookup(encoding).name not in ("iso8859-1", "utf-8", "ascii"):
        raise UnsafeCheckpointError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return codecs.encode(text, encoding, errors)


def _allowed(module: str, name: str) -> Any | None:
    """The object ``module.name`` resolves to, or None when it is not on the allow-list."""
    if module == "numpy" and name in ("ndarray", "dtype"):
        return getattr(numpy, name)
    for core in _NUMPY_CORE_MODULES:
        for reconstructor in _NUMPY_RECONSTRUCTORS:
            submodule, _, function = reconstructor.partition(".")
            if module == f"{core}.{submodule}" and name == function:
                return _import_numpy_attr(submodule, function)
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "complex"):
        return {"set": set, "frozenset": frozenset, "complex": complex}[name]
    return None


def _import_numpy_attr(submodule: str, name: str) -> Any:
    """``numpy._core.<submodule>.<name>`` on numpy 2, ``numpy.core.<submodule>.<name>`` on numpy 1."""
    for core in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{core}.{submodule}"), name)
        except (ImportError, AttributeError):
            continue
    raise UnsafeCheckpointError(f"numpy has no {submodule}.{name}")


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only numpy array reconstruction and containers."""

    def __init__(self, file: BinaryIO, *, source: str = "<stream>", encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is None:
            raise UnsafeCheckpointError(
                f"Refusing to load {self.source}: it asks to import {module}.{name}, which a checkpoint "
                "never needs (only numpy arrays and plain containers are allowed). The file may be "
                "malicious; if you trust it, convert it with plain pickle yourself."
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"Refusing to load {self.source}: it uses persistent ids ({pid!r}).")


def safe_load_pickle(path: str) -> Any:
    """Unpickle ``path`` allowing only numpy arrays and plain containers.

    ``encoding="latin1"`` lets Python 2 pickles (Caffe2-era Detectron files) load: their
    ``str`` byte strings hold numpy buffers.
    """
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=path).load()


def safe_loads_pickle(data: bytes, *, source: str = "<bytes>") -> Any:
    """:func:`safe_load_pickle` for bytes already in memory."""
    return RestrictedUnpickler(io.BytesIO(data), source=source).load()
