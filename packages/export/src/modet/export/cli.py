"""``modet export``: a config's model, with its ``MODEL.WEIGHTS``, as an ONNX file or a torch.export program.

Installed with ``modet-export[cli]`` (the ``modet`` command is modet-engine's; this package adds
the subcommand through its plugin's ``modet_subcommands`` hook). Writes ``DIR/model.onnx`` or
``DIR/model.pt2``, the schema beside it, and ``DIR/report.json``: the file's size, input and
output names, and how the exported file's outputs on the sample image compare with the eager
model's. The config file is YAML (a LazyConfig ``.py`` would be code: not taken here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from modet.checkpoint import DetectionCheckpointer
from modet.core.config import get_cfg
from modet.engine.cli import CLIError, Subcommand
from modet.engine.preprocess import resize_shortest_edge
from modet.modeling import build_model

from .check import compare_outputs
from .exporting import ExportError, export_onnx, export_program
from .runtime import load
from .schema import write_atomically

__all__ = ["EXPORT_COMMAND", "add_arguments", "export_main"]

FILE_NAMES = {"onnx": "model.onnx", "program": "model.pt2"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, metavar="CFG", help="a detectron2/modet YAML config")
    parser.add_argument("--format", required=True, choices=sorted(FILE_NAMES), help="ONNX file or torch.export program")
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="folder for the file, its schema and report.json"
    )
    parser.add_argument(
        "--sample-image",
        metavar="IMG",
        help="image to export with and to check on (default: a synthetic image of the test size)",
    )
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE", help="config overrides")


def _config(args: argparse.Namespace) -> Any:
    config_file = Path(args.config_file)
    if not config_file.is_file():
        raise CLIError(f"--config-file {config_file} does not exist")
    if config_file.suffix == ".py":
        raise CLIError(f"--config-file {config_file}: LazyConfig .py files are code; modet export takes YAML configs")
    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    if len(args.opts) % 2:
        raise CLIError(f"--opts takes KEY VALUE pairs, got {len(args.opts)} items: {args.opts}")
    if "MODEL.DEVICE" not in args.opts[::2]:
        cfg.MODEL.DEVICE = "cpu"  # exported files run anywhere; capture on the CPU unless told otherwise
    cfg.merge_from_list(list(args.opts))
    return cfg


def _sample_image(args: argparse.Namespace, cfg: Any) -> np.ndarray:
    """HxWx3 uint8 in the model's channel order, at the size the model sees at test time."""
    if args.sample_image is None:
        height = int(cfg.INPUT.MIN_SIZE_TEST) or 800
        width = round(height * 4 / 3)
        y, x = np.mgrid[0:height, 0:width]
        rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 97 % 256)], axis=-1).astype(np.uint8)
    else:
        try:
            with Image.open(args.sample_image) as image:
                rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise CLIError(f"cannot read --sample-image {args.sample_image}: {exc}") from None
    image = rgb[:, :, ::-1] if cfg.INPUT.FORMAT == "BGR" else rgb
    return resize_shortest_edge(image, int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST))


def export_main(args: argparse.Namespace) -> int:
    cfg = _config(args)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise CLIError(f"--output {output} is a file, not a folder")
    model = build_model(cfg).eval()
    if cfg.MODEL.WEIGHTS:
        DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    else:
        print("modet export: warning: MODEL.WEIGHTS is empty; exporting randomly initialised weights", file=sys.stderr)
    image = _sample_image(args, cfg)
    sample = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))}
    path = output / FILE_NAMES[args.format]
    try:
        if args.format == "onnx":
            export_onnx(model, [sample], path)
        else:
            export_program(model, [sample], path)
    except ExportError as exc:
        raise CLIError(str(exc)) from None

    exported = load(path)
    with torch.no_grad():
        check = compare_outputs(model([dict(sample)])[0], exported([dict(sample)])[0])
    report = {
        "file": str(path),
        "format": args.format,
        "size_bytes": path.stat().st_size,
        "inputs": exported.schema["inputs"],
        "outputs": exported.output_names,
        "sample_image": args.sample_image or "synthetic",
        "sample_size": list(image.shape[:2]),
        "check": check,
    }
    write_atomically(output / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
    print(f"wrote {path} ({report['size_bytes'] / 2**20:.1f} MiB) and its schema {path.name}.schema.json")
    print(f"inputs: {', '.join(e['name'] for e in report['inputs'])}; outputs: {', '.join(report['outputs'])}")
    for key, part in check.items():
        if isinstance(part, dict):
            details = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in part.items())
            print(f"check on the sample image ({image.shape[0]}x{image.shape[1]}), {key}: {details}")
    print(f"report: {output / 'report.json'}")
    if not check["ok"]:
        print("modet export: error: the exported model's outputs differ from the eager model's", file=sys.stderr)
        return 1
    return 0


EXPORT_COMMAND = Subcommand(
    help="export a config's model to an ONNX file or a torch.export program (needs modet-export[cli])",
    main=export_main,
    add_arguments=add_arguments,
)
