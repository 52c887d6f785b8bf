"""A user's script: detectron2's zoo config, the user's changes on top, and the plugin's head."""

from modet import model_zoo
from modet.core.config import get_cfg
from modet.modeling import build_model

cfg = get_cfg()
cfg.merge_from_file(model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"))
cfg.merge_from_file("configs/faster_rcnn_R_50_FPN_example_head.yaml")  # only what you change
cfg.MODEL.DEVICE = "cpu"
model = build_model(cfg)  # no import of the plugin: installing it is enough
print(type(model.roi_heads.box_head).__name__, model.roi_heads.box_head.output_shape)
