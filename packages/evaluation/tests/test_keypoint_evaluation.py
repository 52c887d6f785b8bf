import json

import pytest
import torch

from modet.evaluation import COCOEvaluator
from modet.structures import Boxes, Instances

# (image_id, XYWH box, keypoints as COCO stores them: [x, y, v] * 3)
GT = [
    (1, [10, 10, 40, 40], [15, 12, 2, 45, 12, 2, 30, 45, 2]),
    (1, [60, 5, 30, 50], [65, 10, 2, 85, 10, 1, 75, 50, 2]),
]


@pytest.fixture
def metadata(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "1.png", "height": 100, "width": 100}],
        "categories": [{"id": 1, "name": "thing", "keypoints": ["a", "b", "c"], "skeleton": []}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": img,
                "category_id": 1,
                "bbox": box,
                "area": float(box[2] * box[3]),
                "iscrowd": 0,
                "keypoints": kps,
                "num_keypoints": 3,
            }
            for k, (img, box, kps) in enumerate(GT)
        ],
    }
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(coco))
    return {"json_file": str(path), "thing_classes": ["thing"], "thing_dataset_id_to_contiguous_id": {1: 0}}


def predictions(shift=0.0):
    inst = Instances((100, 100))
    boxes = torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for _, b, _ in GT], dtype=torch.float32)
    inst.pred_boxes = Boxes(boxes)
    inst.scores = torch.tensor([0.9, 0.8])
    inst.pred_classes = torch.tensor([0, 0])
    kps = torch.tensor([k for _, _, k in GT], dtype=torch.float32).reshape(2, 3, 3)
    kps[:, :, :2] += 0.5 + shift  # model keypoints are continuous coordinates: COCO index + 0.5
    kps[:, :, 2] = 1.0  # a score
    inst.pred_keypoints = kps
    return inst


def test_perfect_keypoints_give_ap_100(metadata):
    evaluator = COCOEvaluator(
        None, tasks=("keypoints",), distributed=False, kpt_oks_sigmas=[0.05, 0.05, 0.05], metadata=metadata
    )
    evaluator.reset()
    evaluator.process([{"image_id": 1}], [{"instances": predictions()}])
    results = evaluator.evaluate()
    assert list(results) == ["keypoints"]
    assert results["keypoints"]["AP"] == pytest.approx(100.0)
    assert set(results["keypoints"]) == {"AP", "AP50", "AP75", "APm", "APl"}  # one class: no per-class AP


def test_far_keypoints_score_zero(metadata):
    evaluator = COCOEvaluator(
        None, tasks=("keypoints",), distributed=False, kpt_oks_sigmas=[0.05] * 3, metadata=metadata
    )
    evaluator.reset()
    evaluator.process([{"image_id": 1}], [{"instances": predictions(shift=20.0)}])
    assert evaluator.evaluate()["keypoints"]["AP"] == pytest.approx(0.0)


def test_sigma_count_must_match(metadata):
    evaluator = COCOEvaluator(
        None, tasks=("keypoints",), distributed=False, kpt_oks_sigmas=[0.05] * 2, metadata=metadata
    )
    evaluator.reset()
    evaluator.process([{"image_id": 1}], [{"instances": predictions()}])
    with pytest.raises(ValueError, match="contain 3 keypoints.*KEYPOINT_OKS_SIGMAS is 2"):
        evaluator.evaluate()
