"""Panoptic quality on a hand-computed image: a TP, a match at IoU 0.5 (not enough), a crowd and void."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from modet.evaluation import COCOPanopticEvaluator
from modet.evaluation.panoptic_evaluation import id2rgb, pq_compute, rgb2id

CATEGORIES = [
    {"id": 1, "name": "person", "isthing": 1},
    {"id": 2, "name": "sky", "isthing": 0},
    {"id": 3, "name": "car", "isthing": 1},
]
GT_IDS = np.array(
    [
        [1, 1, 1, 2, 2, 2],
        [1, 1, 1, 2, 2, 2],
        [5, 5, 0, 0, 7, 7],
        [5, 5, 0, 0, 7, 7],
    ]
)
GT_SEGMENTS = [
    {"id": 1, "category_id": 1, "area": 6, "iscrowd": 0},
    {"id": 2, "category_id": 2, "area": 6, "iscrowd": 0},
    {"id": 5, "category_id": 3, "area": 4, "iscrowd": 1},
    {"id": 7, "category_id": 1, "area": 4, "iscrowd": 0},
]
PRED_IDS = np.array(
    [
        [10, 10, 10, 20, 20, 20],
        [10, 10, 0, 20, 20, 20],
        [30, 30, 30, 30, 40, 40],
        [30, 30, 30, 30, 0, 0],
    ]
)
PRED_SEGMENTS = [
    {"id": 10, "category_id": 1},  # person: IoU 5/6 with gt 1, a TP
    {"id": 20, "category_id": 2},  # sky: IoU 1
    {"id": 30, "category_id": 3},  # car: 6 of its 8 pixels on crowd or void, so not a FP
    {"id": 40, "category_id": 1},  # person: IoU 2/4 = 0.5 with gt 7, not above 0.5: a FP, and gt 7 a FN
]
# person: PQ = (5/6) / (1 + 1/2 + 1/2), SQ = 5/6, RQ = 1/2; sky: 1, 1, 1; car: no TP/FP/FN, not counted
EXPECTED = {
    "All": (np.mean([5 / 12, 1]), np.mean([5 / 6, 1]), 0.75),
    "Things": (5 / 12, 5 / 6, 0.5),
    "Stuff": (1.0, 1.0, 1.0),
}


def test_pq_by_hand():
    result = pq_compute([(GT_IDS, GT_SEGMENTS, PRED_IDS, PRED_SEGMENTS)], CATEGORIES)
    for name, (pq, sq, rq) in EXPECTED.items():
        assert (result[name]["pq"], result[name]["sq"], result[name]["rq"]) == pytest.approx((pq, sq, rq))
    assert result["All"]["n"] == 2
    assert result["All"]["per_class"][3] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}


def test_id_rgb_round_trip():
    ids = np.array([[0, 1, 256, 65536 + 257, 2**24 - 1]])
    assert (rgb2id(id2rgb(ids)) == ids).all()


def test_bad_predictions_are_named():
    with pytest.raises(KeyError, match="segment 40 is in the predicted image"):
        pq_compute([(GT_IDS, GT_SEGMENTS, PRED_IDS, PRED_SEGMENTS[:3])], CATEGORIES)
    with pytest.raises(KeyError, match=r"segments \[99\] are in segments_info"):
        pq_compute([(GT_IDS, GT_SEGMENTS, PRED_IDS, [*PRED_SEGMENTS, {"id": 99, "category_id": 1}])], CATEGORIES)
    with pytest.raises(KeyError, match="predicted category 8"):
        pq_compute([(GT_IDS, GT_SEGMENTS, PRED_IDS, [{**PRED_SEGMENTS[0], "category_id": 8}])], CATEGORIES)


@pytest.fixture
def panoptic_dataset(tmp_path):
    (tmp_path / "gt").mkdir()
    Image.fromarray(id2rgb(GT_IDS)).save(tmp_path / "gt" / "img.png")
    gt_json = {
        "images": [{"id": 3, "file_name": "img.jpg", "height": 4, "width": 6}],
        "annotations": [{"image_id": 3, "file_name": "img.png", "segments_info": GT_SEGMENTS}],
        "categories": CATEGORIES,
    }
    (tmp_path / "panoptic.json").write_text(json.dumps(gt_json))
    return {
        "panoptic_json": str(tmp_path / "panoptic.json"),
        "panoptic_root": str(tmp_path / "gt"),
        "thing_dataset_id_to_contiguous_id": {1: 0, 3: 1},
        "stuff_dataset_id_to_contiguous_id": {2: 0},
        "label_divisor": 1000,
    }


def _check(results):
    pq = results["panoptic_seg"]
    for suffix, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        assert (pq["PQ" + suffix], pq["SQ" + suffix], pq["RQ" + suffix]) == pytest.approx(
            tuple(100 * v for v in EXPECTED[name])
        )


def test_evaluator_on_model_outputs(panoptic_dataset, tmp_path):
    evaluator = COCOPanopticEvaluator(None, output_dir=str(tmp_path / "out"), metadata=panoptic_dataset)
    evaluator.reset()
    segments = [  # the model's contiguous ids, back to the dataset's by isthing
        {"id": 10, "category_id": 0, "isthing": True},
        {"id": 20, "category_id": 0, "isthing": False},
        {"id": 30, "category_id": 1, "isthing": True},
        {"id": 40, "category_id": 0, "isthing": True},
    ]
    evaluator.process(
        [{"image_id": 3, "file_name": "/data/img.jpg"}], [{"panoptic_seg": (torch.tensor(PRED_IDS), segments)}]
    )
    _check(evaluator.evaluate())
    written = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert written["annotations"][0]["segments_info"] == PRED_SEGMENTS
    png = np.asarray(Image.open(tmp_path / "out" / "panoptic_predictions" / "img.png"))
    assert (rgb2id(png) == PRED_IDS).all()


def test_evaluator_on_label_maps(panoptic_dataset):
    # category * label_divisor + instance, -1 for void: ids become label + 1; here the contiguous
    # ids equal the dataset's
    labels = {10: 1 * 1000 + 1, 20: 2 * 1000, 30: 3 * 1000 + 1, 40: 1 * 1000 + 2, 0: -1}
    label_map = np.vectorize(labels.get)(PRED_IDS)
    evaluator = COCOPanopticEvaluator(
        None,
        metadata={
            **panoptic_dataset,
            "thing_dataset_id_to_contiguous_id": {1: 1, 3: 3},
            "stuff_dataset_id_to_contiguous_id": {2: 2},
        },
    )
    evaluator.reset()
    evaluator.process([{"image_id": 3, "file_name": "img.jpg"}], [{"panoptic_seg": (torch.tensor(label_map), None)}])
    _check(evaluator.evaluate())
