import pytest

from modet.core.config import CfgNode, downgrade_config, upgrade_config
from modet.core.config.compat import guess_version


@pytest.fixture
def full_cfg():
    """The keys the version converters touch, with detectron2's defaults."""
    cfg = CfgNode()
    cfg.VERSION = 2
    cfg.MODEL = CfgNode()
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.ANCHOR_GENERATOR = CfgNode({"SIZES": [[32, 64, 128, 256, 512]], "ASPECT_RATIOS": [[0.5, 1.0, 2.0]]})
    cfg.MODEL.RPN = CfgNode({"HEAD_NAME": "StandardRPNHead", "LOSS_WEIGHT": 1.0})
    cfg.MODEL.RETINANET = CfgNode({"SCORE_THRESH_TEST": 0.05, "TOPK_CANDIDATES_TEST": 1000, "NMS_THRESH_TEST": 0.5})
    cfg.MODEL.ROI_HEADS = CfgNode({"SCORE_THRESH_TEST": 0.05, "NMS_THRESH_TEST": 0.5})
    cfg.MODEL.SEM_SEG_HEAD = CfgNode({"LOSS_WEIGHT": 1.0})
    cfg.MODEL.PANOPTIC_FPN = CfgNode(
        {
            "INSTANCE_LOSS_WEIGHT": 1.0,
            "COMBINE": CfgNode(
                {"ENABLED": True, "OVERLAP_THRESH": 0.5, "STUFF_AREA_LIMIT": 4096, "INSTANCES_CONFIDENCE_THRESH": 0.5}
            ),
        }
    )
    cfg.TEST = CfgNode({"DETECTIONS_PER_IMAGE": 100})
    cfg.TEST.AUG = CfgNode({"ENABLED": False, "MIN_SIZES": (400, 500), "MAX_SIZE": 4000, "FLIP": True})
    cfg.USER_CUSTOM = 1
    return cfg


def test_downgrade_then_upgrade_is_identity(full_cfg):
    v0 = downgrade_config(full_cfg, to_version=0)
    assert v0.VERSION == 0
    assert v0.MODEL.RPN_HEAD.NAME == "StandardRPNHead"
    assert v0.MODEL.WEIGHT == ""
    assert v0.TEST.AUG_MIN_SIZES == (400, 500) and "AUG" not in v0.TEST
    assert v0.MODEL.RETINANET.ANCHOR_SIZES == [[32, 64, 128, 256, 512]]
    assert "ANCHOR_GENERATOR" not in v0.MODEL
    assert upgrade_config(v0) == full_cfg
    assert full_cfg.VERSION == 2  # converters work on copies


def test_upgrade_of_retinanet_takes_its_own_anchors(full_cfg):
    full_cfg.MODEL.META_ARCHITECTURE = "RetinaNet"
    v1 = downgrade_config(full_cfg, to_version=1)
    v1.MODEL.RETINANET.ANCHOR_SIZES = [[8, 16]]
    v1.MODEL.RPN.ANCHOR_SIZES = [[999]]
    assert upgrade_config(v1).MODEL.ANCHOR_GENERATOR.SIZES == [[8, 16]]


def test_versions_out_of_range_are_refused(full_cfg):
    with pytest.raises(ValueError, match="Cannot downgrade from v2 to v3"):
        downgrade_config(full_cfg, to_version=3)
    with pytest.raises(ValueError, match="Cannot upgrade from v2 to v1"):
        upgrade_config(full_cfg, to_version=1)


def test_partial_config_cannot_be_converted():
    with pytest.raises(KeyError, match="no key TEST.AUG.FLIP: version conversion needs a full config"):
        downgrade_config(CfgNode({"VERSION": 2, "MODEL": CfgNode()}), to_version=0)


def test_old_files_are_merged_through_their_version(tmp_path, full_cfg):
    v0 = tmp_path / "v0.yaml"
    v0.write_text('MODEL:\n  RPN_HEAD:\n    NAME: "TEST"\nVERSION: 0\n')
    cfg = full_cfg.clone()
    cfg.merge_from_file(v0)
    assert cfg.MODEL.RPN.HEAD_NAME == "TEST"
    assert cfg.VERSION == 2 and cfg.USER_CUSTOM == 1

    v1 = tmp_path / "v1.yaml"  # no VERSION: guessed from MODEL.WEIGHT
    v1.write_text('MODEL:\n  WEIGHT: "/path/to/weight"\nTEST:\n  DETECTIONS_PER_IMG: 7\n')
    cfg = full_cfg.clone()
    cfg.merge_from_file(v1)
    assert cfg.MODEL.WEIGHTS == "/path/to/weight" and cfg.TEST.DETECTIONS_PER_IMAGE == 7
    assert cfg.VERSION == 2


def test_guess_version():
    assert guess_version(CfgNode({"MODEL": CfgNode({"WEIGHT": "x"})}), "f.yaml") == 1
    assert guess_version(CfgNode({"TEST": CfgNode({"AUG_ON": True})}), "f.yaml") == 1
    assert guess_version(CfgNode({"MODEL": CfgNode({"WEIGHTS": "x"})}), "f.yaml") == 2
