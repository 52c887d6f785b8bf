"""Checkpoint file formats as plugins.

A format is a :class:`CheckpointFormat` record returned by a plugin's
``modet_checkpoint_formats`` hook (the built-ins are registered the same way, in
``modet.checkpoint.plugin``). A file's format is chosen by suffix; when no suffix matches,
or several formats claim it, by the first bytes of the file (``sniff``).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from typing import Any

import attrs

from modet.core.plugins import ModetPluginManager, call_hook, get_plugin_manager

from .errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    UnknownCheckpointFormatError,
    UnsafeCheckpointError,
)
from .file_io import atomic_write

__all__ = [
    "SNIFF_BYTES",
    "CheckpointFormat",
    "find_format",
    "get_checkpoint_formats",
    "load_checkpoint_file",
    "save_checkpoint_file",
]

# How many leading bytes a format's ``sniff`` is shown.
SNIFF_BYTES = 64


def _normalize_suffixes(suffixes: Any) -> tuple[str, ...]:
    if isinstance(suffixes, str):
        suffixes = (suffixes,)
    # "pth" means ".pth"; a suffix with a dot in it may also be a whole file name.
    normalized = tuple(s.lower() if "." in s else "." + s.lower() for s in suffixes)
    if not normalized or any(len(s) < 2 for s in normalized):
        raise ValueError(f"CheckpointFormat needs at least one non-empty suffix, got {suffixes!r}")
    return normalized


def _non_empty(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"CheckpointFormat.{attribute.name} must be a non-empty string, got {value!r}")


_optional_callable = attrs.validators.optional(attrs.validators.is_callable())


@attrs.frozen
class CheckpointFormat:
    """One checkpoint file format.

    - ``load(path) -> dict``: read a local file; the result has a ``"model"`` state dict
      (tensors or numpy arrays) and any extra entries (``"iteration"``, ``"optimizer"``,
      ``"__author__"``, ``"matching_heuristics"``...). Loading must never run code from the file.
    - ``save(obj, path)``: write ``obj`` to ``path`` (callers make it atomic); None if read-only.
    - ``sniff(first_bytes) -> bool``: whether a file starting with these bytes is of this format.
    """

    name: str = attrs.field(validator=_non_empty)
    suffixes: tuple[str, ...] = attrs.field(converter=_normalize_suffixes)
    load: Callable[[str], dict[str, Any]] = attrs.field(validator=attrs.validators.is_callable())
    save: Callable[[Any, str], None] | None = attrs.field(default=None, validator=_optional_callable)
    sniff: Callable[[bytes], bool] | None = attrs.field(default=None, validator=_optional_callable)
    description: str = ""

    def matching_suffix(self, path: str) -> str | None:
        """The longest of this format's suffixes that ``path`` ends with, if any."""
        name = os.path.basename(path).lower()
        matches = [s for s in self.suffixes if name.endswith(s)]
        return max(matches, key=len) if matches else None


def _collect_formats(pm: ModetPluginManager) -> list[CheckpointFormat]:
    formats: list[CheckpointFormat] = []
    owners: dict[str, str] = {}
    for output in call_hook("modet_checkpoint_formats", pm):
        plugin = output.plugin.describe()
        for fmt in output.value or []:
            if not isinstance(fmt, CheckpointFormat):
                raise TypeError(
                    f"modet plugin {plugin} returned {type(fmt).__name__} from "
                    "modet_checkpoint_formats; expected modet.checkpoint.CheckpointFormat"
                )
            if fmt.name in owners:
                raise ValueError(
                    f"checkpoint format {fmt.name!r} is provided by both plugin {owners[fmt.name]} and plugin {plugin}"
                )
            owners[fmt.name] = plugin
            formats.append(fmt)
    return formats


def get_checkpoint_formats() -> list[CheckpointFormat]:
    """Every format provided by registered plugins, in hook-call order (newest plugin first).

    Derived from the plugins: a plugin registered in-process is seen at once.
    """
    return list(get_plugin_manager().derived(_collect_formats))


def _describe(formats: list[CheckpointFormat]) -> str:
    return ", ".join(f"{fmt.name} ({'/'.join(fmt.suffixes)})" for fmt in formats) or "none"


def _read_head(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES)


def _sniffed(formats: list[CheckpointFormat], head: bytes) -> list[CheckpointFormat]:
    return [fmt for fmt in formats if fmt.sniff is not None and fmt.sniff(head)]


def find_format(path: str, *, for_saving: bool = False) -> CheckpointFormat:
    """The format of ``path``: by suffix, then (for an existing file) by its first bytes."""
    formats = get_checkpoint_formats()
    if for_saving:
        formats = [fmt for fmt in formats if fmt.save is not None]
    by_suffix: dict[str, list[CheckpointFormat]] = {}
    for fmt in formats:
        suffix = fmt.matching_suffix(path)
        if suffix is not None:
            by_suffix.setdefault(suffix, []).append(fmt)
    candidates = by_suffix[max(by_suffix, key=len)] if by_suffix else []
    if len(candidates) == 1:
        return candidates[0]
    if not for_saving and os.path.isfile(path):
        head = _read_head(path)
        sniffed = _sniffed(candidates or formats, head)
        if sniffed:
            return sniffed[0]
    if candidates:
        return candidates[0]
    action = "save" if for_saving else "read"
    raise UnknownCheckpointFormatError(
        f"No installed checkpoint format can {action} {path}: neither its suffix nor its content is known. "
        f"Installed formats: {_describe(formats)}. A plugin package (e.g. modet-safetensors) adds more."
    )


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"Checkpoint {path} not found: no such file")
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"Checkpoint {path} is not a file")
    if os.path.getsize(path) == 0:
        raise CorruptCheckpointError(f"Cannot read checkpoint {path}: the file is empty (0 bytes)")


def _weights_only_refusal(path: str, torch_message: str) -> str:
    """Why ``path`` is refused and how to convert it safely, from torch's weights-only error.

    torch's own text suggests ``weights_only=False``, which would run whatever the file names:
    it is not repeated here.
    """
    found = re.search(r"GLOBAL ([\w.]+)", torch_message)
    if found is None:
        what = "objects that torch.load(weights_only=True) cannot rebuild without running code from the file"
        allow = ""
    else:
        name = found.group(1)
        what = (
            f"an object of class {name}, which torch.load(weights_only=True) does not rebuild "
            "(rebuilding arbitrary classes can run code from the file)"
        )
        allow = (
            f" If you trust the class {name} itself (not just the file), allow only it: "
            f"`with torch.serialization.safe_globals([{name}]): checkpointer.load(...)`."
        )
    return (
        f"Refusing to load {path}: it holds {what}. To convert it safely, save just its weights where the "
        'file was made: `torch.save({"model": model.state_dict()}, "weights.pth")` (tensors only, which '
        f"load without running code).{allow}"
    )


def load_checkpoint_file(path: str) -> dict[str, Any]:
    """Read a local checkpoint file with its format's loader; the result always has ``"model"``."""
    _check_readable(path)
    fmt = find_format(path)
    try:
        checkpoint = fmt.load(path)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise UnsafeCheckpointError(_weights_only_refusal(path, str(exc))) from exc
        raise CorruptCheckpointError(f"Cannot read checkpoint {path} as {fmt.name}: {exc}") from exc
    except Exception as exc:
        # A format's reader fails in its own way (EOFError, zip errors, SafetensorError...):
        # one error here names the file, the format and the cause.
        cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'truncated data'}"
        raise CorruptCheckpointError(
            f"Cannot read checkpoint {path} as {fmt.name}; the file is truncated or not a {fmt.name} file ({cause})"
        ) from exc
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise CorruptCheckpointError(
            f"Checkpoint format {fmt.name!r} read {path} but returned no 'model' entry "
            f"(got {type(checkpoint).__name__})"
        )
    return checkpoint


def save_checkpoint_file(obj: Any, path: str) -> CheckpointFormat:
    """Write ``obj`` to ``path`` atomically with the format its suffix names; returns that format."""
    fmt = find_format(path, for_saving=True)
    assert fmt.save is not None
    with atomic_write(path) as tmp_path:
        fmt.save(obj, tmp_path)
    return fmt
