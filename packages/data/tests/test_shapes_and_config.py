import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from modet.core.config import get_cfg
from modet.data import DatasetCatalog, MetadataCatalog
from modet.data.datasets import generate_shapes_dataset, load_coco_json, register_shapes
from modet.structures import polygons_to_bitmask

# detectron2's get_cfg() dumped at the pinned commit (the same file as modeling's fixture).
DETECTRON2_DEFAULTS = Path(__file__).parent / "fixtures" / "detectron2-defaults.yaml"


def test_config_defaults_match_detectron2():
    reference = yaml.safe_load(DETECTRON2_DEFAULTS.read_text())
    cfg = get_cfg()
    for section in ("DATASETS", "DATALOADER"):
        ours = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg[section].items()}
        assert ours == reference[section]


def test_generator_is_deterministic(tmp_path):
    a = generate_shapes_dataset(tmp_path / "a", num_train=3, num_val=2, seed=5)
    b = generate_shapes_dataset(tmp_path / "b", num_train=3, num_val=2, seed=5)
    for split in ("train", "val"):
        with open(a[split]["json_file"]) as fa, open(b[split]["json_file"]) as fb:
            assert fa.read() == fb.read()
        for i in range(1, 3):
            pa = Path(f"{a[split]['image_root']}/{i:05d}.png")
            pb = Path(f"{b[split]['image_root']}/{i:05d}.png")
            assert pa.read_bytes() == pb.read_bytes()
    c = generate_shapes_dataset(tmp_path / "c", num_train=3, num_val=2, seed=6)
    with open(a["train"]["json_file"]) as fa, open(c["train"]["json_file"]) as fc:
        assert fa.read() != fc.read()


def test_annotations_agree_with_pixels(tmp_path):
    paths = generate_shapes_dataset(tmp_path, num_train=6, num_val=1, seed=0)
    records = load_coco_json(paths["train"]["json_file"], paths["train"]["image_root"])
    with open(paths["train"]["json_file"]) as f:
        categories = {c["id"]: c["name"] for c in json.load(f)["categories"]}
    assert sum(len(r["annotations"]) for r in records) >= 6
    for record in records:
        label_map = np.asarray(Image.open(record["file_name"].replace("images", "sem_seg")))
        image = np.asarray(Image.open(record["file_name"]))
        assert label_map.shape == image.shape[:2] == (record["height"], record["width"])
        for ann in record["annotations"]:
            mask = polygons_to_bitmask(ann["segmentation"], record["height"], record["width"])
            # the polygon mask and the semantic map agree (up to the rasteriser's boundary pixels)
            agreement = (label_map[mask] == ann["category_id"]).mean()
            assert agreement > 0.9
            poly = np.asarray(ann["segmentation"][0]).reshape(-1, 2)
            x, y, w, h = ann["bbox"]
            np.testing.assert_allclose([x, y, x + w, y + h], [*poly.min(0), *poly.max(0)], atol=0.01)
            kps = np.asarray(ann["keypoints"]).reshape(-1, 3)
            visible = kps[:, 2] > 0
            # labelled keypoints sit on polygon vertices
            dist = np.abs(kps[visible, None, :2] - poly[None]).sum(-1).min(1)
            assert (dist < 0.05).all()
            name = categories[ann["category_id"]]
            assert visible.sum() == (3 if name == "triangle" else 4)
            if name == "triangle":
                assert not visible[2]  # no "bottom" corner


def test_register_shapes(tmp_path):
    names = register_shapes(tmp_path, prefix="regtest", num_train=2, num_val=1)
    try:
        assert names == ["regtest_train", "regtest_train_sem_seg", "regtest_val", "regtest_val_sem_seg"]
        assert register_shapes(tmp_path, prefix="regtest", num_train=2, num_val=1) == names  # no-op
        meta = MetadataCatalog.get("regtest_train")
        assert meta.evaluator_type == "coco"
        assert meta.keypoint_flip_map == [["left", "right"]]
        assert len(DatasetCatalog.get("regtest_val")) == 1
        assert meta.thing_classes == ["square", "triangle", "ellipse"]
        sem = DatasetCatalog.get("regtest_val_sem_seg")
        assert len(sem) == 1 and sem[0]["sem_seg_file_name"].endswith("00001.png")
        with pytest.raises(KeyError, match="already registered"):
            register_shapes(tmp_path / "other", prefix="regtest", num_train=2, num_val=1)
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
