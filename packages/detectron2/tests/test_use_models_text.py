"""The code of detectron2's "Use Models" page, taken from the page's text and run on modet-detectron2.

``fixtures/use-models.txt`` is a verbatim copy of the seed's text (``shared/reference/use-models.txt``).
Its code blocks are the paragraphs that are Python; they run in the page's order in one namespace,
as a reader would run them, with what the page leaves to the reader supplied: a config (a
model-zoo Mask R-CNN narrowed to R-18 widths, random weights), a checkpoint file, training
inputs, and for the last block its ``ImageList.from_tensors(...)`` placeholder (preprocessed
images) and inference mode for the model it builds (the page extracts inference-time features).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

TEXT = Path(__file__).parent / "fixtures" / "use-models.txt"


def code_blocks(text: str) -> list[str]:
    """The paragraphs of ``text`` that are Python code (they compile), in order."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text):
        try:
            compile(paragraph, "use-models.txt", "exec")
        except SyntaxError:
            continue
        blocks.append(paragraph)
    return blocks


def _tiny_cfg():
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"))
    cfg.MODEL.DEVICE, cfg.MODEL.WEIGHTS = "cpu", ""
    cfg.MODEL.RESNETS.DEPTH, cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 18, 64
    cfg.MODEL.FPN.OUT_CHANNELS, cfg.MODEL.ROI_BOX_HEAD.FC_DIM, cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 32, 64, 32
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # random weights: keep whatever is detected
    return cfg


def _training_inputs() -> list[dict]:
    from detectron2.structures import BitMasks, Boxes, Instances

    masks = torch.zeros(1, 96, 128, dtype=torch.bool)
    masks[0, 20:60, 30:90] = True
    instances = Instances(
        (96, 128), gt_boxes=Boxes(torch.tensor([[30.0, 20.0, 90.0, 60.0]])), gt_classes=torch.tensor([3])
    )
    instances.gt_masks = BitMasks(masks)
    image = torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return [{"image": image, "instances": instances}]


def test_the_text_has_the_five_code_blocks_of_the_page():
    blocks = code_blocks(TEXT.read_text(encoding="utf-8"))
    assert [b.splitlines()[0] for b in blocks] == [
        "from detectron2.modeling import build_model",
        "from detectron2.checkpoint import DetectionCheckpointer",
        'checkpointer = DetectionCheckpointer(model, save_dir="output")',
        "from detectron2.utils.events import EventStorage",
        "images = ImageList.from_tensors(...)  # preprocessed input tensor",
    ]


def test_the_pages_code_runs_on_modet(tmp_path, monkeypatch):
    from detectron2.structures import ImageList

    import modet.modeling

    build, load, save, train, extract = code_blocks(TEXT.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"cfg": _tiny_cfg()}

    exec(build, namespace)
    model = namespace["model"]
    assert isinstance(model, modet.modeling.GeneralizedRCNN) and namespace["build_model"] is modet.modeling.build_model

    torch.save({"model": {k: torch.full_like(v, 0.25) for k, v in model.state_dict().items()}}, "weights.pth")
    namespace["file_path_or_url"] = "weights.pth"
    exec(load, namespace)
    assert all(torch.all(v == 0.25) for v in model.state_dict().values())

    exec(save, namespace)
    saved = torch.load(tmp_path / "output" / "model_999.pth", weights_only=True)["model"]
    assert saved.keys() == model.state_dict().keys()

    with torch.no_grad():  # random weights of 0.25 give huge activations: start training from fresh ones
        for name, value in namespace["build_model"](namespace["cfg"]).state_dict().items():
            model.state_dict()[name].copy_(value)
    model.train()
    namespace["inputs"] = _training_inputs()
    exec(train, namespace)
    assert {"loss_rpn_cls", "loss_cls", "loss_box_reg", "loss_mask"} <= set(namespace["losses"])
    assert all(torch.isfinite(v) for v in namespace["losses"].values())
    assert "roi_head/num_fg_samples" in namespace["storage"].histories()

    first, *rest = extract.splitlines()
    assert first.startswith("images = ImageList.from_tensors(...)")
    pixels = [x["image"].float() for x in _training_inputs()]
    namespace["ImageList"] = ImageList
    namespace["preprocessed"] = [(x - model.pixel_mean) / model.pixel_std for x in pixels]
    filled = first.replace("(...)", "(preprocessed, 32)", 1)
    build_line, *after_build = rest
    with torch.no_grad():
        exec("\n".join([filled, build_line, "model.eval()", *after_build]), namespace)
    instances, mask_features = namespace["instances"], namespace["mask_features"]
    assert mask_features.shape == (sum(len(x) for x in instances), 32, 14, 14)
