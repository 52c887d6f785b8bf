"""``modet train``: train (or evaluate) a model from a config, on the config's datasets or on a
COCO-format dataset given on the command line (``--train-coco JSON IMAGE_DIR``).

A COCO-format dataset is registered in every training process under a name of its own, the
config's ``DATASETS.TRAIN``/``TEST`` are pointed at it, and the box heads get its number of
classes; the trained checkpoint keeps its class names (``modet predict`` shows them).
"""

from __future__ import annotations

# Deferred imports: `modet train --help` and its argument checks run without torch; training
# imports the trainer and the data packages.
import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from ._cli_commands import add_config_arguments, check_output_folder, load_config, resolve_config_file, set_examples
from .cli import CLIError

if TYPE_CHECKING:
    from .defaults import DefaultTrainer

TRAIN_DATASET = "modet_train_coco"
TEST_DATASET = "modet_test_coco"
NUM_CLASSES_KEYS = ("MODEL.ROI_HEADS.NUM_CLASSES", "MODEL.RETINANET.NUM_CLASSES", "MODEL.FCOS.NUM_CLASSES")


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--train-coco",
        nargs=2,
        metavar=("JSON", "IMAGE_DIR"),
        help="train on this COCO-format dataset (instances json, image folder) instead of DATASETS.TRAIN",
    )
    parser.add_argument(
        "--test-coco",
        nargs=2,
        metavar=("JSON", "IMAGE_DIR"),
        help="evaluate on this COCO-format dataset instead of DATASETS.TEST (none with --train-coco alone)",
    )
    parser.add_argument("--output", metavar="DIR", default=None, help="where checkpoints and logs go (OUTPUT_DIR)")
    parser.add_argument("--resume", action="store_true", help="resume from OUTPUT_DIR/last_checkpoint")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the weights only")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine (GPUs, or CPU workers)")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--dist-url", default="auto", help="torch.distributed init URL ('auto': a free local port)")
    add_config_arguments(
        parser,
        weights_help="weights to start from (training) or to evaluate (--eval-only): a file or URL, or none "
        "for random weights; default: the config's MODEL.WEIGHTS",
    )
    # After `modet demo`, output/demo/shapes is a COCO-format dataset (each line is run by a test).
    set_examples(
        parser,
        "modet train --config-file COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml --train-coco "
        "output/demo/shapes/annotations/instances_train.json output/demo/shapes/images/train "
        "--output output/shapes_frcnn --opts SOLVER.MAX_ITER 300 SOLVER.IMS_PER_BATCH 4 SOLVER.BASE_LR 0.005",
        "modet train --config-file output/shapes_frcnn/config.yaml --resume --output output/shapes_frcnn --train-coco "
        "output/demo/shapes/annotations/instances_train.json output/demo/shapes/images/train --opts SOLVER.MAX_ITER 600",
        "modet train --config-file COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml --eval-only "
        "--weights output/shapes_frcnn/model_final.pth --test-coco output/demo/shapes/annotations/instances_val.json "
        "output/demo/shapes/images/val --output output/shapes_frcnn_eval",
    )


def _require_training_packages(eval_only: bool) -> None:
    from .defaults import TRAIN_EXTRA_HINT

    try:
        import modet.evaluation  # noqa: F401  (the `train` extra)
    except ImportError:
        action = "evaluation" if eval_only else "training"
        raise CLIError(f"modet train ({action}) needs modet-evaluation: {TRAIN_EXTRA_HINT}") from None


def _coco_categories(option: str, json_file: str, image_dir: str) -> list[str]:
    """The category names of a COCO json; CLIError naming what is wrong with the pair."""
    if not os.path.isfile(json_file):
        raise CLIError(f"{option}: annotations file not found: {json_file}")
    if not os.path.isdir(image_dir):
        raise CLIError(f"{option}: image folder not found: {image_dir}")
    try:
        with open(json_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"{option}: {json_file} is not a JSON file: {exc}") from None
    categories = data.get("categories") if isinstance(data, dict) else None
    if not categories or not isinstance(categories, list):
        raise CLIError(f"{option}: {json_file} has no 'categories' list: not a COCO instances file")
    if not isinstance(data.get("images"), list) or not data["images"]:
        raise CLIError(f"{option}: {json_file} has no 'images'")
    return [str(c.get("name", c.get("id"))) for c in sorted(categories, key=lambda c: c.get("id", 0))]


def _set_num_classes(cfg: Any, num_classes: int) -> None:
    for dotted in NUM_CLASSES_KEYS:
        node = cfg
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.get(part) if node is not None else None
        if node is not None and leaf in node:
            node[leaf] = num_classes


def register_cli_datasets(args: argparse.Namespace) -> None:
    """Register ``--train-coco`` / ``--test-coco`` (in this process; each worker calls it)."""
    from modet.data import DatasetCatalog, MetadataCatalog
    from modet.data.datasets import register_coco_instances

    for name, pair in ((TRAIN_DATASET, args.train_coco), (TEST_DATASET, args.test_coco)):
        if not pair:
            continue
        json_file, image_root = os.path.abspath(pair[0]), os.path.abspath(pair[1])
        if name in DatasetCatalog:
            registered = MetadataCatalog.get(name)
            if (registered.get("json_file"), registered.get("image_root")) == (json_file, image_root):
                continue
            DatasetCatalog.pop(name)  # an earlier command in this process named other files
            MetadataCatalog.pop(name)
        register_coco_instances(name, {}, json_file, image_root)


def build_train_config(args: argparse.Namespace) -> Any:
    """The config of the command line: file or zoo name, device, output, datasets, weights, --opts last."""
    cfg = load_config(args.config_file, [], device=args.device)
    if args.output is not None:
        cfg.OUTPUT_DIR = args.output
    categories = None
    if args.train_coco:
        categories = _coco_categories("--train-coco", *args.train_coco)
        cfg.DATASETS.TRAIN = (TRAIN_DATASET,)
        cfg.DATASETS.TEST = ()
    if args.test_coco:
        test_categories = _coco_categories("--test-coco", *args.test_coco)
        if categories is not None and test_categories != categories:
            raise CLIError(f"--test-coco has categories {test_categories}, --train-coco has {categories}")
        categories = categories or test_categories
        cfg.DATASETS.TEST = (TEST_DATASET,)
    if categories is not None:
        _set_num_classes(cfg, len(categories))
    if args.weights is not None:
        cfg.MODEL.WEIGHTS = "" if args.weights.lower() == "none" else args.weights
    if len(args.opts) % 2:
        raise CLIError(f"--opts takes KEY VALUE pairs; got an odd number of items: {' '.join(args.opts)}")
    cfg.merge_from_list(list(args.opts))
    return cfg


def _check_datasets(cfg: Any, eval_only: bool) -> None:
    """CLIError for a dataset that is not registered or whose files are not there, before training starts."""
    from modet.data import DatasetCatalog, MetadataCatalog

    names = list(cfg.DATASETS.TEST) if eval_only else list(cfg.DATASETS.TRAIN)
    if not names:
        raise CLIError(
            "no dataset to "
            + (
                "evaluate on: give --test-coco JSON IMAGE_DIR"
                if eval_only
                else "train on: give --train-coco JSON IMAGE_DIR"
            )
        )
    for name in [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST] if not eval_only else names:
        if name not in DatasetCatalog:
            from modet.core.suggest import did_you_mean

            raise CLIError(
                f"dataset {name!r} is not registered.{did_you_mean(name, list(DatasetCatalog))} "
                "Train on a COCO-format dataset with --train-coco JSON IMAGE_DIR"
            )
        json_file = MetadataCatalog.get(name).get("json_file")
        if json_file and not os.path.isfile(json_file):
            raise CLIError(
                f"dataset {name!r} reads {json_file}, which does not exist: put the dataset there (detectron2's "
                "layout, under $DETECTRON2_DATASETS), or give your own with --train-coco JSON IMAGE_DIR"
            )


def _trainer_class() -> type[DefaultTrainer]:
    """DefaultTrainer with the evaluator each dataset's metadata asks for (COCO or semantic segmentation)."""
    from .defaults import DefaultTrainer, _import_evaluation

    evaluation = _import_evaluation()

    class CommandLineTrainer(DefaultTrainer):
        @classmethod
        def build_evaluator(cls, cfg: Any, dataset_name: str) -> Any:
            from modet.data import MetadataCatalog

            kind = MetadataCatalog.get(dataset_name).get("evaluator_type", "coco")
            output = os.path.join(cfg.OUTPUT_DIR, "inference")
            if kind == "sem_seg":
                return evaluation.SemSegEvaluator(dataset_name, distributed=True, output_dir=output)
            return evaluation.COCOEvaluator(dataset_name, distributed=True, output_dir=output)

    return CommandLineTrainer


def _train_worker(args: argparse.Namespace) -> Any:
    from .defaults import default_setup

    register_cli_datasets(args)
    cfg = build_train_config(args)
    cfg.freeze()
    # default_setup logs the config file's text: give it the file behind a zoo name
    default_setup(cfg, argparse.Namespace(**{**vars(args), "config_file": resolve_config_file(args.config_file)[0]}))
    trainer_class = _trainer_class()
    if args.eval_only:
        from modet.checkpoint import DetectionCheckpointer

        model = trainer_class.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return trainer_class.test(cfg, model)
    trainer = trainer_class(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def train_main(args: argparse.Namespace) -> int:
    from .launch import launch

    _require_training_packages(args.eval_only)
    if args.output is not None:
        check_output_folder(args.output)
    cfg = build_train_config(args)  # report config and dataset errors before starting processes
    register_cli_datasets(args)
    check_output_folder(cfg.OUTPUT_DIR, "--output" if args.output is not None else "OUTPUT_DIR")
    _check_datasets(cfg, args.eval_only)
    launch(
        _train_worker,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
    print(f"modet train: done; checkpoints, metrics and log in {cfg.OUTPUT_DIR}{os.sep}")
    return 0
