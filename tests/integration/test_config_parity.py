"""get_cfg() with every package installed equals detectron2's defaults, and detectron2's
model-zoo YAMLs merge to exactly the config dumps detectron2 wrote for the parity cases."""

import json
from pathlib import Path

import pytest
import yaml

from modet.core import get_cfg, list_plugins, plugins
from modet.core.config import config_key_owners
from modet.core.config.absent import FAMILY_KEYS, family_owner
from modet_test_support.parity import FIXTURES as PARITY

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.parent.name for p in PARITY.glob("*/case.json"))

# The "tiny" overrides every parity case was made with (shared/parity/README.md).
TINY_OVERRIDES = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "16",
    "MODEL.RESNETS.RES2_OUT_CHANNELS", "32",
    "MODEL.RESNETS.WIDTH_PER_GROUP", "8",
    "MODEL.FPN.OUT_CHANNELS", "32",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    "MODEL.ROI_BOX_HEAD.CONV_DIM", "32",
    "MODEL.ROI_MASK_HEAD.CONV_DIM", "32",
    "MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", "(32, 32, 32, 32, 32, 32, 32, 32)",
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", "32",
    "TEST.DETECTIONS_PER_IMAGE", "20",
    "MODEL.WEIGHTS", "",
    "MODEL.DEVICE", "cpu",
]  # fmt: skip


MODET_PACKAGES = {
    f"modet-{name}" for name in ("core", "structures", "ops", "modeling", "checkpoint", "engine", "data", "evaluation")
}


@pytest.fixture(autouse=True)
def only_modet_packages(monkeypatch):
    """Plugins add keys of their own; detectron2's defaults are those of the packages alone."""
    third_party = [info.name for info in list_plugins() if info.distribution not in MODET_PACKAGES]
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, ",".join(third_party))
    plugins.reset_plugin_manager()
    yield
    monkeypatch.delenv(plugins.BLOCKED_PLUGINS_ENV)
    plugins.reset_plugin_manager()


def as_plain(cfg) -> dict:
    """What detectron2's cfg.dump() writes, read back: tuples become lists."""
    return yaml.safe_load(cfg.dump())


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_get_cfg_equals_detectron2_defaults():
    expected = flat(yaml.safe_load((FIXTURES / "detectron2-defaults.yaml").read_text()))
    actual = flat(as_plain(get_cfg()))
    assert sorted(set(expected) - set(actual)) == []
    assert sorted(set(actual) - set(expected)) == []
    assert {k: v for k, v in actual.items() if v != expected[k]} == {}


def test_each_key_lives_where_absent_packages_are_looked_up():
    """config.absent.FAMILY_KEYS (which modet package defines which key prefix, used to carry
    the keys of packages that are not installed) agrees with who really defines each key."""
    leaves = set(flat(as_plain(get_cfg())))
    owners = {key: owner for key, owner in config_key_owners().items() if key in leaves}
    wrong = {
        key: (owner.distribution, family_owner(key))
        for key, owner in owners.items()
        if owner.distribution != "modet-core" and family_owner(key) != owner.distribution
    }
    assert wrong == {}
    defined_by = {owner.distribution for owner in owners.values()}
    assert set(FAMILY_KEYS.values()) <= defined_by
    for prefix, distribution in FAMILY_KEYS.items():
        assert any(
            (key == prefix or key.startswith(prefix + ".")) and owner.distribution == distribution
            for key, owner in owners.items()
        ), prefix


@pytest.mark.parametrize("case", CASES)
def test_detectron2_yaml_merges_to_the_parity_dump(case):
    config_name = json.loads((PARITY / case / "case.json").read_text())["config"]
    cfg = get_cfg()
    cfg.merge_from_file(FIXTURES / "detectron2-configs" / config_name)
    cfg.merge_from_list(TINY_OVERRIDES)
    expected = flat(yaml.safe_load((PARITY / case / "config.yaml").read_text()))
    actual = flat(as_plain(cfg))
    assert sorted(set(expected) ^ set(actual)) == []
    assert {k: (v, expected[k]) for k, v in actual.items() if v != expected[k]} == {}
