"""get_config_file / get_config / get / get_checkpoint_url, as detectron2's model_zoo."""

import pytest

from modet import model_zoo
from modet.modeling import FPN, GeneralizedRCNN

URL = "https://dl.fbaipublicfiles.com/detectron2/"


@pytest.mark.parametrize(
    ("name", "expected_arch", "url_end"),
    [
        ("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml", "GeneralizedRCNN", "137849600/model_final_f10217.pkl"),
        ("COCO-Detection/retinanet_R_50_FPN_1x.yaml", "RetinaNet", "190397773/model_final_bfca0b.pkl"),
        ("COCO-Detection/rpn_R_50_FPN_1x.yaml", "ProposalNetwork", "137258492/model_final_02ce48.pkl"),
        ("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml", "GeneralizedRCNN", "137261548/model_final_04e291.pkl"),
    ],
)
def test_yaml_configs_and_their_trained_weights(name, expected_arch, url_end):
    cfg = model_zoo.get_config(name)
    assert expected_arch == cfg.MODEL.META_ARCHITECTURE
    assert cfg.MODEL.WEIGHTS == "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
    assert cfg.INPUT.MIN_SIZE_TRAIN == (640, 672, 704, 736, 768, 800)
    trained = model_zoo.get_config(name, trained=True)
    expected_url = URL + name.replace(".yaml", "") + "/" + url_end
    assert trained.MODEL.WEIGHTS == model_zoo.get_checkpoint_url(name) == expected_url


def test_yaml_values_through_base_files():
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    assert cfg.MODEL.MASK_ON is True
    assert cfg.MODEL.RPN.IN_FEATURES == ["p2", "p3", "p4", "p5", "p6"]
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[32], [64], [128], [256], [512]]
    assert cfg.SOLVER.STEPS == (210000, 250000) and cfg.SOLVER.MAX_ITER == 270000
    retinanet = model_zoo.get_config("COCO-Detection/retinanet_R_50_FPN_1x.yaml")
    # the !!python/object/apply:eval tag of Base-RetinaNet.yaml, evaluated safely by modet-core
    assert retinanet.MODEL.ANCHOR_GENERATOR.SIZES[1] == pytest.approx([64, 64 * 2 ** (1 / 3), 64 * 2 ** (2 / 3)])
    keypoint = model_zoo.get_config("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml")
    assert (keypoint.MODEL.KEYPOINT_ON, keypoint.MODEL.ROI_HEADS.NUM_CLASSES) == (True, 1)
    assert keypoint.MODEL.RPN.POST_NMS_TOPK_TRAIN == 1500
    voc = model_zoo.get_config("PascalVOC-Detection/faster_rcnn_R_50_FPN.yaml")
    assert voc.DATASETS.TRAIN == ("voc_2007_trainval", "voc_2012_trainval") and voc.MODEL.ROI_HEADS.NUM_CLASSES == 20
    lvis = model_zoo.get_config("LVISv1-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml")
    assert lvis.MODEL.ROI_HEADS.NUM_CLASSES == 1203
    cascade = model_zoo.get_config("Misc/cascade_mask_rcnn_X_152_32x8d_FPN_IN5k_gn_dconv.yaml")
    assert (cascade.MODEL.RESNETS.DEPTH, cascade.MODEL.RESNETS.NUM_GROUPS) == (152, 32)
    assert cascade.MODEL.RESNETS.DEFORM_ON_PER_STAGE == [False, True, True, True]


def test_every_released_model_has_its_url():
    assert len(model_zoo.model_zoo.CONFIG_PATH_TO_URL_SUFFIX) == 64
    assert (
        model_zoo.get_checkpoint_url("Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.yaml")
        == model_zoo.get_checkpoint_url("Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.py")
        == URL + "Misc/scratch_mask_rcnn_R_50_FPN_3x_gn/138602908/model_final_01ca85.pkl"
    )
    assert (
        model_zoo.get_checkpoint_url("new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ.py")
        == URL + "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ/42045954/model_final_ef3a80.pkl"
    )
    shipped = {name.rsplit(".", 1)[0] for name in model_zoo.available_configs()}
    released = set(model_zoo.model_zoo.CONFIG_PATH_TO_URL_SUFFIX)
    assert {name for name in released if not name.startswith("new_baselines/")} <= shipped


def test_unknown_names():
    with pytest.raises(
        RuntimeError, match=r"not available in Model Zoo! Did you mean COCO-Detection/rpn_R_50_FPN_1x.yaml"
    ):
        model_zoo.get_config_file("COCO-Detection/rpn_R_50_FPN_1x.yml")
    with pytest.raises(RuntimeError, match="Invalid/config.yaml not available in Model Zoo"):
        model_zoo.get("Invalid/config.yaml")
    with pytest.raises(RuntimeError, match="Pretrained model for Misc/semantic_R_50_FPN_1x.yaml is not available"):
        model_zoo.get_checkpoint_url("Misc/semantic_R_50_FPN_1x.yaml")
    with pytest.raises(RuntimeError, match="not available"):
        model_zoo.get_config("Misc/semantic_R_50_FPN_1x.yaml", trained=True)


def test_get_builds_a_model_in_training_mode():
    model = model_zoo.get("Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.yaml", device="cpu")  # no weights to load
    assert isinstance(model, GeneralizedRCNN) and isinstance(model.backbone, FPN)
    assert model.training
    assert next(model.parameters()).device.type == "cpu"
