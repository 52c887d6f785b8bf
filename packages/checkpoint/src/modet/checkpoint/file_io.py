"""Where checkpoints come from and how they are written.

- :func:`get_local_path` turns a local path, ``file://`` URL, ``http(s)://`` URL (downloaded
  once into the cache dir) or ``detectron2://`` model-zoo shorthand into a local file path.
- :func:`atomic_write` writes a file so that readers see the old content or the new one,
  never a partial file: temporary file in the same folder, fsync, ``os.replace``. A failed
  write (a full disk included) removes its temporary file; one left by a killed process is
  removed by the next :func:`atomic_write` into that folder.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from .errors import CheckpointDownloadError, CheckpointSaveError

__all__ = [
    "CACHE_DIR_ENV",
    "DETECTRON2_URL_PREFIX",
    "atomic_write",
    "atomic_write_text",
    "describe_write_failure",
    "download",
    "get_cache_dir",
    "get_local_path",
    "remove_stale_temporary_files",
    "resolve_url",
]

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "MODET_CACHE"
DETECTRON2_URL_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"
_DETECTRON2_SCHEME = "detectron2://"
_DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 20


def get_cache_dir(cache_dir: str | None = None) -> str:
    """The download cache: ``cache_dir``, else ``$MODET_CACHE``, else ``~/.cache/modet``."""
    return os.path.expanduser(cache_dir or os.environ.get(CACHE_DIR_ENV) or os.path.join("~", ".cache", "modet"))


def resolve_url(path: str) -> str:
    """Expand a ``detectron2://`` model-zoo shorthand to detectron2's public URL; other paths unchanged."""
    if path.startswith(_DETECTRON2_SCHEME):
        return DETECTRON2_URL_PREFIX + path[len(_DETECTRON2_SCHEME) :]
    return path


def get_local_path(path: str | os.PathLike[str], *, cache_dir: str | None = None) -> str:
    """A local file path for ``path``, downloading ``http(s)://`` URLs into the cache once.

    Local paths are returned unchanged (whether they exist is the caller's concern).
    """
    path = resolve_url(os.fspath(path))
    parsed = urlparse(path)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URL {path!r} names host {parsed.netloc!r}; only local files are supported")
        return unquote(parsed.path)
    if parsed.scheme in ("http", "https"):
        return download(path, cache_dir=cache_dir)
    return path


def _cached_file_for(url: str, cache_dir: str | None) -> str:
    parsed = urlparse(url)
    relative = unquote(parsed.path).lstrip("/")
    if not relative or relative.endswith("/"):
        raise CheckpointDownloadError(f"Cannot download {url}: the URL names no file")
    parts = [part for part in relative.split("/") if part not in ("", ".", "..")]
    host = parsed.netloc.replace(":", "_")
    return os.path.join(get_cache_dir(cache_dir), host, *parts)


def download(url: str, *, cache_dir: str | None = None, progress: bool = True) -> str:
    """Download ``url`` into the cache (once) and return the local path.

    The file appears under its final name only when complete (see :func:`atomic_write`), so
    an interrupted download is retried next time instead of being read half-written.
    """
    cached = _cached_file_for(url, cache_dir)
    if os.path.isfile(cached):
        logger.info("Using cached %s for %s", cached, url)
        return cached
    logger.info("Downloading %s to %s", url, cached)
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected is not None and expected.isdigit() else None
            received = 0
            with (
                atomic_write(cached) as tmp_path,
                open(tmp_path, "wb") as out,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=os.path.basename(cached), disable=not progress
                ) as bar,
            ):
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                if total is not None and received != total:
                    raise CheckpointDownloadError(
                        f"Could not download {url}: connection closed after {received} of {total} bytes"
                    )
    except CheckpointDownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise CheckpointDownloadError(f"Could not download {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise CheckpointDownloadError(f"Could not download {url}: {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointDownloadError(f"Could not download {url}: {type(exc).__name__}: {exc}") from exc
    return cached


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


# ".<target name>.modet-<host>-<pid>-<random>.tmp": dot-prefixed and ending in ".tmp" so no
# checkpoint listing picks it up; the host and pid say whether its writer is still alive.
_TEMPORARY_NAME = re.compile(r"^\..+\.modet-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[a-z0-9_]+\.tmp$")


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def remove_stale_temporary_files(directory: str) -> list[str]:
    """Remove the temporary files of :func:`atomic_write` calls whose process died in ``directory``.

    Only files named by modet's own pattern, written on this machine by a process that no
    longer exists, are removed (a save still running elsewhere keeps its file); returns them.
    """
    if os.name == "nt":  # os.kill(pid, 0) is not a liveness query there
        return []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    host = _host_tag()
    removed = []
    for name in names:
        match = _TEMPORARY_NAME.match(name)
        if match is None or match["host"] != host or _process_is_alive(int(match["pid"])):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
            logger.info("Removed %s, left by an interrupted save", path)
    return removed


def describe_write_failure(exc: BaseException, directory: str) -> str:
    """What went wrong in a failed write, in words: a full disk says so, with the free space left."""
    cause: BaseException | None = exc
    while cause is not None and not (isinstance(cause, OSError) and cause.errno is not None):
        cause = cause.__cause__ or cause.__context__
    try:
        free = f"{shutil.disk_usage(directory).free / 2**20:.1f} MiB free in {directory}"
    except OSError:
        free = f"free space in {directory} unknown"
    # The loop above stops only at an OSError with an errno, or at None.
    if isinstance(cause, OSError) and cause.errno is not None:
        if cause.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return f"the disk is full ({os.strerror(cause.errno)}; {free})"
        return f"{os.strerror(cause.errno)} ({free})"
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first_line} ({free})"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` (a full disk...) becomes a :class:`CheckpointSaveError` that says so.
    Temporary files that killed processes left in the folder are removed first.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporary_files(directory)
    prefix = f".{os.path.basename(path)}.modet-{_host_tag()}-{os.getpid()}-"
    fd, tmp_path = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    os.close(fd)
    existed = os.path.exists(path)
    try:
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        if isinstance(exc, CheckpointSaveError) or not _is_write_failure(exc):
            raise
        kept = f"{path} is unchanged" if existed else f"no file {path} was created"
        raise CheckpointSaveError(
            f"Could not write {path}: {describe_write_failure(exc, directory)}. {kept}; the partial file was removed."
        ) from exc
    _fsync_directory(directory)


def _is_write_failure(exc: BaseException) -> bool:
    """An OSError, or an error a writer raised while handling one (torch.save wraps them in RuntimeError)."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, OSError):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as tmp_path, open(tmp_path, "w", encoding="utf-8") as f:
        f.write(text)
