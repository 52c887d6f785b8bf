"""What the built-in subcommands of ``modet`` share (config, weights, device, output checks), and ``modet info``.

``modet predict`` is in :mod:`._cli_predict`, ``modet train`` in :mod:`._cli_train`; :mod:`modet.engine.cli`
has the table of subcommands.
"""

from __future__ import annotations

# Deferred imports: building the parser for any `modet` command (and --help) must not load torch
# or the model packages; each command imports what it runs.
import argparse
import difflib
import importlib.metadata
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .cli import CLIError

# -- shared -------------------------------------------------------------------------------


def add_config_arguments(parser: argparse.ArgumentParser, weights_help: str) -> None:
    """``--config-file``, ``--weights``, ``--device`` and ``--opts``: how every command names a model."""
    parser.add_argument(
        "--config-file",
        required=True,
        metavar="FILE",
        help="config YAML: a path, or a model-zoo name like COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    )
    parser.add_argument("--weights", metavar="FILE", default=None, help=weights_help)
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when there is a GPU, else the CPU), cpu, cuda or cuda:N (default: auto)",
    )
    parser.add_argument(
        "--opts", default=[], nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides: KEY VALUE pairs"
    )


def _zoo() -> Any:
    """The model zoo module (modet-model-zoo, a dependency of modet-engine)."""
    from modet import model_zoo

    return model_zoo


def zoo_config_names() -> list[str]:
    """Every YAML config name of the model zoo (``COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml``...).

    The zoo's LazyConfig ``.py`` files are left out: the command line reads yacs configs."""
    return [name for name in _zoo().available_configs() if name.endswith(".yaml")]


def _closest_zoo_names(name: str, names: Sequence[str]) -> list[str]:
    base = os.path.basename(name)
    same_file = [n for n in names if os.path.basename(n) == base]
    if same_file:
        return same_file[:3]
    return (
        difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        or [
            n
            for b in difflib.get_close_matches(base, [os.path.basename(n) for n in names], n=3, cutoff=0.6)
            for n in names
            if os.path.basename(n) == b
        ][:3]
    )


def resolve_config_file(config_file: str) -> tuple[str, str | None]:
    """(path, zoo name): ``config_file`` itself, or the model-zoo file of that name (then its name too).

    CLIError when it is neither, with the closest zoo names.
    """
    if os.path.isfile(config_file):
        return config_file, None
    names = zoo_config_names()
    if config_file in names:
        return _zoo().get_config_file(config_file), config_file
    close = _closest_zoo_names(config_file, names)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    where = "neither a file nor a model-zoo config name" if names else "not a file (and no model zoo is installed)"
    raise CLIError(f"config file not found: {config_file}: {where}{hint}")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; CLIError for a device this machine lacks."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise CLIError(f"--device {device}: not a device; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(
            f"--device {device}: torch {torch.__version__} sees no CUDA GPU here; use --device cpu (or auto)"
        )
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise CLIError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def load_config(config_file: str, opts: Sequence[str], device: str | None = None) -> Any:
    """The config of ``config_file`` (a path or a zoo name) on ``device`` (``auto`` resolved), then ``opts``."""
    from modet.core.config import get_cfg

    path, _ = resolve_config_file(config_file)
    cfg = get_cfg()
    cfg.merge_from_file(path)
    if device is not None:
        cfg.MODEL.DEVICE = resolve_device(device)
    if len(opts) % 2:
        raise CLIError(f"--opts takes KEY VALUE pairs; got an odd number of items: {' '.join(opts)}")
    cfg.merge_from_list(list(opts))
    return cfg


def check_output_folder(path: str, option: str = "--output") -> None:
    """CLIError when ``path`` exists and is not a folder (a file, say), before anything is written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{option} {path} is a file, not a folder: give a folder (it is created if missing)")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CLIError(f"{option} {path}: {parent} is a file, not a folder")


def examples_epilog(*lines: str) -> str:
    """The ``examples:`` block at the end of a subcommand's ``--help`` (each line is run by a test)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def set_examples(parser: argparse.ArgumentParser, *lines: str) -> None:
    parser.epilog = examples_epilog(*lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


# -- info ---------------------------------------------------------------------------------


def info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the information as JSON")
    set_examples(parser, "modet info", "modet info --json")


def installed_modet_distributions() -> list[tuple[str, str]]:
    """(name, version) of each installed modet distribution, sorted by name."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().replace("_", "-").startswith("modet"):
            found[name] = dist.version
    return sorted(found.items())


def collect_info() -> dict[str, Any]:
    """Packages, plugins, components (with providers) and checkpoint formats."""
    import torch
    import torchvision

    from modet.core.plugins import list_plugins
    from modet.core.registry import get_registry

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda_available": torch.cuda.is_available(),
        "packages": [{"name": n, "version": v} for n, v in installed_modet_distributions()],
        "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version} for p in list_plugins()],
        "components": [{"kind": e.kind, "name": e.name, "provider": e.provider} for e in get_registry().entries()],
    }
    try:
        from modet.checkpoint import get_checkpoint_formats

        info["checkpoint_formats"] = [
            {"name": getattr(f, "name", str(f)), "suffixes": list(getattr(f, "suffixes", ()))}
            for f in get_checkpoint_formats()
        ]
    except ImportError:
        info["checkpoint_formats"] = []
    from .cli import subcommands

    info["commands"] = sorted(subcommands())
    return info


def info_main(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lines = [
        f"python {info['python']}, torch {info['torch']}, torchvision {info['torchvision']}, "
        f"CUDA {'available' if info['cuda_available'] else 'not available'}",
        "",
        "Packages:",
    ]
    lines += [f"  {p['name']:<28} {p['version']}" for p in info["packages"]]
    lines += ["", "Plugins (entry points of group 'modet'):"]
    lines += [
        f"  {p['name']:<20} {p['distribution'] or '(registered in-process)'} {p['version'] or ''}".rstrip()
        for p in info["plugins"]
    ]
    lines += ["", "Components:"]
    kind = None
    for c in info["components"]:
        if c["kind"] != kind:
            kind = c["kind"]
            lines.append(f"  {kind}:")
        lines.append(f"    {c['name']:<40} {c['provider']}")
    if info["checkpoint_formats"]:
        lines += ["", "Checkpoint formats:"]
        lines += [f"  {f['name']:<20} {' '.join(f['suffixes'])}" for f in info["checkpoint_formats"]]
    lines += ["", "Commands: " + ", ".join(info["commands"])]
    print("\n".join(lines))
    return 0
