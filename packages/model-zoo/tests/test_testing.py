import pytest
import torch

from modet.model_zoo.testing import get_model_no_weights
from modet.modeling import GeneralizedRCNN, ProposalNetwork


def test_get_model_no_weights_builds_yaml_and_lazy_configs_without_loading():
    model = get_model_no_weights("COCO-Detection/rpn_R_50_FPN_1x.yaml")
    assert isinstance(model, ProposalNetwork)
    assert next(model.parameters()).device == torch.device("cpu")
    lazy = get_model_no_weights("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py")
    assert isinstance(lazy, GeneralizedRCNN) and lazy.roi_heads.mask_head is not None


def test_get_model_no_weights_names_an_unknown_config():
    with pytest.raises(RuntimeError, match="no_such_model"):
        get_model_no_weights("COCO-Detection/no_such_model.yaml")
