"""The ``modet`` command: ``modet info``, ``modet predict``, ``modet train``, and subcommands of other packages.

Subcommands live in one table, :data:`SUBCOMMANDS`, as :class:`Subcommand` records whose
functions may be named lazily (``"package.module:function"``), so a subcommand can be
implemented in another package without this module importing it. A package adds its own
subcommand without touching this file by declaring an entry point in group ``modet.commands``
that names a :class:`Subcommand` (or by calling :func:`register_subcommand`)::

    [project.entry-points."modet.commands"]
    demo = "modet.data.demo:DEMO_COMMAND"   # DEMO_COMMAND = Subcommand(help=..., main=demo_main, add_arguments=...)

Errors a user can fix (a missing file, a bad config key, an unreadable image) end the command
with one line on stderr and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["COMMANDS_ENTRY_POINT_GROUP", "SUBCOMMANDS", "CLIError", "Subcommand", "main", "register_subcommand"]

COMMANDS_ENTRY_POINT_GROUP = "modet.commands"

MainFunction = Callable[[argparse.Namespace], "int | None"]
ArgumentsFunction = Callable[[argparse.ArgumentParser], None]


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


def _load(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen
class Subcommand:
    """One ``modet <name>`` subcommand.

    ``main(args)`` runs it and returns an exit status (None means 0). ``add_arguments(parser)``
    declares its options; without it, everything after the subcommand's name is passed
    unparsed as ``args.argv``. Either may be a ``"module:function"`` string, imported only
    when the subcommand runs (or its ``--help`` is shown).
    """

    help: str
    main: MainFunction | str
    add_arguments: ArgumentsFunction | str | None = None

    def load_main(self) -> MainFunction:
        return _load(self.main)

    def load_add_arguments(self) -> ArgumentsFunction | None:
        return _load(self.add_arguments) if self.add_arguments is not None else None


SUBCOMMANDS: dict[str, Subcommand] = {
    "info": Subcommand(
        help="installed modet packages, plugins and every registered component",
        main="modet.engine._cli_commands:info_main",
        add_arguments="modet.engine._cli_commands:info_arguments",
    ),
    "predict": Subcommand(
        help="run a model on images; write visualised PNGs and JSON instances",
        main="modet.engine._cli_commands:predict_main",
        add_arguments="modet.engine._cli_commands:predict_arguments",
    ),
    "train": Subcommand(
        help="train (or evaluate) a model from a config (needs modet-engine[train])",
        main="modet.engine._cli_commands:train_main",
        add_arguments="modet.engine._cli_commands:train_arguments",
    ),
    "demo": Subcommand(
        help="the main job: generate the shapes dataset, train Mask R-CNN on the CPU, evaluate AP, draw predictions",
        main="modet.engine.demo:demo_command",
        add_arguments="modet.engine.demo:add_demo_arguments",
    ),
}


def register_subcommand(name: str, subcommand: Subcommand) -> None:
    """Add ``modet <name>``; a name that is already taken is an error."""
    if name in SUBCOMMANDS:
        raise ValueError(f"modet subcommand {name!r} already exists")
    SUBCOMMANDS[name] = subcommand


def _subcommands() -> dict[str, Subcommand]:
    """Built-in subcommands plus those of installed packages (entry points ``modet.commands``)."""
    commands = dict(SUBCOMMANDS)
    for ep in importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        if ep.name in commands:
            continue
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin must not break the other commands
            print(f"modet: warning: subcommand {ep.name!r} ({ep.value}) failed to load: {exc}", file=sys.stderr)
            continue
        if not isinstance(loaded, Subcommand):
            loaded = Subcommand(help=(getattr(loaded, "__doc__", "") or "").strip().split("\n")[0], main=loaded)
        commands[ep.name] = loaded
    return commands


def build_parser(commands: dict[str, Subcommand], selected: str | None) -> argparse.ArgumentParser:
    """The argument parser; only the selected subcommand's arguments are loaded."""
    parser = argparse.ArgumentParser(prog="modet", description="modet: detectron2's models as small pip packages.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in sorted(commands.items()):
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        if name != selected:
            continue
        add_arguments = command.load_add_arguments()
        if add_arguments is None:
            sub.add_argument("argv", nargs=argparse.REMAINDER, help="arguments of the subcommand")
        else:
            add_arguments(sub)
    return parser


def _selected_command(argv: Sequence[str], commands: dict[str, Subcommand]) -> str | None:
    return next((arg for arg in argv if arg in commands), None)


def _worker_error(exc: BaseException) -> str | None:
    """The error a worker process of ``launch`` died with, without its traceback.

    torch.multiprocessing reports it as one exception whose text is the worker's whole
    traceback; the error itself is what follows the last indented (frame) line.
    """
    if type(exc).__name__ != "ProcessRaisedException":
        return None
    lines = [line for line in str(exc).splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if line[:1].isspace()]
    error_lines = lines[frames[-1] + 1 :] if frames else lines[-1:]
    process = getattr(exc, "error_index", None)
    return f"process {process}: {' '.join(error_lines)}" if process is not None else " ".join(error_lines)


def _one_line(exc: BaseException) -> str:
    worker_error = _worker_error(exc)
    if worker_error is not None:
        return " ".join(worker_error.split())
    message = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        message = exc.args[0]  # KeyError's str() adds quotes
    message = " ".join(message.split())
    return message or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modet`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _subcommands()
    debug = "--debug" in argv
    try:
        parser = build_parser(commands, _selected_command(argv, commands))
    except ImportError as exc:
        print(f"modet: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = commands[args.command].load_main()(args)
    except KeyboardInterrupt:
        print(f"modet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"modet {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
