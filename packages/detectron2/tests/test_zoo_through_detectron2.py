"""Every model of detectron2's zoo builds through the drop-in's own names (``detectron2.config``,
``detectron2.model_zoo``, ``detectron2.modeling``, LazyConfig's ``instantiate``) with exactly the
``state_dict`` keys and shapes detectron2's build gives: 59 YAML and 22 LazyConfig models.

The tables detectron2 recorded live with modet-model-zoo's tests (``tests/fixtures`` there); this
test reads them from the repository.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import pytest
import torch
from detectron2 import model_zoo
from detectron2.config import LazyConfig, get_cfg, instantiate
from detectron2.modeling import build_model

TABLES = Path(__file__).resolve().parents[2] / "model-zoo" / "tests" / "fixtures"


@cache
def _table(name: str) -> dict[str, dict]:
    return json.loads(gzip.decompress((TABLES / f"{name}.json.gz").read_bytes()))


def _assert_detectron2s_state_dict(model: torch.nn.Module, expected: dict) -> None:
    own = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert own == expected["state_dict"], (
        f"missing {sorted(set(expected['state_dict']) - set(own))[:5]}, "
        f"extra {sorted(set(own) - set(expected['state_dict']))[:5]}"
    )


def test_the_tables_hold_the_whole_zoo():
    assert len(_table("zoo_state_dicts")) == 59 and len(_table("zoo_lazy_state_dicts")) == 22


@pytest.mark.parametrize("name", sorted(_table("zoo_state_dicts")))
def test_yaml_model_through_detectron2_config(name):
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(name))
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):  # full widths, no memory
        model = build_model(cfg)
    _assert_detectron2s_state_dict(model, _table("zoo_state_dicts")[name])


@pytest.mark.parametrize("name", sorted(_table("zoo_lazy_state_dicts")))
def test_lazy_model_through_detectron2_lazyconfig(name):
    cfg = LazyConfig.load(model_zoo.get_config_file(name))  # a .py config: loading runs its code
    with torch.device("meta"):
        model = instantiate(cfg.model)
    _assert_detectron2s_state_dict(model, _table("zoo_lazy_state_dicts")[name])
