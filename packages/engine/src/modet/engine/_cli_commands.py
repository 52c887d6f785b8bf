"""The built-in subcommands of ``modet`` (see :mod:`modet.engine.cli` for the table)."""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .cli import CLIError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# -- shared -------------------------------------------------------------------------------


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-file",
        required=True,
        metavar="FILE",
        help="config YAML (a path, or a model-zoo name like COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml)",
    )
    parser.add_argument(
        "--opts", default=[], nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides: KEY VALUE pairs"
    )


def resolve_config_file(config_file: str) -> str:
    """``config_file`` itself, or the model-zoo file of that name; CLIError when neither exists."""
    if os.path.isfile(config_file):
        return config_file
    try:
        from modet.model_zoo import get_config_file

        return get_config_file(config_file)
    except (ImportError, RuntimeError):
        raise CLIError(f"config file not found: {config_file}") from None


def load_config(config_file: str, opts: Sequence[str]) -> Any:
    from modet.core.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(resolve_config_file(config_file))
    if len(opts) % 2:
        raise CLIError(f"--opts takes KEY VALUE pairs; got an odd number of items: {' '.join(opts)}")
    cfg.merge_from_list(list(opts))
    return cfg


# -- info ---------------------------------------------------------------------------------


def info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the information as JSON")


def _modet_distributions() -> list[tuple[str, str]]:
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
        "packages": [{"name": n, "version": v} for n, v in _modet_distributions()],
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


# -- predict ------------------------------------------------------------------------------


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", nargs="+", required=True, metavar="IMAGE", help="image files, folders or glob patterns"
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="folder for <name>.png and <name>.json (not a folder of the inputs: they are never overwritten)",
    )
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score of shown instances")
    add_config_arguments(parser)


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files named directly, images inside folders, and glob matches; CLIError for a name that matches nothing."""
    paths: list[str] = []
    for item in inputs:
        item = os.path.expanduser(item)
        if os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item) if f.lower().endswith(IMAGE_SUFFIXES))
            if not found:
                raise CLIError(f"no images in folder {item}")
            paths += found
        elif os.path.isfile(item):
            paths.append(item)
        elif glob.has_magic(item) and glob.glob(item):
            paths += sorted(glob.glob(item))
        else:
            raise CLIError(f"image not found: {item}")
    return paths


def read_image_rgb(path: str) -> Any:
    """HxWx3 uint8 RGB array of an image file (EXIF orientation applied); CLIError if unreadable."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CLIError(f"cannot read image {path}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    return str(exc).split(":")[0] if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) else str(exc)


def _check_readable(path: str) -> None:
    """CLIError unless ``path`` decodes completely (a truncated file fails here, not mid-run)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a header alone does not prove the file whole
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CLIError(
            f"cannot read image {path}: not an image file, a truncated one, or a format Pillow cannot open "
            f"({type(exc).__name__}: {_reason(exc)})"
        ) from None


def check_outputs_spare_inputs(paths: Sequence[str], output_dir: str) -> None:
    """CLIError when ``output_dir`` holds an input image: outputs there could replace inputs.

    ``<name>.png`` is written for each input, so ``--output`` equal to an input's folder would
    overwrite ``<name>.png`` inputs (and mix predictions into the inputs of the next run).
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise CLIError(f"--output {output_dir} is a file, not a folder")
    if not os.path.isdir(output_dir):
        return  # a new folder holds no input
    for path in paths:
        if os.path.samefile(os.path.dirname(os.path.abspath(path)), output_dir):
            raise CLIError(
                f"--output {output_dir} is the folder of input image {path}: predictions would be written among the "
                "inputs, replacing any of the same name; choose another --output folder"
            )


def _write_atomically(path: str, write: Any) -> None:
    """``write(temporary_path)``, then rename onto ``path``: a crash never leaves half a file."""
    from modet.checkpoint.file_io import atomic_write

    with atomic_write(path) as tmp:
        write(tmp)


def instances_to_records(instances: Any, class_names: Sequence[str] | None) -> list[dict[str, Any]]:
    """JSON-ready dicts of predicted instances: XYXY box, score, class, COCO RLE mask, keypoints."""
    import numpy as np

    instances = instances.to("cpu")
    fields = instances.get_fields()
    records: list[dict[str, Any]] = [{} for _ in range(len(instances))]
    if "pred_boxes" in fields:
        for rec, box in zip(records, fields["pred_boxes"].tensor.tolist()):
            rec["bbox"] = [round(v, 2) for v in box]
            rec["bbox_mode"] = "XYXY_ABS"
    if "scores" in fields:
        for rec, score in zip(records, fields["scores"].tolist()):
            rec["score"] = round(score, 5)
    if "pred_classes" in fields:
        for rec, cls in zip(records, fields["pred_classes"].tolist()):
            rec["category_id"] = cls
            if class_names is not None and 0 <= cls < len(class_names):
                rec["category_name"] = class_names[cls]
    if "pred_masks" in fields and len(records):
        import pycocotools.mask as mask_util

        masks = np.asfortranarray(fields["pred_masks"].numpy().astype(np.uint8).transpose(1, 2, 0))
        for rec, rle in zip(records, mask_util.encode(masks)):
            rec["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
    if "pred_keypoints" in fields:
        for rec, kpts in zip(records, fields["pred_keypoints"].tolist()):
            rec["keypoints"] = [round(v, 3) for point in kpts for v in point]
    return records


def _output_stem(path: str, used: set[str]) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    candidate, n = stem, 1
    while candidate in used:
        candidate, n = f"{stem}_{n}", n + 1
    used.add(candidate)
    return candidate


def _set_score_thresholds(cfg: Any, threshold: float) -> None:
    for dotted in (
        "MODEL.RETINANET.SCORE_THRESH_TEST",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
        "MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH",
    ):
        node = cfg
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.get(part) if node is not None else None
        if node is not None and leaf in node:
            node[leaf] = threshold


def predict_main(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    if not 0.0 <= args.confidence_threshold <= 1.0:
        raise CLIError(f"--confidence-threshold must be in [0, 1], got {args.confidence_threshold}")
    # Check every input (and where outputs go) before the (slow) model build and any write.
    paths = expand_inputs(args.input)
    check_outputs_spare_inputs(paths, args.output)
    for path in paths:
        _check_readable(path)
    cfg = load_config(args.config_file, args.opts)
    _set_score_thresholds(cfg, args.confidence_threshold)
    cfg.freeze()
    from .defaults import DefaultPredictor
    from .visualizer import Visualizer

    predictor = DefaultPredictor(cfg, input_format="RGB")
    class_names = getattr(predictor.metadata, "thing_classes", None) if predictor.metadata is not None else None
    os.makedirs(args.output, exist_ok=True)
    used: set[str] = set()
    for path in tqdm(paths, desc="modet predict", unit="image", file=sys.stderr):
        image = read_image_rgb(path)
        outputs = predictor(image)
        stem = _output_stem(path, used)
        drawn = Visualizer(image, predictor.metadata).draw_outputs(outputs, args.confidence_threshold)
        _write_atomically(
            os.path.join(args.output, stem + ".png"),
            lambda tmp, drawn=drawn: Image.fromarray(drawn.get_image()).save(tmp, format="PNG"),
        )
        result: dict[str, Any] = {"file_name": os.path.abspath(path), "height": image.shape[0], "width": image.shape[1]}
        if "instances" in outputs:
            records = instances_to_records(outputs["instances"], class_names)
            result["instances"] = [r for r in records if r.get("score", 1.0) >= args.confidence_threshold]
        if "panoptic_seg" in outputs:
            result["segments_info"] = outputs["panoptic_seg"][1]
        _write_atomically(os.path.join(args.output, stem + ".json"), lambda tmp, result=result: _dump_json(result, tmp))
    return 0


def _dump_json(obj: Any, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)


# -- train --------------------------------------------------------------------------------


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="resume from OUTPUT_DIR/last_checkpoint")
    parser.add_argument("--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS only")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine (GPUs, or CPU workers)")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--dist-url", default="auto", help="torch.distributed init URL ('auto': a free local port)")
    add_config_arguments(parser)


def _require_training_packages(eval_only: bool) -> None:
    from .defaults import TRAIN_EXTRA_HINT

    missing = []
    for module, dist in (("modet.data", "modet-data"), ("modet.evaluation", "modet-evaluation")):
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        action = "evaluation" if eval_only else "training"
        raise CLIError(f"modet train ({action}) needs {' and '.join(missing)}: {TRAIN_EXTRA_HINT}")


def _train_worker(args: argparse.Namespace) -> Any:
    from .defaults import DefaultTrainer, default_setup

    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    if args.eval_only:
        from modet.checkpoint import DetectionCheckpointer

        model = DefaultTrainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return DefaultTrainer.test(cfg, model)
    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def train_main(args: argparse.Namespace) -> int:
    from .launch import launch

    _require_training_packages(args.eval_only)
    load_config(args.config_file, args.opts)  # report config errors before starting processes
    launch(
        _train_worker,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
    return 0
