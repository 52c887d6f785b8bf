"""``modet convert-checkpoint IN OUT``: load with the format of IN's suffix, save with OUT's."""

from __future__ import annotations

import argparse

from modet.checkpoint import load_checkpoint_file, save_checkpoint_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="checkpoint to read (any format modet knows)")
    parser.add_argument("target", help="file to write; its suffix picks the format")
    parser.epilog = "example:\n  modet convert-checkpoint model_final.pth model_final.npz"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def main(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint_file(args.source)
    written = save_checkpoint_file({"model": checkpoint["model"]}, args.target)
    print(f"{args.target}: {len(checkpoint['model'])} tensors in the {written.name} format")
    return 0
