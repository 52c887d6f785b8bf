"""Logging set-up and rate-limited logging (detectron2's ``detectron2.utils.logger``).

:func:`setup_logger` configures one named logger (``"modet"`` by default, the parent of every
modet module's logger): a console handler on the main process and a log file per process.
Calling it again with the same arguments returns the same logger and adds no handler twice.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from types import FrameType
from typing import Any

__all__ = [
    "create_small_table",
    "log_every_n",
    "log_every_n_seconds",
    "log_first_n",
    "setup_logger",
]

_FORMAT = "[%(asctime)s] %(name)s %(levelname)s: %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"


class _ColorfulFormatter(logging.Formatter):
    """Short, coloured console lines: green time and abbreviated name, WARNING/ERROR flagged in colour."""

    def __init__(self, *args: Any, root_name: str, abbrev_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root_name = root_name + "."
        self._abbrev_name = abbrev_name + "." if abbrev_name else ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.name = record.name.replace(self._root_name, self._abbrev_name)
        message = super().formatMessage(record)
        if record.levelno == logging.WARNING:
            return "\x1b[31mWARNING\x1b[0m " + message
        if record.levelno >= logging.ERROR:
            return "\x1b[31;5mERROR\x1b[0m " + message
        return message


@functools.lru_cache  # the same arguments configure the logger once
def setup_logger(
    output: str | None = None,
    distributed_rank: int = 0,
    *,
    color: bool = True,
    name: str = "modet",
    abbrev_name: str | None = None,
    enable_propagation: bool = False,
    configure_stdout: bool = True,
) -> logging.Logger:
    """Configure and return the logger ``name`` at DEBUG level.

    Args:
        output: a file name ending in ``.txt``/``.log``, or a folder (the file is ``<folder>/log.txt``).
            Processes other than rank 0 write ``<file>.rank<N>``. None or "": no file.
        distributed_rank: the process's rank; only rank 0 logs to the console.
        color: colour the console lines.
        name: the logger to configure (``"modet"`` covers every modet module).
        abbrev_name: shown instead of ``name`` on the console (default: ``name``).
        enable_propagation: let records also reach the parent logger's handlers.
        configure_stdout: add the console handler on rank 0.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = enable_propagation
    abbrev_name = name if abbrev_name is None else abbrev_name
    plain = logging.Formatter(_FORMAT, datefmt=_DATE_FORMAT)

    if configure_stdout and distributed_rank == 0:
        console = logging.StreamHandler(stream=sys.stdout)
        console.setLevel(logging.DEBUG)
        if color:
            fmt = "\x1b[32m[%(asctime)s %(name)s]: \x1b[0m%(message)s"
            console.setFormatter(
                _ColorfulFormatter(fmt, datefmt=_DATE_FORMAT, root_name=name, abbrev_name=str(abbrev_name))
            )
        else:
            console.setFormatter(plain)
        logger.addHandler(console)

    if output:
        filename = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
        if distributed_rank > 0:
            filename = f"{filename}.rank{distributed_rank}"
        directory = os.path.dirname(filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        file_handler = logging.FileHandler(filename, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(plain)
        logger.addHandler(file_handler)
    return logger


def _caller() -> tuple[str, tuple[str, int, str]]:
    """The module name and (file, line, function) of the code that called a ``log_*`` function."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename != __file__:
            module = frame.f_globals.get("__name__", "__main__")
            return module, (code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return "__main__", ("", 0, "")


_LOG_COUNTER: Counter = Counter()
_LOG_TIMER: dict[Any, float] = {}


def log_first_n(
    lvl: int, msg: str, n: int = 1, *, name: str | None = None, key: str | tuple[str, ...] = "caller"
) -> None:
    """Log ``msg`` only the first ``n`` times for a key.

    ``key`` is ``"caller"`` (the calling line), ``"message"``, or both as a tuple: with
    ``"message"`` the same text is logged ``n`` times whichever line sends it.
    """
    keys = (key,) if isinstance(key, str) else tuple(key)
    if not keys or not set(keys) <= {"caller", "message"}:
        raise ValueError(f"log_first_n: key must be 'caller', 'message' or both, got {key!r}")
    module, caller = _caller()
    hash_key: tuple[Any, ...] = ()
    if "caller" in keys:
        hash_key += caller
    if "message" in keys:
        hash_key += (msg,)
    _LOG_COUNTER[hash_key] += 1
    if _LOG_COUNTER[hash_key] <= n:
        logging.getLogger(name or module).log(lvl, msg)


def log_every_n(lvl: int, msg: str, n: int = 1, *, name: str | None = None) -> None:
    """Log ``msg`` on the 1st, (n+1)th, (2n+1)th... call from the same line."""
    module, caller = _caller()
    _LOG_COUNTER[caller] += 1
    if n == 1 or _LOG_COUNTER[caller] % n == 1:
        logging.getLogger(name or module).log(lvl, msg)


def log_every_n_seconds(lvl: int, msg: str, n: float = 1, *, name: str | None = None) -> None:
    """Log ``msg`` from one line at most once every ``n`` seconds."""
    module, caller = _caller()
    last = _LOG_TIMER.get(caller)
    now = time.time()
    if last is None or now - last >= n:
        logging.getLogger(name or module).log(lvl, msg)
        _LOG_TIMER[caller] = now


def create_small_table(small_dict: Mapping[str, Any]) -> str:
    """A two-row text table: the keys as the header, the values (floats with 3 decimals) below."""
    keys = [str(k) for k in small_dict]
    values = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in small_dict.values()]
    # as tabulate's "pipe" format: a header gets at least one space of padding each side
    widths = [max(len(k) + 2, len(v)) for k, v in zip(keys, values)]

    def center(text: str, width: int) -> str:
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(center(c, w) for c, w in zip(cells, widths)) + " |"

    rule = "|" + "|".join(":" + "-" * w + ":" for w in widths) + "|"
    return "\n".join([row(keys), rule, row(values)])
