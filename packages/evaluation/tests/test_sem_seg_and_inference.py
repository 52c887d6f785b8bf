import logging

import numpy as np
import pytest
import torch
from torch import nn

from modet.evaluation import DatasetEvaluator, SemSegEvaluator, inference_on_dataset, print_csv_format


def one_hot_scores(labels, num_classes):
    labels = torch.as_tensor(labels)
    return torch.nn.functional.one_hot(labels, num_classes).permute(2, 0, 1).float()


def test_sem_seg_hand_computed():
    gt = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    evaluator = SemSegEvaluator(None, distributed=False, num_classes=3, ignore_label=255, gt_files={})
    evaluator.reset()
    evaluator.process([{"sem_seg": torch.as_tensor(gt)}], [{"sem_seg": one_hot_scores(pred, 3)}])
    res = evaluator.evaluate()["sem_seg"]
    # class 0: tp 1, gt 2, pred 1 -> IoU 1/2, acc 1/2 ; class 1: tp 2, gt 2, pred 3 -> IoU 2/3, acc 1
    # class 2: tp 1, gt 1, pred 1 -> IoU 1, acc 1 ; the ignored pixel counts nowhere
    assert res["IoU-0"] == pytest.approx(50.0)
    assert res["IoU-1"] == pytest.approx(200 / 3)
    assert res["IoU-2"] == pytest.approx(100.0)
    assert res["mIoU"] == pytest.approx((50 + 200 / 3 + 100) / 3)
    assert res["fwIoU"] == pytest.approx(100 * (2 / 5 * 0.5 + 2 / 5 * 2 / 3 + 1 / 5 * 1))
    assert res["mACC"] == pytest.approx(100 * (0.5 + 1 + 1) / 3)
    assert res["pACC"] == pytest.approx(80.0)


def test_sem_seg_reads_ground_truth_files(tmp_path):
    from PIL import Image

    Image.fromarray(np.array([[0, 1], [1, 1]], dtype=np.uint8)).save(tmp_path / "gt.png")
    evaluator = SemSegEvaluator(
        None,
        distributed=False,
        class_names=["bg", "fg"],
        ignore_label=255,
        gt_files={"img.png": str(tmp_path / "gt.png")},
    )
    evaluator.reset()
    evaluator.process([{"file_name": "img.png"}], [{"sem_seg": one_hot_scores([[0, 1], [1, 1]], 2)}])
    res = evaluator.evaluate()["sem_seg"]
    assert res["mIoU"] == pytest.approx(100.0) and res["IoU-fg"] == pytest.approx(100.0)
    with pytest.raises(KeyError, match="other.png"):
        evaluator.process([{"file_name": "other.png"}], [{"sem_seg": one_hot_scores([[0]], 2)}])


def test_sem_seg_wrong_score_shape():
    evaluator = SemSegEvaluator(None, distributed=False, num_classes=3, ignore_label=255, gt_files={})
    with pytest.raises(ValueError, match=r"shape \(3, H, W\)"):
        evaluator.process([{"sem_seg": torch.zeros(2, 2, dtype=torch.long)}], [{"sem_seg": torch.zeros(2, 2, 2)}])


class Recorder(DatasetEvaluator):
    def reset(self):
        self.seen = []

    def process(self, inputs, outputs):
        self.seen += [(i["x"], o["y"]) for i, o in zip(inputs, outputs)]

    def evaluate(self):
        return {"task": {"count": float(len(self.seen))}}


class Doubler(nn.Module):
    def forward(self, inputs):
        assert not self.training and not torch.is_grad_enabled()
        return [{"y": 2 * i["x"]} for i in inputs]


def test_inference_on_dataset_runs_every_batch_in_eval_mode():
    model = Doubler().train()
    evaluator = Recorder()
    loader = [[{"x": 1}, {"x": 2}], [{"x": 3}]]
    results = inference_on_dataset(model, loader, evaluator)
    assert results == {"task": {"count": 3.0}}
    assert evaluator.seen == [(1, 2), (2, 4), (3, 6)]
    assert model.training  # mode restored


def test_inference_on_dataset_merges_evaluators():
    class Other(Recorder):
        def evaluate(self):
            return {"other": {"n": 1.0}}

    results = inference_on_dataset(Doubler(), [[{"x": 1}]], [Recorder(), Other()])
    assert results == {"task": {"count": 1.0}, "other": {"n": 1.0}}
    with pytest.raises(KeyError, match="same key"):
        inference_on_dataset(Doubler(), [[{"x": 1}]], [Recorder(), Recorder()])


def test_print_csv_format(caplog):
    with caplog.at_level(logging.INFO, logger="modet.evaluation.testing"):
        print_csv_format({"bbox": {"AP": 50.0, "AP50": 75.5, "AP-cat": 1.0}})
    assert "copypaste: AP,AP50" in caplog.text
    assert "copypaste: 50.0000,75.5000" in caplog.text
    assert "AP-cat" not in caplog.text
