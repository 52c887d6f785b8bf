"""MODEL/TEST defaults equal detectron2's (values and tuple-vs-list types)."""

from pathlib import Path

import pytest
import yaml

from modet.core.config import CfgNode, get_cfg
from modet.modeling.config import add_modeling_config

DEFAULTS = Path(__file__).parent / "fixtures" / "detectron2-defaults.yaml"


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flat(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# detectron2's MODEL.*/TEST.* keys that packages other than modet-modeling define, because
# modeling is not the lowest package all their readers depend on (modet-core's README).
DEFINED_ELSEWHERE = {
    "MODEL.MASK_ON",  # modet-core: modeling and data read it
    "MODEL.KEYPOINT_ON",  # modet-core
    "MODEL.LOAD_PROPOSALS",  # modet-data reads it
    "MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE",  # modet-data
    "TEST.EVAL_PERIOD",  # modet-engine
    "TEST.PRECISE_BN.ENABLED",  # modet-engine
    "TEST.PRECISE_BN.NUM_ITER",  # modet-engine
    "TEST.EXPECTED_RESULTS",  # modet-evaluation
    "TEST.KEYPOINT_OKS_SIGMAS",  # modet-evaluation
}


def test_defaults_equal_detectron2():
    reference = _flat(_plain(yaml.safe_load(DEFAULTS.read_text())))
    own = CfgNode()
    add_modeling_config(own)
    own_keys = _flat(_plain(yaml.safe_load(own.dump())))
    assert {k: reference.get(k, "missing in detectron2") for k in own_keys} == own_keys
    expected = {k for k in reference if k.split(".")[0] in ("MODEL", "TEST")} - DEFINED_ELSEWHERE
    assert set(own_keys) == expected
    # get_cfg() (every installed plugin) keeps all of them; plugins may only add keys of their own.
    merged = _flat(_plain(yaml.safe_load(get_cfg().dump())))
    assert {k: merged[k] for k in own_keys} == own_keys


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("MODEL.ROI_HEADS.NUM_CLASSES", "-3", "must be >= 1"),
        ("MODEL.RETINANET.NUM_CLASSES", "0", "must be >= 1"),
        ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.5", "must be <= 1.0"),
        ("MODEL.RESNETS.DEPTH", "51", "must be one of 18, 34, 50, 101, 152"),
        ("MODEL.BACKBONE.FREEZE_AT", "7", "must be <= 5"),
        ("MODEL.ANCHOR_GENERATOR.SIZES", "[[32, -64]]", "has an item -64 that must be >= 0.0"),
    ],
)
def test_values_a_user_gets_wrong_are_refused_when_merged(tmp_path, key, value, problem):
    from modet.core.config import ConfigValueError

    cfg = get_cfg()
    with pytest.raises(ConfigValueError, match=f"config key {key} = .* is invalid: it {problem}"):
        cfg.merge_from_list([key, value])
    section, leaf = key.rsplit(".", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_nest(section, {leaf: yaml.safe_load(value)})))
    with pytest.raises(ConfigValueError, match=f"bad.yaml: config key {key} = "):
        cfg.merge_from_file(path)
    assert cfg == get_cfg()


def _nest(dotted, leaf):
    for part in reversed(dotted.split(".")):
        leaf = {part: leaf}
    return leaf


def test_tuples_where_detectron2_uses_tuples():
    cfg = get_cfg()
    assert cfg.TEST.AUG.MIN_SIZES == (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
    assert cfg.MODEL.RPN.BBOX_REG_WEIGHTS == (1.0, 1.0, 1.0, 1.0)
    assert cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS == (10.0, 10.0, 5.0, 5.0)
    assert cfg.MODEL.ROI_BOX_CASCADE_HEAD.IOUS == (0.5, 0.6, 0.7)
    assert cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS == (512,) * 8
    assert isinstance(cfg.MODEL.PIXEL_MEAN, list)
    assert isinstance(cfg.MODEL.RPN.IN_FEATURES, list)
