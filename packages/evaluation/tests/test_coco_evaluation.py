import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from modet.evaluation import COCOEvaluator, instances_to_coco_json
from modet.structures import Boxes, Instances, polygons_to_bitmask

H, W = 60, 80
# (image_id, category id in the json, XYXY box); polygons are the boxes' rectangles
GT = [
    (1, 3, [10, 10, 40, 30]),
    (1, 7, [50, 5, 75, 50]),
    (2, 3, [5, 20, 30, 55]),
    (2, 3, [40, 30, 70, 58]),
    (2, 7, [12, 2, 60, 18]),
]
ID_MAP = {3: 0, 7: 1}


def rect(box):
    x0, y0, x1, y1 = box
    return [x0, y0, x1, y0, x1, y1, x0, y1]


@pytest.fixture
def gt_json(tmp_path):
    coco = {
        "images": [{"id": i, "file_name": f"{i}.png", "height": H, "width": W} for i in (1, 2)],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": img,
                "category_id": cat,
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                "area": float((b[2] - b[0]) * (b[3] - b[1])),
                "iscrowd": 0,
                "segmentation": [rect(b)],
            }
            for k, (img, cat, b) in enumerate(GT)
        ],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    return str(path)


def metadata(gt_json):
    return {"json_file": gt_json, "thing_classes": ["cat", "dog"], "thing_dataset_id_to_contiguous_id": ID_MAP}


def instances(dets):
    """dets: [(contiguous class, XYXY box, score)] -> Instances with masks filling the boxes' polygons."""
    inst = Instances((H, W))
    inst.pred_boxes = Boxes(torch.tensor([d[1] for d in dets], dtype=torch.float32).reshape(-1, 4))
    inst.pred_classes = torch.tensor([d[0] for d in dets], dtype=torch.int64)
    inst.scores = torch.tensor([d[2] for d in dets], dtype=torch.float32)
    masks = [polygons_to_bitmask([np.array(rect(d[1]), dtype=float)], H, W) for d in dets]
    inst.pred_masks = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, H, W), dtype=torch.bool)
    return inst


def run(evaluator, per_image):
    evaluator.reset()
    for image_id, dets in per_image.items():
        evaluator.process([{"image_id": image_id}], [{"instances": instances(dets)}])
    return evaluator.evaluate()


def test_perfect_predictions_give_ap_100(gt_json):
    per_image = {img: [] for img in (1, 2)}
    for img, cat, box in GT:
        per_image[img].append((ID_MAP[cat], box, 0.9))
    evaluator = COCOEvaluator(None, distributed=False, metadata=metadata(gt_json))
    results = run(evaluator, per_image)
    assert set(results) == {"bbox", "segm"}
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == pytest.approx(100.0)
        assert results[task]["AP50"] == pytest.approx(100.0)
        assert results[task]["AP-cat"] == pytest.approx(100.0)
        assert results[task]["AP-dog"] == pytest.approx(100.0)
        assert results[task]["APs"] == pytest.approx(100.0)  # areas 600 and 775 are "small"
    assert "| category" in evaluator.per_category_table


def test_imperfect_predictions_match_pycocotools(gt_json, tmp_path):
    per_image = {
        1: [(0, [12, 11, 40, 33], 0.9), (1, [50, 5, 70, 40], 0.6), (1, [0, 40, 20, 58], 0.7)],
        2: [(0, [5, 20, 30, 55], 0.8), (1, [12, 2, 60, 18], 0.3), (0, [30, 30, 60, 50], 0.5)],
    }
    evaluator = COCOEvaluator(None, distributed=False, output_dir=str(tmp_path), metadata=metadata(gt_json))
    results = run(evaluator, per_image)

    # the same detections, written by hand in COCO's result format, scored by pycocotools directly
    reverse = {v: k for k, v in ID_MAP.items()}
    coco_results = [
        {
            "image_id": img,
            "category_id": reverse[c],
            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            "score": s,
        }
        for img, dets in per_image.items()
        for c, b, s in dets
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_json)
        coco_eval = COCOeval(gt, gt.loadRes(coco_results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    expected = coco_eval.stats * 100
    assert 0 < expected[0] < 100
    assert results["bbox"]["AP"] == pytest.approx(expected[0])
    assert results["bbox"]["AP50"] == pytest.approx(expected[1])
    assert results["bbox"]["AP75"] == pytest.approx(expected[2])
    assert results["bbox"]["APs"] == pytest.approx(expected[3])
    assert results["bbox"]["APm"] == pytest.approx(expected[4])
    assert expected[5] == -100 and math.isnan(results["bbox"]["APl"])  # no large objects: COCO's -1 is NaN
    with open(tmp_path / "coco_instances_results.json") as f:
        assert len(json.load(f)) == 6


def test_class_outside_dataset_is_an_error(gt_json):
    evaluator = COCOEvaluator(None, distributed=False, metadata=metadata(gt_json))
    with pytest.raises(ValueError, match="class=5"):
        run(evaluator, {1: [(5, [1, 1, 5, 5], 0.5)]})


def test_no_predictions_warns_and_returns_empty(gt_json, caplog):
    evaluator = COCOEvaluator(None, distributed=False, metadata=metadata(gt_json))
    evaluator.reset()
    assert evaluator.evaluate() == {}
    assert "Did not receive valid predictions" in caplog.text


def test_missing_json_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        COCOEvaluator(None, metadata={"json_file": str(tmp_path / "nope.json")})
    with pytest.raises(ValueError, match="no json_file"):
        COCOEvaluator(None, metadata={"name": "x"})


def test_instances_to_coco_json():
    inst = Instances((4, 5))
    inst.pred_boxes = Boxes(torch.tensor([[1.0, 2.0, 4.0, 3.0]]))
    inst.scores = torch.tensor([0.5])
    inst.pred_classes = torch.tensor([2])
    mask = torch.zeros((1, 4, 5), dtype=torch.bool)
    mask[0, 1:3, 2:4] = True
    inst.pred_masks = mask
    inst.pred_keypoints = torch.tensor([[[1.5, 2.5, 0.9]]])
    (result,) = instances_to_coco_json(inst, 11)
    assert result["image_id"] == 11 and result["category_id"] == 2 and result["score"] == 0.5
    assert result["bbox"] == [1.0, 2.0, 3.0, 1.0]
    assert result["keypoints"] == pytest.approx([1.0, 2.0, 0.9])
    import pycocotools.mask as mask_util

    seg = dict(result["segmentation"])
    assert isinstance(seg["counts"], str)
    seg["counts"] = seg["counts"].encode()
    np.testing.assert_array_equal(mask_util.decode(seg), mask[0].numpy().astype(np.uint8))
    empty = Instances((4, 5))
    empty.pred_boxes = Boxes(torch.zeros((0, 4)))
    assert instances_to_coco_json(empty, 3) == []


def test_does_not_import_modet_data():
    import subprocess
    import sys

    code = "import sys, modet.evaluation; assert not any(m.startswith('modet.data') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
