import json

import pytest
import torch
from conftest import tiny_mask_rcnn_cfg

from modet.engine import DefaultTrainer, hooks
from modet.structures import BitMasks, Boxes, Instances

NUM_BATCHES = 3  # the loader cycles through 3 batches; resuming at iteration 6 lines up with it


def _synthetic_batches():
    g = torch.Generator().manual_seed(123)
    batches = []
    for _ in range(NUM_BATCHES):
        batch = []
        for _ in range(1):
            image = torch.randint(0, 256, (3, 48, 64), generator=g).float()
            x0, y0 = torch.randint(0, 24, (2,), generator=g).tolist()
            w, h = torch.randint(12, 24, (2,), generator=g).tolist()
            image[:, y0 : y0 + h, x0 : x0 + w] = torch.tensor([200.0, 40.0, 90.0])[:, None, None]
            inst = Instances((48, 64))
            inst.gt_boxes = Boxes(torch.tensor([[x0, y0, x0 + w, y0 + h]], dtype=torch.float32))
            inst.gt_classes = torch.tensor([int(torch.randint(0, 3, (1,), generator=g))])
            mask = torch.zeros(1, 48, 64, dtype=torch.bool)
            mask[:, y0 : y0 + h, x0 : x0 + w] = True
            inst.gt_masks = BitMasks(mask)
            batch.append({"image": image, "instances": inst, "height": 48, "width": 64})
        batches.append(batch)
    return batches


class SyntheticTrainer(DefaultTrainer):
    """DefaultTrainer with an in-memory loader instead of modet.data's."""

    @classmethod
    def build_train_loader(cls, cfg):
        batches = _synthetic_batches()

        def cycle():
            while True:
                yield from batches

        return cycle()


class Interrupted(Exception):
    pass


def _cfg(output_dir):
    cfg = tiny_mask_rcnn_cfg()
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.DATASETS.TEST = ()  # no evaluation: the tiny model has no dataset
    cfg.SOLVER.MAX_ITER = 16
    cfg.SOLVER.CHECKPOINT_PERIOD = 6
    cfg.SOLVER.BASE_LR = 0.01
    cfg.SOLVER.STEPS = (12,)
    cfg.SOLVER.WARMUP_ITERS = 5
    cfg.SOLVER.IMS_PER_BATCH = 1
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "norm"
    return cfg


def _trainer(cfg):
    torch.manual_seed(cfg.SEED if cfg.SEED >= 0 else 0)
    return SyntheticTrainer(cfg)


def test_interrupted_and_resumed_training_equals_uninterrupted(tmp_path):
    full = _trainer(_cfg(tmp_path / "full"))
    full.resume_or_load(resume=True)  # no checkpoint yet: starts at 0
    assert full.start_iter == 0
    full.train()
    assert full.iter == 16

    cfg = _cfg(tmp_path / "resumed")
    first = _trainer(cfg)

    def stop_at_9(trainer):
        if trainer.iter == 9:
            raise Interrupted

    first.register_hooks([hooks.CallbackHook(before_step=stop_at_9)])
    with pytest.raises(Interrupted):
        first.train()
    out = tmp_path / "resumed"
    assert (out / "model_0000005.pth").is_file() and not (out / "model_0000011.pth").exists()
    assert (out / "last_checkpoint").read_text().strip() == "model_0000005.pth"

    second = _trainer(cfg)  # a fresh process would build everything again
    second.resume_or_load(resume=True)
    assert second.start_iter == 6
    assert second.scheduler.last_epoch == 6
    second.train()
    assert second.iter == 16 and second.storage.iter == 16

    full_state = full.model.state_dict()
    resumed_state = second.model.state_dict()
    assert full_state.keys() == resumed_state.keys()
    for key in full_state:
        assert torch.equal(full_state[key], resumed_state[key]), key
    for name in ("model_0000005.pth", "model_0000011.pth", "model_final.pth", "metrics.json"):
        assert (out / name).is_file(), name

    lines = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    # the writer ran when the first run stopped (its last iteration, 8) and at the end (15)
    iterations = [line["iteration"] for line in lines]
    assert iterations[0] == 8 and iterations[-1] == 15
    last = lines[-1]
    assert {"total_loss", "loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc", "lr"} <= set(last)
    assert last["lr"] == pytest.approx(0.001)  # after the step at 12
    # the last iteration's losses are the same too (metrics.json holds medians over different windows)
    assert second.storage.history("total_loss").latest() == full.storage.history("total_loss").latest()

    early = torch.load(out / "model_0000005.pth", weights_only=True)["model"]
    changed = [k for k in early if not torch.equal(early[k], resumed_state[k])]
    assert len(changed) > len(early) // 2  # training really moved the weights after the resume point
    saved = torch.load(out / "model_final.pth", weights_only=True)
    assert saved["iteration"] == 15
    assert saved["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 16
    for key, value in saved["model"].items():
        assert torch.equal(value, resumed_state[key]), key
