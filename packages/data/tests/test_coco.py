import json
import logging
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest

from modet.data import DatasetCatalog, MetadataCatalog
from modet.data.datasets import COCOFormatError, load_coco_json, register_coco_instances
from modet.structures import BoxMode


def test_load_coco_json_gives_detectron2_records(small_coco, fresh_catalogs):
    json_file, root, _ = small_coco
    records = load_coco_json(json_file, root, "my_test_coco")
    assert [r["image_id"] for r in records] == [5, 9]
    first, second = records
    assert first["file_name"] == os.path.join(root, "a.png")
    assert (first["height"], first["width"]) == (40, 60)

    person = first["annotations"][0]
    assert person["bbox"] == [10, 5, 20, 10]
    assert person["bbox_mode"] == BoxMode.XYWH_ABS
    assert person["category_id"] == 0  # id 3 -> contiguous 0 (ids sorted: 3, 7)
    assert person["iscrowd"] == 0
    assert person["segmentation"] == [[10, 5, 30, 5, 30, 15, 10, 15]]
    # COCO pixel indices + 0.5; visibility untouched
    assert person["keypoints"] == [12.5, 6.5, 2, 28.5, 14.5, 1]

    crowd = first["annotations"][1]
    assert crowd["iscrowd"] == 1 and crowd["category_id"] == 1
    # uncompressed RLE is converted to compressed RLE covering rows 20..29 of columns 40..49
    decoded = mask_util.decode(crowd["segmentation"])
    expected = np.zeros((40, 60), dtype=np.uint8)
    expected[20:30, 40:42] = 1
    assert decoded.shape == (40, 60)
    assert decoded.sum() == 20 and np.array_equal(decoded, expected)

    (small,) = second["annotations"]
    assert small["segmentation"] == [[2, 3, 6, 3, 6, 8, 2, 8]]  # the 2-point polygon is dropped
    assert small["keypoints"] == [3.5, 4.5, 2, 0.5, 0.5, 0]

    meta = MetadataCatalog.get("my_test_coco")
    assert meta.thing_classes == ["cat", "dog"]
    assert meta.thing_dataset_id_to_contiguous_id == {3: 0, 7: 1}


def test_without_dataset_name_ids_stay(small_coco):
    json_file, root, _ = small_coco
    records = load_coco_json(json_file, root)
    assert [a["category_id"] for a in records[0]["annotations"]] == [3, 7]


def test_register_coco_instances_is_lazy(small_coco, fresh_catalogs):
    json_file, root, _ = small_coco
    register_coco_instances("lazy_coco", {"extra": 1}, json_file, root)
    meta = MetadataCatalog.get("lazy_coco")
    assert meta.evaluator_type == "coco" and meta.json_file == json_file and meta.extra == 1
    assert not hasattr(meta, "thing_classes")  # nothing read yet
    assert len(DatasetCatalog.get("lazy_coco")) == 2
    assert meta.thing_classes == ["cat", "dog"]
    with pytest.raises(KeyError, match="already registered"):
        register_coco_instances("lazy_coco", {}, json_file, root)


def test_polygon_only_invalid_is_skipped_with_warning(small_coco, write_coco, caplog):
    _, root, coco = small_coco
    coco["annotations"][2]["segmentation"] = [[1, 1, 2, 2]]
    with caplog.at_level(logging.WARNING):
        records = load_coco_json(write_coco(coco), root)
    assert records[1]["annotations"] == []
    assert "Filtered out 1 instances without valid segmentation" in caplog.text


def test_unknown_category_names_file_and_annotation(small_coco, write_coco):
    _, root, coco = small_coco
    coco["annotations"][0]["category_id"] = 42
    path = write_coco(coco)
    with pytest.raises(COCOFormatError, match=r"bad\.json: annotation id=1 \(image_id=5\).*category_id=42"):
        load_coco_json(path, root, None)


def test_box_outside_image_is_skipped_with_warning(small_coco, write_coco, caplog):
    _, root, coco = small_coco
    coco["annotations"][0]["bbox"] = [100, 5, 20, 10]  # image a.png is 60 wide
    with caplog.at_level(logging.WARNING):
        records = load_coco_json(write_coco(coco), root)
    assert [a["bbox"] for a in records[0]["annotations"]] == [[40, 20, 10, 10]]
    assert "annotation id=1 (image_id=5)" in caplog.text and "outside" in caplog.text


def test_negative_box_size_is_an_error(small_coco, write_coco):
    _, root, coco = small_coco
    coco["annotations"][2]["bbox"] = [2, 3, -4, 5]
    with pytest.raises(COCOFormatError, match=r"annotation id=3 \(image_id=9\).*invalid bbox"):
        load_coco_json(write_coco(coco), root)


def test_corrupt_json_names_the_file(tmp_path):
    path = tmp_path / "corrupt.json"
    path.write_text('{"images": [')
    with pytest.raises(COCOFormatError, match=r"cannot parse COCO json file .*corrupt\.json"):
        load_coco_json(str(path), str(tmp_path))


def test_missing_json_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.json"):
        load_coco_json(str(tmp_path / "nothere.json"), str(tmp_path))


def test_duplicate_annotation_ids(small_coco, write_coco):
    _, root, coco = small_coco
    coco["annotations"][1]["id"] = 1
    with pytest.raises(COCOFormatError, match="not unique"):
        load_coco_json(write_coco(coco), root)


def test_convert_to_coco_round_trips(small_coco, fresh_catalogs, tmp_path):
    from modet.data.datasets import convert_to_coco_json

    json_file, root, _ = small_coco
    records = load_coco_json(json_file, root, "to_convert")
    DatasetCatalog.register("to_convert", lambda: records)
    out = convert_to_coco_json("to_convert", tmp_path / "converted.json")
    again = load_coco_json(out, "", "converted_back")
    assert [r["file_name"] for r in again] == [r["file_name"] for r in records]
    for a, b in zip(again, records):
        assert len(a["annotations"]) == len(b["annotations"])
        for x, y in zip(a["annotations"], b["annotations"]):
            assert x["category_id"] == y["category_id"] and x["iscrowd"] == y["iscrowd"]
            np.testing.assert_allclose(x["bbox"], y["bbox"])
            np.testing.assert_allclose(x["keypoints"], y["keypoints"])
            if isinstance(y["segmentation"], dict):
                np.testing.assert_array_equal(mask_util.decode(x["segmentation"]), mask_util.decode(y["segmentation"]))
            else:
                assert x["segmentation"] == y["segmentation"]
    with open(out) as f:
        converted = json.load(f)
    assert [c["id"] for c in converted["categories"]] == [3, 7]
    assert converted["annotations"][0]["area"] == pytest.approx(200.0)  # the 20x10 polygon


def test_coco_evaluator_converts_a_dataset_without_json(small_coco, fresh_catalogs, tmp_path):
    import torch

    from modet import evaluation
    from modet.structures import Boxes, Instances

    json_file, root, _ = small_coco
    records = load_coco_json(json_file, root, "no_json")
    DatasetCatalog.register("no_json", lambda: records)
    evaluator = evaluation.COCOEvaluator("no_json", tasks=("bbox",), distributed=False, output_dir=str(tmp_path))
    assert MetadataCatalog.get("no_json").json_file == str(tmp_path / "no_json_coco_format.json")
    evaluator.reset()
    for record in records:
        boxes = [
            BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
            for a in record["annotations"]
            if not a["iscrowd"]
        ]
        inst = Instances((record["height"], record["width"]))
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.scores = torch.ones(len(boxes))
        inst.pred_classes = torch.tensor([a["category_id"] for a in record["annotations"] if not a["iscrowd"]])
        evaluator.process([{"image_id": record["image_id"]}], [{"instances": inst}])
    assert evaluator.evaluate()["bbox"]["AP"] == pytest.approx(100.0)


def test_convert_to_coco_keeps_rotated_boxes_and_computes_box_areas(fresh_catalogs):
    from modet.data.datasets import convert_to_coco_dict

    record = {
        "file_name": "x.jpg",
        "image_id": 0,
        "height": 100,
        "width": 100,
        "annotations": [
            {"bbox": [10, 10, 10, 8, 5], "bbox_mode": BoxMode.XYWHA_ABS, "category_id": 0},
            {"bbox": np.array([15.0, 15.0, 25.0, 20.0]), "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0},
        ],
    }
    DatasetCatalog.register("rotated_and_not", lambda: [record])
    MetadataCatalog.get("rotated_and_not").set(thing_classes=["thing"])
    annotations = convert_to_coco_dict("rotated_and_not")["annotations"]
    assert annotations[0]["bbox"] == [10, 10, 10, 8, 5] and annotations[0]["area"] == 80
    assert annotations[1]["bbox"] == [15, 15, 10, 5] and annotations[1]["area"] == 50
    record["annotations"] = [{"bbox": [1, 2, 3], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0}]
    with pytest.raises(ValueError, match=r"image 0: a bbox has 4 values .* got \[1, 2, 3\]"):
        convert_to_coco_dict("rotated_and_not")
