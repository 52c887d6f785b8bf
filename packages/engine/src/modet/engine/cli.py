"""The ``modet`` command: ``modet info``, ``modet predict``, ``modet train``, and subcommands of other packages.

A subcommand is a :class:`Subcommand` record returned by a plugin's ``modet_subcommands`` hook
(``modet.core.hookspecs``), the same way components and config keys are added: modet-engine's
own (:data:`ENGINE_SUBCOMMANDS`) come from ``modet.engine.plugin``, and another package adds
one from its plugin module::

    @modet.core.hookimpl
    def modet_subcommands():
        return {"mytool": Subcommand(help="...", main="my_package.cli:main", add_arguments="my_package.cli:add_arguments")}

``MODET_BLOCKED_PLUGINS`` and ``MODET_DISABLE_PLUGIN_AUTOLOAD`` reach subcommands like any other
hook. Functions may be named lazily (``"package.module:function"``), so listing the
subcommands imports nothing heavy.

Errors a user can fix (a missing file, a bad config key, an unreadable image) end the command
with one line on stderr and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from modet.core.plugins import ModetPluginManager, PluginError, collect_named, get_plugin_manager

__all__ = ["ENGINE_SUBCOMMANDS", "CLIError", "Subcommand", "main", "subcommands"]

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


#: modet-engine's own subcommands, registered through its plugin (``modet.engine.plugin``).
ENGINE_SUBCOMMANDS: dict[str, Subcommand] = {
    "info": Subcommand(
        help="installed modet packages, plugins and every registered component",
        main="modet.engine._cli_commands:info_main",
        add_arguments="modet.engine._cli_commands:info_arguments",
    ),
    "predict": Subcommand(
        help="run a model on images; write visualised PNGs and JSON instances",
        main="modet.engine._cli_predict:predict_main",
        add_arguments="modet.engine._cli_predict:predict_arguments",
    ),
    "train": Subcommand(
        help="train (or evaluate) a model from a config, on its datasets or a COCO-format folder (needs modet-engine[train])",
        main="modet.engine._cli_train:train_main",
        add_arguments="modet.engine._cli_train:train_arguments",
    ),
    "demo": Subcommand(
        help="the main job: generate the shapes dataset, train Mask R-CNN on the CPU, evaluate AP, draw predictions",
        main="modet.engine.demo:demo_command",
        add_arguments="modet.engine.demo:add_demo_arguments",
    ),
}


def _collect_subcommands(pm: ModetPluginManager) -> dict[str, Subcommand]:
    return collect_named("modet_subcommands", Subcommand, "subcommand", pm)


def subcommands() -> dict[str, Subcommand]:
    """Every registered plugin's subcommands (derived from the plugins, like the registry)."""
    return dict(get_plugin_manager().derived(_collect_subcommands))


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
    debug = "--debug" in argv
    try:
        commands = subcommands()
        parser = build_parser(commands, _selected_command(argv, commands))
    except (ImportError, PluginError, TypeError, ValueError) as exc:
        if debug:
            raise
        print(f"modet: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        if not commands:
            print(
                f"modet: no subcommands are registered.{get_plugin_manager().not_loaded_hint()}",
                file=sys.stderr,
            )
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
    # Run as ``python -m modet.engine.cli``: this file is then ``__main__``, a second copy of the
    # module whose Subcommand class is not the one plugins return; use the imported module's main.
    from modet.engine.cli import main as imported_main

    sys.exit(imported_main())
