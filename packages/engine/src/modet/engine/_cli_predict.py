"""``modet predict``: run a model on images, write a drawn PNG and a JSON of the predictions per image.

Every input is decoded, and where the outputs go is checked, before the model is built or
anything is written; outputs are written atomically. The weights are ``--weights``, else the
config's ``MODEL.WEIGHTS`` — except for a model-zoo name, whose ``MODEL.WEIGHTS`` is an ImageNet
backbone to start training from: then the model runs on random weights, and says so.
"""

from __future__ import annotations

# Deferred imports: `modet predict --help` and its argument checks run without torch; the run
# imports the predictor, Pillow and numpy.
import argparse
import glob
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ._cli_commands import add_config_arguments, check_output_folder, load_config, resolve_config_file, set_examples
from .cli import CLIError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_OUTPUT = os.path.join("output", "predict")


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", nargs="+", required=True, metavar="IMAGE", help="image files, folders or glob patterns"
    )
    parser.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"folder for <name>.png and <name>.json (default: {DEFAULT_OUTPUT}; never a folder of the inputs)",
    )
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score of shown instances")
    parser.add_argument(
        "--inference-mode",
        metavar="MODE",
        help="run the model as eager (default), compile, bfloat16, export (modet-export) or a plugin's mode; "
        "default: TEST.INFERENCE_MODE where the config sets it, else eager",
    )
    add_config_arguments(
        parser,
        weights_help="checkpoint file or URL (.pth, .pkl, ...); default: the config's MODEL.WEIGHTS, "
        "none for a model-zoo name (its MODEL.WEIGHTS only starts training)",
    )
    set_examples(
        parser,
        "modet predict --config-file COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml --input photo.jpg",
        "modet predict --config-file output/demo/config.yaml --weights output/demo/model_final.pth "
        "--input output/demo/shapes/images/val --output output/demo_predictions",
    )


# -- inputs and outputs -------------------------------------------------------------------


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


# -- weights and class names --------------------------------------------------------------


def choose_weights(cfg: Any, weights: str | None, zoo_name: str | None) -> tuple[str, str]:
    """(weights to load, why the model has random weights when there are none)."""
    if weights is not None:
        return ("" if weights.lower() == "none" else weights), "--weights none"
    if zoo_name is not None:
        return "", (
            f"no --weights given, and {zoo_name}'s MODEL.WEIGHTS ({cfg.MODEL.WEIGHTS or 'empty'}) "
            "is only where training starts"
        )
    return cfg.MODEL.WEIGHTS, "no --weights given and the config's MODEL.WEIGHTS is empty"


def _released_weights_hint(zoo_name: str | None) -> str:
    if zoo_name is None:
        return "; pass --weights FILE (a checkpoint of this model)"
    from ._cli_commands import _zoo

    try:
        url = _zoo().get_checkpoint_url(zoo_name)
    except (RuntimeError, KeyError, ValueError, AttributeError):
        return "; pass --weights FILE (a checkpoint of this model)"
    return f"; detectron2's released weights for it: --weights {url}"


def random_weights_warning(predictor: Any, weights: str, reason: str, zoo_name: str | None) -> str | None:
    """The warning to print when some or all of the model's parameters are random, else None."""
    hint = _released_weights_hint(zoo_name)
    if not weights:
        return f"the model has random weights ({reason}): its predictions are meaningless{hint}"
    missing = getattr(predictor, "incompatible_keys", None)
    names = list(missing.missing_keys) if missing is not None else []
    if missing is not None:
        names += [key for key, *_ in missing.incorrect_shapes]
    if not names:
        return None
    state = predictor.model.state_dict()
    count = sum(state[n].numel() for n in names if n in state)
    total = sum(v.numel() for v in state.values())
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"{count:,} of the model's {total:,} parameters are random: {weights} has no (or other-shaped) "
        f"{shown}; predictions may be meaningless{hint}"
    )


def class_names(metadata: Any) -> list[str] | None:
    names = getattr(metadata, "thing_classes", None) if metadata is not None else None
    return list(names) if names else None


# -- summaries ----------------------------------------------------------------------------


def _count_phrase(counts: Counter) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.most_common())


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def summarize(outputs: dict[str, Any], kept: list[dict[str, Any]], metadata: Any) -> tuple[str, Counter]:
    """One phrase for an image's predictions ("2 person, 1 dog"), and the counts by name."""
    counts: Counter = Counter(r.get("category_name", str(r.get("category_id", "?"))) for r in kept)
    stuff_names = list(getattr(metadata, "stuff_classes", None) or [])
    if "panoptic_seg" in outputs:  # things are among the instances; stuff segments are counted here
        for seg in outputs["panoptic_seg"][1] or []:
            if not seg.get("isthing"):
                counts[_name(stuff_names, seg.get("category_id", -1))] += 1
    elif "sem_seg" in outputs:
        labels = outputs["sem_seg"].argmax(dim=0).unique().tolist()
        counts.update(_name(stuff_names, label) for label in labels)
    if not counts:
        return "nothing found", counts
    return _count_phrase(counts), counts


# -- the command --------------------------------------------------------------------------


def predict_main(args: argparse.Namespace) -> int:
    from PIL import Image

    if not 0.0 <= args.confidence_threshold <= 1.0:
        raise CLIError(f"--confidence-threshold must be in [0, 1], got {args.confidence_threshold}")
    # Check every input (and where outputs go) before the (slow) model build and any write.
    paths = expand_inputs(args.input)
    check_output_folder(args.output)
    check_outputs_spare_inputs(paths, args.output)
    for path in paths:
        _check_readable(path)
    _, zoo_name = resolve_config_file(args.config_file)
    cfg = load_config(args.config_file, args.opts, device=args.device)
    weights, reason = choose_weights(cfg, args.weights, zoo_name)
    cfg.MODEL.WEIGHTS = weights
    _set_score_thresholds(cfg, args.confidence_threshold)
    cfg.freeze()
    from .defaults import DefaultPredictor
    from .inference_modes import inference_mode, mode_name

    inference_mode(mode_name(cfg, args.inference_mode))  # a wrong name fails before the build
    from .visualizer import Visualizer

    predictor = DefaultPredictor(cfg, input_format="RGB", inference_mode=args.inference_mode)
    warning = random_weights_warning(predictor, weights, reason, zoo_name)
    if warning:
        print(f"modet predict: warning: {warning}", file=sys.stderr)
    names = class_names(predictor.metadata)
    os.makedirs(args.output, exist_ok=True)
    used: set[str] = set()
    total: Counter = Counter()
    start = time.perf_counter()
    for index, path in enumerate(paths, 1):
        image_start = time.perf_counter()
        image = read_image_rgb(path)
        outputs = predictor(image)
        stem = _output_stem(path, used)
        drawn = Visualizer(image, predictor.metadata).draw_outputs(outputs, args.confidence_threshold)
        png = os.path.join(args.output, stem + ".png")
        _write_atomically(png, lambda tmp, drawn=drawn: Image.fromarray(drawn.get_image()).save(tmp, format="PNG"))
        result: dict[str, Any] = {"file_name": os.path.abspath(path), "height": image.shape[0], "width": image.shape[1]}
        kept: list[dict[str, Any]] = []
        if "instances" in outputs:
            records = instances_to_records(outputs["instances"], names)
            kept = [r for r in records if r.get("score", 1.0) >= args.confidence_threshold]
            result["instances"] = kept
        if "panoptic_seg" in outputs:
            result["segments_info"] = outputs["panoptic_seg"][1]
        _write_atomically(os.path.join(args.output, stem + ".json"), lambda tmp, result=result: _dump_json(result, tmp))
        phrase, counts = summarize(outputs, kept, predictor.metadata)
        total.update(counts)
        seconds = time.perf_counter() - image_start
        print(f"[{index}/{len(paths)}] {path} ({image.shape[1]}x{image.shape[0]}): {phrase}, {seconds:.2f} s -> {png}")
    per_image = (time.perf_counter() - start) / max(len(paths), 1)
    mode = "" if predictor.inference_mode == "eager" else f" ({predictor.inference_mode})"
    found = f"{sum(total.values())} found ({_count_phrase(total)})" if total else "nothing found"
    print(
        f"modet predict: {len(paths)} image{'s' * (len(paths) != 1)}, {found}, "
        f"{per_image:.2f} s per image on {cfg.MODEL.DEVICE}{mode}; results in {args.output}{os.sep}"
    )
    return 0


def _dump_json(obj: Any, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
