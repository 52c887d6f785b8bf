"""MODEL/INPUT/TEST defaults equal detectron2's (values and tuple-vs-list types); model-zoo configs resolve."""

from pathlib import Path

import pytest
import yaml

from modet.core.config import CfgNode, get_cfg
from modet.modeling import model_zoo
from modet.modeling.config import add_modeling_config

DEFAULTS = Path(__file__).parent / "fixtures" / "detectron2-defaults.yaml"


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("section", ["MODEL", "INPUT", "TEST"])
def test_defaults_equal_detectron2(section):
    reference = yaml.safe_load(DEFAULTS.read_text())[section]
    own = CfgNode()
    add_modeling_config(own)
    assert _plain(yaml.safe_load(own[section].dump())) == _plain(reference)
    # get_cfg() (every installed plugin) keeps all of them; plugins may only add keys of their own.
    merged = yaml.safe_load(get_cfg()[section].dump())
    assert {k: merged[k] for k in reference} == reference


def test_tuples_where_detectron2_uses_tuples():
    cfg = get_cfg()
    assert cfg.INPUT.MIN_SIZE_TRAIN == (800,)
    assert cfg.TEST.AUG.MIN_SIZES == (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
    assert cfg.MODEL.RPN.BBOX_REG_WEIGHTS == (1.0, 1.0, 1.0, 1.0)
    assert cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS == (10.0, 10.0, 5.0, 5.0)
    assert cfg.MODEL.ROI_BOX_CASCADE_HEAD.IOUS == (0.5, 0.6, 0.7)
    assert cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS == (512,) * 8
    assert isinstance(cfg.MODEL.PIXEL_MEAN, list)
    assert isinstance(cfg.MODEL.RPN.IN_FEATURES, list)


@pytest.mark.parametrize(
    ("name", "expected_arch", "url_end"),
    [
        ("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml", "GeneralizedRCNN", "137849600/model_final_f10217.pkl"),
        ("COCO-Detection/retinanet_R_50_FPN_1x.yaml", "RetinaNet", "190397773/model_final_bfca0b.pkl"),
        ("COCO-Detection/rpn_R_50_FPN_1x.yaml", "ProposalNetwork", "137258492/model_final_02ce48.pkl"),
        ("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml", "GeneralizedRCNN", "137261548/model_final_04e291.pkl"),
    ],
)
def test_model_zoo_configs(name, expected_arch, url_end):
    cfg = model_zoo.get_config(name)
    assert expected_arch == cfg.MODEL.META_ARCHITECTURE
    assert cfg.MODEL.WEIGHTS == "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
    assert cfg.INPUT.MIN_SIZE_TRAIN == (640, 672, 704, 736, 768, 800)
    trained = model_zoo.get_config(name, trained=True)
    expected_url = "https://dl.fbaipublicfiles.com/detectron2/" + name.replace(".yaml", "") + "/" + url_end
    assert trained.MODEL.WEIGHTS == model_zoo.get_checkpoint_url(name) == expected_url


def test_model_zoo_file_contents():
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    assert cfg.MODEL.MASK_ON is True
    assert cfg.MODEL.RPN.IN_FEATURES == ["p2", "p3", "p4", "p5", "p6"]
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[32], [64], [128], [256], [512]]
    retinanet = model_zoo.get_config("COCO-Detection/retinanet_R_50_FPN_1x.yaml")
    # The !!python/object/apply:eval tag of Base-RetinaNet.yaml, evaluated safely by modet-core.
    assert retinanet.MODEL.ANCHOR_GENERATOR.SIZES[1] == pytest.approx([64, 64 * 2 ** (1 / 3), 64 * 2 ** (2 / 3)])
    keypoint = model_zoo.get_config("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml")
    assert (keypoint.MODEL.KEYPOINT_ON, keypoint.MODEL.ROI_HEADS.NUM_CLASSES) == (True, 1)
    assert keypoint.MODEL.RPN.POST_NMS_TOPK_TRAIN == 1500


def test_model_zoo_unknown_names():
    with pytest.raises(RuntimeError, match="not available in Model Zoo"):
        model_zoo.get_config_file("COCO-Detection/nonexistent.yaml")
    with pytest.raises(RuntimeError, match="not available"):
        model_zoo.get_checkpoint_url("Misc/semantic_R_50_FPN_1x.yaml")
