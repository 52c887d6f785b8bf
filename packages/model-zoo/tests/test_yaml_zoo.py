"""Every YAML model of detectron2's zoo builds with detectron2's exact state_dict keys and shapes."""

import pytest
import torch
from state_dicts import assert_same_state_dict, table

from modet import model_zoo
from modet.modeling import build_model

YAML_MODELS = sorted(table("zoo_state_dicts"))


def test_the_table_covers_the_zoo():
    shipped = {name for name in model_zoo.available_configs() if name.endswith(".yaml")}
    models = {n for n in shipped if not n.startswith("quick_schedules/") and not n.split("/")[-1].startswith("Base-")}
    assert set(YAML_MODELS) <= models
    assert len(models) == 59


@pytest.mark.parametrize("name", YAML_MODELS)
def test_yaml_config_builds_detectron2s_state_dict(name):
    cfg = model_zoo.get_config(name)
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):  # full widths, no memory and no init time
        model = build_model(cfg)
    assert_same_state_dict(model, table("zoo_state_dicts")[name])


@pytest.mark.parametrize("name", sorted(n for n in model_zoo.available_configs() if n.startswith("quick_schedules/")))
def test_quick_schedules_read(name):
    cfg = model_zoo.get_config(name)
    assert cfg.MODEL.META_ARCHITECTURE in {
        "GeneralizedRCNN",
        "RetinaNet",
        "ProposalNetwork",
        "SemanticSegmentor",
        "PanopticFPN",
    }
    assert cfg.SOLVER.MAX_ITER > 0
