"""detectron2's ``detectron2.engine.defaults``: the predictor, trainer and script helpers most users start from."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.distributed.algorithms.ddp_comm_hooks import default as comm_hooks
from torch.nn.parallel import DistributedDataParallel

from modet.checkpoint import DetectionCheckpointer
from modet.core.config import CfgNode
from modet.core.logger import setup_logger
from modet.data import Metadata, MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from modet.modeling import build_model

from . import comm, hooks
from .env import seed_all_rng
from .inference_modes import mode_name, prepare_inference
from .preprocess import check_image, resize_shortest_edge
from .solver import build_lr_scheduler, build_optimizer
from .train_loop import AMPTrainer, SimpleTrainer, TrainerBase
from .writers import EventWriter, default_writers

__all__ = [
    "DefaultPredictor",
    "DefaultTrainer",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "default_writers",
    "seed_all_rng",
]

logger = logging.getLogger(__name__)

TRAIN_EXTRA_HINT = "pip install 'modet-engine[train]'"


class MissingTrainDependencyError(ImportError):
    """modet-data or modet-evaluation is needed (training, evaluation) but not installed."""


def _import_evaluation() -> Any:
    try:
        import modet.evaluation as evaluation  # the `train` extra
    except ImportError as exc:
        raise MissingTrainDependencyError(
            f"evaluation needs the modet-evaluation package, which is not installed: {TRAIN_EXTRA_HINT}"
        ) from exc
    return evaluation


def create_ddp_model(model: torch.nn.Module, *, fp16_compression: bool = False, **kwargs: Any) -> torch.nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when running with more than one process.

    On GPUs the model lives on this process's device (``device_ids=[local rank]``); on CPU
    (gloo) no device ids are given. ``fp16_compression`` compresses gradients for all-reduce.
    """
    if comm.get_world_size() == 1:
        return model
    if isinstance(model, DistributedDataParallel):
        return model
    on_cuda = any(p.is_cuda for p in model.parameters())
    if "device_ids" not in kwargs and on_cuda:
        kwargs["device_ids"] = [comm.get_local_rank()]
    ddp = DistributedDataParallel(model, **kwargs)
    if fp16_compression:
        ddp.register_comm_hook(state=None, hook=comm_hooks.fp16_compress_hook)
    return ddp


def default_argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """detectron2's training-script arguments: config file, resume, eval-only, GPUs, machines, opts."""
    parser = argparse.ArgumentParser(
        epilog=epilog
        or f"""
Examples:

Run on a single machine:
    $ {sys.argv[0]} --num-gpus 8 --config-file cfg.yaml

Change some config options:
    $ {sys.argv[0]} --config-file cfg.yaml MODEL.WEIGHTS /path/to/weight.pth SOLVER.BASE_LR 0.001

Run on multiple machines:
    (machine0)$ {sys.argv[0]} --machine-rank 0 --num-machines 2 --dist-url <URL> [--other-flags]
    (machine1)$ {sys.argv[0]} --machine-rank 1 --num-machines 2 --dist-url <URL> [--other-flags]
""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Whether to attempt to resume from the checkpoint directory (OUTPUT_DIR/last_checkpoint).",
    )
    parser.add_argument("--eval-only", action="store_true", help="perform evaluation only")
    parser.add_argument("--num-gpus", type=int, default=1, help="number of gpus *per machine*")
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine (unique per machine)")
    # PyTorch still may leave orphan processes in multi-gpu training: use a port per user.
    port = 2**15 + 2**14 + hash(os.getuid() if sys.platform != "win32" else 1) % 2**14
    parser.add_argument(
        "--dist-url",
        default=f"tcp://127.0.0.1:{port}",
        help="initialization URL for pytorch distributed backend ('auto' for a free local port)",
    )
    parser.add_argument(
        "opts",
        help="Modify config options at the end of the command: space-separated 'PATH.KEY VALUE' pairs.",
        default=None,
        nargs=argparse.REMAINDER,
    )
    return parser


def default_setup(cfg: CfgNode, args: argparse.Namespace) -> None:
    """Start of a training script: output dir, logging, saved config, seeds, cudnn benchmark."""
    output_dir = cfg.get("OUTPUT_DIR", "")
    if comm.is_main_process() and output_dir:
        os.makedirs(output_dir, exist_ok=True)
    rank = comm.get_rank()
    log = setup_logger(output_dir, distributed_rank=rank)
    log.info("Rank of current process: %d. World size: %d", rank, comm.get_world_size())
    log.info("Command line arguments: %s", args)
    config_file = getattr(args, "config_file", "")
    if config_file:
        with open(config_file, encoding="utf-8") as f:
            log.info("Contents of args.config_file=%s:\n%s", config_file, f.read())
    if comm.is_main_process() and output_dir:
        path = os.path.join(output_dir, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(cfg.dump())
        log.info("Full config saved to %s", path)
    seed = cfg.get("SEED", -1)
    # Each process gets a different, yet deterministic seed when one is given.
    seed_all_rng(None if seed < 0 else seed + rank)
    if not getattr(args, "eval_only", False):
        torch.backends.cudnn.benchmark = bool(cfg.get("CUDNN_BENCHMARK", False))


class DefaultPredictor:
    """Run a model from ``cfg`` on single images (or a list of them), detectron2's way.

    It builds ``cfg.MODEL`` on ``cfg.MODEL.DEVICE``, loads ``cfg.MODEL.WEIGHTS``, resizes each
    image like ``ResizeShortestEdge([MIN_SIZE_TEST] * 2, MAX_SIZE_TEST)`` and returns the
    model's output dict for the image at its original size.

    Images are HxWx3 uint8 numpy arrays in ``input_format`` order: "BGR" by default, what
    ``cv2.imread`` gives (detectron2's convention); "RGB" for what PIL gives. They are
    converted to ``cfg.INPUT.FORMAT``, the channel order the model was trained with.

    ``inference_mode`` (default ``cfg.TEST.INFERENCE_MODE``, "eager") runs the model another way:
    "compile", "bfloat16", "export" or a plugin's (:mod:`modet.engine.inference_modes`).
    ``predictor.model`` is the built model ("compile" compiles its parts in place).

    Example::

        predictor = DefaultPredictor(cfg)
        outputs = predictor(cv2.imread("input.jpg"))
        batch_outputs = predictor([img1, img2])
    """

    def __init__(self, cfg: CfgNode, input_format: str = "BGR", inference_mode: str | None = None) -> None:
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg)
        self.model.eval()
        checkpointer = DetectionCheckpointer(self.model)
        extra = checkpointer.load(cfg.MODEL.WEIGHTS)
        #: what did not load from ``cfg.MODEL.WEIGHTS`` (None when no weights were given)
        self.incompatible_keys = checkpointer.incompatible_keys
        # class names saved with the weights (by DefaultTrainer) name what this model learnt
        self.metadata = _checkpoint_metadata(extra, cfg.MODEL.WEIGHTS) or _dataset_metadata(self.cfg)
        self.min_size_test = int(cfg.INPUT.MIN_SIZE_TEST)
        self.max_size_test = int(cfg.INPUT.MAX_SIZE_TEST)
        self.input_format = cfg.INPUT.FORMAT
        if self.input_format not in ("RGB", "BGR"):
            raise ValueError(f"DefaultPredictor supports cfg.INPUT.FORMAT 'RGB' or 'BGR', got {self.input_format!r}")
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"input_format must be 'RGB' or 'BGR', got {input_format!r}")
        self.image_format = input_format
        self.inference_mode = mode_name(self.cfg, inference_mode)
        self._run = prepare_inference(self.model, self.cfg, self.inference_mode)

    @property
    def device(self) -> torch.device:
        for param in self.model.parameters():
            return param.device
        return torch.device(self.cfg.MODEL.DEVICE)

    def preprocess(self, original_image: np.ndarray, name: str = "image") -> dict[str, Any]:
        """The model input dict of one image: channels in the model's order, resized, CHW float32.

        ``name`` names the image in errors (bad shape or dtype; too elongated to resize).
        """
        original_image = check_image(original_image, name)
        if self.image_format != self.input_format:
            original_image = original_image[:, :, ::-1]
        height, width = original_image.shape[:2]
        image = resize_shortest_edge(original_image, self.min_size_test, self.max_size_test, name)
        tensor = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)), dtype=torch.float32)
        return {"image": tensor.to(self.device), "height": height, "width": width}

    @torch.no_grad()
    def __call__(self, original_image: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> Any:
        """Outputs for one image (a dict), or for a list of images (a list of dicts)."""
        if isinstance(original_image, (list, tuple)):
            return self.predict_batch(original_image)
        return self._run([self.preprocess(original_image)])[0]

    @torch.no_grad()
    def predict_batch(self, images: Sequence[np.ndarray], batch_size: int | None = None) -> list[dict[str, Any]]:
        """Outputs for each image, running ``batch_size`` images (default: all) per forward pass.

        Images in one batch are padded to a common size; images of the same size give exactly
        what one-at-a-time calls give.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        inputs = [self.preprocess(img, f"images[{i}]") for i, img in enumerate(images)]
        step = batch_size or max(len(inputs), 1)
        outputs: list[dict[str, Any]] = []
        for start in range(0, len(inputs), step):
            outputs.extend(self._run(inputs[start : start + step]))
        return outputs


#: The metadata fields ``DefaultTrainer`` saves with its checkpoints (under ``"metadata"``):
#: what a predictor needs to name and draw what the model learnt.
CHECKPOINT_METADATA_FIELDS = (
    "thing_classes",
    "thing_colors",
    "stuff_classes",
    "stuff_colors",
    "keypoint_names",
    "keypoint_flip_map",
    "keypoint_connection_rules",
)


class _TrainingMetadata:
    """A checkpointable holding the training dataset's class names (and colours, keypoint names...),
    so that a checkpoint names its classes wherever it is loaded."""

    def __init__(self, cfg: CfgNode) -> None:
        self._cfg = cfg

    def state_dict(self) -> dict[str, Any]:
        train_sets = self._cfg.get("DATASETS", {}).get("TRAIN", ())
        metadata = _metadata_of(train_sets[0]) if train_sets else None
        if metadata is None:
            return {}
        return {k: _plain(getattr(metadata, k)) for k in CHECKPOINT_METADATA_FIELDS if hasattr(metadata, k)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: the dataset catalog holds the metadata while training."""


def _plain(value: Any) -> Any:
    """Lists for tuples, recursively: what ``torch.load(weights_only=True)`` reads back."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _checkpoint_metadata(extra: dict[str, Any], source: str) -> Any:
    """A ``Metadata`` of the class names saved in a checkpoint, or None when it has none."""
    saved = extra.get("metadata") if isinstance(extra, dict) else None
    if not isinstance(saved, dict) or (not saved.get("thing_classes") and not saved.get("stuff_classes")):
        return None
    fields = {k: v for k, v in saved.items() if k in CHECKPOINT_METADATA_FIELDS}
    return Metadata(name=f"checkpoint {source}", **fields)


def _metadata_of(dataset_name: str) -> Any:
    return MetadataCatalog.get(dataset_name)


def _dataset_metadata(cfg: CfgNode) -> Any:
    """Metadata of the first test dataset when modet-data is installed and knows it; else None."""
    test_sets = cfg.get("DATASETS", {}).get("TEST", ())
    if not test_sets:
        return None
    return MetadataCatalog.get(test_sets[0])


class DefaultTrainer(TrainerBase):
    """detectron2's trainer with the standard behaviour, built from a config.

    Builds model, optimizer, scheduler and data loader (modet-data) from ``cfg``; wraps the model
    in DDP when distributed; checkpoints to ``cfg.OUTPUT_DIR`` (model, optimizer, scheduler,
    iteration, and each process's RNG states and data-loader position: resuming is exact);
    evaluates with ``test`` (modet-evaluation) every
    ``TEST.EVAL_PERIOD``; writes metrics with ``default_writers``. Subclass and override the
    ``build_*`` class methods to change a part::

        trainer = DefaultTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
    """

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        log = logging.getLogger("modet")
        if not log.isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(model, broadcast_buffers=False)
        trainer_type = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_type(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        # Saving the trainer saves the optimizer, the hooks' state (scheduler) and the RNGs.
        self.checkpointer = DetectionCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self), metadata=_TrainingMetadata(cfg)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @property
    def model(self) -> torch.nn.Module:
        return self._trainer.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._trainer.optimizer

    @property
    def data_loader(self) -> Any:
        return self._trainer.data_loader

    def resume_or_load(self, resume: bool = True) -> None:
        """Resume from ``OUTPUT_DIR/last_checkpoint`` (everything) when ``resume`` and it exists;
        otherwise load only the model weights from ``cfg.MODEL.WEIGHTS``."""
        self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        if resume and self.checkpointer.has_checkpoint():
            # The checkpoint holds the iteration that finished: continue with the next one.
            self.start_iter = self.iter + 1

    def build_hooks(self) -> list[hooks.HookBase | None]:
        """Timer, LR scheduler, precise BN, checkpointer, evaluation and writers, in that order."""
        cfg = self.cfg.clone()
        cfg.defrost()
        if "DATALOADER" in cfg:
            cfg.DATALOADER.NUM_WORKERS = 0  # PreciseBN's own loader: save memory and time
        precise_bn = None
        if cfg.TEST.PRECISE_BN.ENABLED and hooks.get_bn_modules(self.model):
            # Same frequency as (and before) evaluation, on a loader of its own.
            precise_bn = hooks.PreciseBN(
                cfg.TEST.EVAL_PERIOD, self.model, self.build_train_loader(cfg), cfg.TEST.PRECISE_BN.NUM_ITER
            )
        ret: list[hooks.HookBase | None] = [hooks.IterationTimer(), hooks.LRScheduler(), precise_bn]
        # On every process (only the main one writes): each process's RNG and data position are saved.
        ret.append(hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD))

        def test_and_save_results() -> Any:
            self._last_eval_results = self.test(self.cfg, self.model)
            return self._last_eval_results

        # Every process evaluates (inference is distributed).
        ret.append(hooks.EvalHook(cfg.TEST.EVAL_PERIOD, test_and_save_results))
        if comm.is_main_process():
            ret.append(hooks.PeriodicWriter(self.build_writers(), period=20))
        return ret

    def build_writers(self) -> list[EventWriter]:
        return default_writers(self.cfg.OUTPUT_DIR, self.max_iter)

    def train(self) -> Any:  # type: ignore[override]  # detectron2's API: the config gives the iterations
        """Run training from ``start_iter`` to ``cfg.SOLVER.MAX_ITER``; return the last evaluation results."""
        super().train(self.start_iter, self.max_iter)
        if len(self.cfg.TEST.EXPECTED_RESULTS) and comm.is_main_process():
            if not hasattr(self, "_last_eval_results"):
                raise RuntimeError("TEST.EXPECTED_RESULTS is set but no evaluation ran during training")
            _import_evaluation().verify_results(self.cfg, self._last_eval_results)
        return getattr(self, "_last_eval_results", None)

    def run_step(self) -> None:
        self._trainer.iter = self.iter
        self._trainer.run_step()

    def gather_process_states(self) -> None:
        self._trainer.gather_process_states()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_trainer"] = self._trainer.state_dict()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._trainer.load_state_dict(state_dict["_trainer"])

    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        model = build_model(cfg)
        logger.info("Model:\n%s", model)
        return model

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg: CfgNode, optimizer: torch.optim.Optimizer) -> Any:
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode) -> Any:
        """modet.data's ``build_detection_train_loader(cfg)``; override for a custom loader."""
        return build_detection_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str) -> Any:
        """modet.data's ``build_detection_test_loader(cfg, dataset_name)``."""
        return build_detection_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str) -> Any:
        raise NotImplementedError(
            "DefaultTrainer has no evaluator for a dataset: implement build_evaluator() in a subclass "
            "or pass evaluators to DefaultTrainer.test()"
        )

    @classmethod
    def test(cls, cfg: CfgNode, model: torch.nn.Module, evaluators: Any = None) -> Any:
        """Evaluate ``model`` on each of ``cfg.DATASETS.TEST``; results by dataset (one dataset: its results)."""
        if evaluators is not None and not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        if evaluators is not None and len(cfg.DATASETS.TEST) != len(evaluators):
            raise ValueError(f"{len(cfg.DATASETS.TEST)} test datasets but {len(evaluators)} evaluators")
        results: OrderedDict[str, Any] = OrderedDict()
        for idx, dataset_name in enumerate(cfg.DATASETS.TEST):
            data_loader = cls.build_test_loader(cfg, dataset_name)
            if evaluators is not None:
                evaluator = evaluators[idx]
            else:
                try:
                    evaluator = cls.build_evaluator(cfg, dataset_name)
                except NotImplementedError:
                    logger.warning(
                        "No evaluator found. Use `DefaultTrainer.test(evaluators=)`, or implement its `build_evaluator` method."
                    )
                    results[dataset_name] = {}
                    continue
            evaluation = _import_evaluation()
            results_i = evaluation.inference_on_dataset(model, data_loader, evaluator)
            results[dataset_name] = results_i
            if comm.is_main_process():
                if not isinstance(results_i, dict):
                    raise TypeError(f"evaluator must return a dict on the main process, got {results_i!r}")
                logger.info("Evaluation results for %s in csv format:", dataset_name)
                evaluation.print_csv_format(results_i)
        if len(results) == 1:
            return next(iter(results.values()))
        return results

    @staticmethod
    def auto_scale_workers(cfg: CfgNode, num_workers: int) -> CfgNode:
        """Rescale batch size, lr, iterations and periods from ``SOLVER.REFERENCE_WORLD_SIZE`` to ``num_workers``.

        Linear scaling: twice the processes, twice the batch and lr, half the iterations.
        ``REFERENCE_WORLD_SIZE`` 0 leaves the config as it is.
        """
        old_world_size = cfg.SOLVER.REFERENCE_WORLD_SIZE
        if old_world_size in (0, num_workers):
            return cfg
        cfg = cfg.clone()
        frozen = cfg.is_frozen()
        cfg.defrost()
        if cfg.SOLVER.IMS_PER_BATCH % old_world_size != 0:
            raise ValueError(
                f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by "
                f"SOLVER.REFERENCE_WORLD_SIZE={old_world_size}"
            )
        scale = num_workers / old_world_size
        cfg.SOLVER.IMS_PER_BATCH = round(cfg.SOLVER.IMS_PER_BATCH * scale)
        cfg.SOLVER.BASE_LR = cfg.SOLVER.BASE_LR * scale
        cfg.SOLVER.MAX_ITER = round(cfg.SOLVER.MAX_ITER / scale)
        cfg.SOLVER.WARMUP_ITERS = round(cfg.SOLVER.WARMUP_ITERS / scale)
        cfg.SOLVER.STEPS = tuple(round(s / scale) for s in cfg.SOLVER.STEPS)
        cfg.TEST.EVAL_PERIOD = round(cfg.TEST.EVAL_PERIOD / scale)
        cfg.SOLVER.CHECKPOINT_PERIOD = round(cfg.SOLVER.CHECKPOINT_PERIOD / scale)
        cfg.SOLVER.REFERENCE_WORLD_SIZE = num_workers  # keep the invariant for a later rescale
        logger.info(
            "Auto-scaling the config to batch_size=%d, learning_rate=%s, max_iter=%d, warmup=%d",
            cfg.SOLVER.IMS_PER_BATCH,
            cfg.SOLVER.BASE_LR,
            cfg.SOLVER.MAX_ITER,
            cfg.SOLVER.WARMUP_ITERS,
        )
        if frozen:
            cfg.freeze()
        return cfg
