"""Resuming is exact with the engine's own data loader: a run of 10 iterations stopped after 6
and resumed from its checkpoint at iteration 3 ends with the weights of an uninterrupted run,
bit for bit, on one process and on two (DDP over gloo). The dataset (5 images, batches of 2)
does not divide into batches, augmentations are random, and the seeds are random (SEED -1):
the loader's position, seeds and each process's random state come from the checkpoint. The
runs evaluate at each checkpoint's iteration, which the resumed run does not repeat."""

import contextlib
import json
import logging

import pytest
import torch
from conftest import tiny_mask_rcnn_cfg

from modet.engine import DefaultTrainer, comm, hooks, launch
from modet.engine.defaults import seed_all_rng
from modet.evaluation import DatasetEvaluator

NUM_IMAGES = 5
MAX_ITER = 10
STOP_BEFORE = 6  # iterations 0-5 run
CHECKPOINT_PERIOD = 4  # checkpoints after iterations 3 and 7: the interrupted run left the one of 3


class Interrupted(Exception):
    pass


def _register(root):
    from modet.data.datasets import register_shapes

    register_shapes(root, prefix="resume_reliability", num_train=NUM_IMAGES, num_val=1, seed=4)


class _CountDetections(DatasetEvaluator):
    """An evaluation that costs little; like any, iterating the test loader draws random numbers."""

    def reset(self):
        self.count = 0

    def process(self, inputs, outputs):
        self.count += sum(len(output["instances"]) for output in outputs)

    def evaluate(self):
        return {"detections": {"count": float(self.count)}}


class _Trainer(DefaultTrainer):
    @classmethod
    def build_evaluator(cls, cfg, dataset_name):
        return _CountDetections()


def _cfg(output_dir, ims_per_batch):
    cfg = tiny_mask_rcnn_cfg()
    cfg.DATASETS.TRAIN = ("resume_reliability_train",)
    cfg.DATASETS.TEST = ("resume_reliability_val",)
    cfg.TEST.EVAL_PERIOD = CHECKPOINT_PERIOD  # evaluation after iteration 3, where the checkpoint is
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TRAIN = (40, 48, 56)  # a random choice per image, with random flips
    cfg.INPUT.MAX_SIZE_TRAIN = 80
    cfg.SOLVER.IMS_PER_BATCH = ims_per_batch
    cfg.SOLVER.BASE_LR = 0.01
    cfg.SOLVER.MAX_ITER = MAX_ITER
    cfg.SOLVER.CHECKPOINT_PERIOD = CHECKPOINT_PERIOD
    cfg.SEED = -1  # random seeds: the resumed run must take them from the checkpoint
    cfg.OUTPUT_DIR = str(output_dir)
    return cfg


def _train(cfg, *, seed, resume=False, stop=False):
    seed_all_rng(seed + comm.get_rank())  # what default_setup does
    trainer = _Trainer(cfg)
    if stop:

        def stop_before(trainer):
            if trainer.iter == STOP_BEFORE:
                raise Interrupted

        trainer.register_hooks([hooks.CallbackHook(before_step=stop_before)])
    trainer.resume_or_load(resume=resume)
    with contextlib.suppress(Interrupted):
        trainer.train()
    return trainer


def _interrupt_and_resume(tmp_path, ims_per_batch):
    """(uninterrupted trainer, resumed trainer); the resumed one starts from other global seeds."""
    full = _train(_cfg(tmp_path / "full", ims_per_batch), seed=0)
    if comm.is_main_process():
        assert "count" in full._last_eval_results["detections"]  # the runs do evaluate
    cfg = _cfg(tmp_path / "resumed", ims_per_batch)
    _train(cfg, seed=0, stop=True)
    assert (tmp_path / "resumed" / "last_checkpoint").read_text() == "model_0000003.pth"
    resumed = _train(cfg, seed=99, resume=True)
    assert resumed.start_iter == 4 and resumed.iter == MAX_ITER
    return full, resumed


def _same_weights(a, b):
    a, b = a.model.state_dict(), b.model.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Warnings(logging.Handler):
    """The warnings of modet's training loop (its logger does not propagate to pytest's caplog)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        if record.levelno == logging.WARNING:  # not the ERROR line of the interruption
            self.messages.append(record.getMessage())


@pytest.fixture
def train_loop_warnings():
    handler = _Warnings()
    logger = logging.getLogger("modet.engine.train_loop")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, train_loop_warnings):
    _register(tmp_path / "shapes")
    full, resumed = _interrupt_and_resume(tmp_path, ims_per_batch=2)
    assert _same_weights(full, resumed)
    assert train_loop_warnings == []
    saved = torch.load(tmp_path / "resumed" / "model_0000003.pth", weights_only=True)
    (process,) = saved["trainer"]["_trainer"]["processes"]
    assert process["data_loader"]["position"] >= 8  # 4 batches of 2

    # The control: the same checkpoint without the loader's position does not give those weights.
    del process["data_loader"]
    torch.save(saved, tmp_path / "resumed" / "model_0000003.pth")
    (tmp_path / "resumed" / "last_checkpoint").write_text("model_0000003.pth")
    restarted = _train(_cfg(tmp_path / "resumed", 2), seed=99, resume=True)
    assert not _same_weights(full, restarted)
    (warning,) = train_loop_warnings
    assert "state is not in the checkpoint: the resumed run starts its data stream over" in warning


def _same_parameters(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))


def _ddp_worker(root, out):
    torch.set_num_threads(1)  # two processes share the machine's cores
    _register(root)
    full, resumed = _interrupt_and_resume(out, ims_per_batch=4)  # 2 images per process
    # DDP keeps the parameters equal on every process; BatchNorm statistics stay per process
    # (broadcast_buffers=False, as in detectron2) and the main process's are the ones saved.
    same_parameters = comm.all_gather(_same_parameters(full, resumed))
    if comm.is_main_process():
        saved = torch.load(out / "resumed" / "model_0000003.pth", weights_only=True)
        processes = saved["trainer"]["_trainer"]["processes"]
        final = torch.load(out / "resumed" / "model_final.pth", weights_only=True)["model"]
        uninterrupted = torch.load(out / "full" / "model_final.pth", weights_only=True)["model"]
        result = {
            "same_parameters": same_parameters,
            "same_saved_weights": _same_weights(full, resumed)
            and final.keys() == uninterrupted.keys()
            and all(torch.equal(final[k], uninterrupted[k]) for k in final),
            "positions": [p["data_loader"]["position"] for p in processes],
            "torch_rng_differs": not torch.equal(
                processes[0]["rng_state"]["torch"], processes[1]["rng_state"]["torch"]
            ),
        }
        (out / "result.json").write_text(json.dumps(result))


def test_two_ddp_processes_resume_to_the_same_weights(tmp_path):
    launch(_ddp_worker, num_gpus_per_machine=2, dist_url="auto", args=(tmp_path / "shapes", tmp_path), use_gpu=False)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["same_parameters"] == [True, True] and result["same_saved_weights"]
    assert len(result["positions"]) == 2 and min(result["positions"]) >= 8  # each process's own state
    assert result["torch_rng_differs"]
