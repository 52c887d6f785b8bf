import json
import os

import numpy as np
import pytest
from PIL import Image

from modet.data import DatasetCatalog, MetadataCatalog


@pytest.fixture
def fresh_catalogs():
    """Remove datasets a test registers, so tests stay independent."""
    before_data, before_meta = set(DatasetCatalog), set(MetadataCatalog)
    yield
    for name in set(DatasetCatalog) - before_data:
        DatasetCatalog.remove(name)
    for name in set(MetadataCatalog) - before_meta:
        MetadataCatalog.remove(name)


def write_image(path, height, width, seed=0):
    rng = np.random.RandomState(seed)
    Image.fromarray(rng.randint(0, 255, size=(height, width, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def small_coco(tmp_path):
    """A hand-written COCO json: XYWH boxes, polygons, RLE (compressed and not), crowd, keypoints,
    category ids 3 and 7 (not contiguous), two images."""
    write_image(tmp_path / "a.png", 40, 60, seed=1)
    write_image(tmp_path / "b.png", 30, 20, seed=2)
    coco = {
        "images": [
            {"id": 5, "file_name": "a.png", "height": 40, "width": 60},
            {"id": 9, "file_name": "b.png", "height": 30, "width": 20},
        ],
        "categories": [
            {"id": 7, "name": "dog", "keypoints": ["left", "right"]},
            {"id": 3, "name": "cat", "keypoints": ["left", "right"]},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 5,
                "category_id": 3,
                "bbox": [10, 5, 20, 10],
                "area": 200,
                "iscrowd": 0,
                "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]],
                "keypoints": [12, 6, 2, 28, 14, 1],
                "num_keypoints": 2,
            },
            {
                "id": 2,
                "image_id": 5,
                "category_id": 7,
                "bbox": [40, 20, 10, 10],
                "area": 100,
                "iscrowd": 1,
                # uncompressed RLE, column-major counts over a 40x60 image
                "segmentation": {"size": [40, 60], "counts": [40 * 40 + 20, 10, 30, 10, 40 * 60 - 1600 - 70]},
                "keypoints": [0, 0, 0, 0, 0, 0],
                "num_keypoints": 0,
            },
            {
                "id": 3,
                "image_id": 9,
                "category_id": 7,
                "bbox": [2, 3, 4, 5],
                "area": 20,
                "iscrowd": 0,
                # two polygons, one of them invalid (4 numbers) and dropped
                "segmentation": [[2, 3, 6, 3, 6, 8, 2, 8], [1, 1, 2, 2]],
                "keypoints": [3, 4, 2, 0, 0, 0],
                "num_keypoints": 1,
            },
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return str(path), str(tmp_path), coco


@pytest.fixture
def write_coco(tmp_path):
    def write(coco, name="bad.json"):
        path = os.path.join(tmp_path, name)
        with open(path, "w") as f:
            json.dump(coco, f)
        return path

    return write
