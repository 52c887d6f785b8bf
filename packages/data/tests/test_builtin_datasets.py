"""detectron2's builtin COCO datasets: names, files and metadata equal detectron2's
(fixtures/coco_builtin_metadata.json, made by fixtures/make_coco_builtin_metadata.py)."""

import json
from pathlib import Path

import pytest

from modet.data import DatasetCatalog, MetadataCatalog
from modet.data.datasets.builtin_meta import COCO_CATEGORIES, builtin_metadata

EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "coco_builtin_metadata.json").read_text())


def plain(value):
    """As the fixture stores it: tuples as lists, dict keys as strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(EXPECTED["full"]))
def test_metadata_equals_detectron2s(name):
    assert plain(MetadataCatalog.get(name).as_dict()) == EXPECTED["full"][name]


def test_every_coco_dataset_has_detectron2s_files():
    # read with DETECTRON2_DATASETS unset, as the fixture was made with the default root "datasets"
    for name, files in EXPECTED["files"].items():
        meta = MetadataCatalog.get(name).as_dict()
        assert {k: meta[k] for k in files} == files, name


def test_dataset_catalog_knows_the_loadable_ones():
    names = set(DatasetCatalog.list())
    standard_panoptic = {n for n in EXPECTED["dataset_names"] if n.endswith("_panoptic")}
    assert set(EXPECTED["dataset_names"]) - standard_panoptic <= names
    assert not standard_panoptic & names  # metadata only: modet has no COCO panoptic json loader
    with pytest.raises(KeyError, match="already registered"):
        DatasetCatalog.register("coco_2017_val", list)


def test_loading_a_builtin_dataset_reads_under_the_datasets_root():
    with pytest.raises(FileNotFoundError, match="datasets/coco/annotations/instances_val2017_100.json"):
        DatasetCatalog.get("coco_2017_val_100")


def test_category_facts():
    assert len(COCO_CATEGORIES) == 133 and sum(c["isthing"] for c in COCO_CATEGORIES) == 80
    coco = builtin_metadata("coco")
    assert coco["thing_classes"][0] == "person" and coco["thing_classes"][-1] == "toothbrush"
    assert coco["thing_dataset_id_to_contiguous_id"][90] == 79
    assert builtin_metadata("coco") is not builtin_metadata("coco")  # fresh each time: callers may mutate
    with pytest.raises(KeyError, match="coco_person"):
        builtin_metadata("lvis")
