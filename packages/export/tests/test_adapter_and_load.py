"""TracingAdapter's flat form and schema, load()'s checks, and clear export errors, on small models."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from modet.export import ExportError, TracingAdapter, export_program, load, min_image_side, unflatten_outputs
from modet.structures import Boxes, Instances
from modet_test_support.parity import build_parity_model, load_inputs


class TinySegmentor(nn.Module):
    """list[dict] in, [{"sem_seg": (2, height, width)}] out; ``head`` may take a data-dependent branch."""

    def __init__(self, data_dependent: bool = False):
        super().__init__()
        self.head = TinyHead(data_dependent)

    def forward(self, batched_inputs):
        outputs = []
        for item in batched_inputs:
            logits = self.head(item["image"].float()[None])
            size = (item.get("height", logits.shape[-2]), item.get("width", logits.shape[-1]))
            outputs.append({"sem_seg": nn.functional.interpolate(logits, size=size, mode="bilinear")[0]})
        return outputs


class TinyHead(nn.Module):
    def __init__(self, data_dependent: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.data_dependent = data_dependent

    def forward(self, x):
        x = self.conv(x)
        if self.data_dependent and x.mean() > 0:  # a Python branch on a tensor's value
            x = -x
        return x


def test_adapter_flattens_and_the_schema_rebuilds_the_output():
    model = build_parity_model("mask_rcnn_R_50_FPN")
    x = load_inputs()[1]  # its height/width (400x592) differ from the image (200x296)
    adapter = TracingAdapter(model, [x])
    image, height, width = adapter.flattened_inputs
    assert (height.item(), width.item()) == (x["height"], x["width"]) and image is x["image"]
    with torch.no_grad():
        flat = adapter(*adapter.flattened_inputs)
        expected = model([dict(x)])[0]["instances"]
    schema = adapter.schema()
    assert [e["name"] for e in schema["outputs"]] == [
        "instances.pred_boxes",
        "instances.scores",
        "instances.pred_classes",
        "instances.pred_masks",
    ]
    assert schema["inputs"][0] == {"name": "image", "dtype": "uint8", "shape": [3, "H", "W"]}
    rebuilt = unflatten_outputs(schema, flat, (x["height"], x["width"]))["instances"]
    assert isinstance(rebuilt, Instances) and isinstance(rebuilt.pred_boxes, Boxes)
    assert rebuilt.image_size == expected.image_size == (400, 592)
    for field in ("pred_boxes", "scores", "pred_classes", "pred_masks"):
        a, b = rebuilt.get(field), expected.get(field)
        assert torch.equal(getattr(a, "tensor", a), getattr(b, "tensor", b)), field


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([], "one dict"),
        ([{"image": torch.zeros(3, 8, 8)}, {"image": torch.zeros(3, 8, 8)}], "one dict"),
        ([{"image": torch.zeros(8, 8)}], r"\(C, H, W\) tensor"),
        ([{"image": torch.zeros(3, 8, 8), "instances": None}], r"keys \['instances'\]"),
    ],
)
def test_adapter_refuses_inputs_it_cannot_flatten(inputs, message):
    with pytest.raises(ValueError, match=message):
        TracingAdapter(TinySegmentor(), inputs)


def test_export_and_load_a_small_model_at_other_sizes(tmp_path):
    model = TinySegmentor().eval()
    path = tmp_path / "seg.pt2"
    export_program(model, [{"image": torch.rand(3, 40, 50)}], path)
    schema = json.loads((tmp_path / "seg.pt2.schema.json").read_text())
    assert schema["runtime"] == "torch.export" and schema["min_image_side"] == min_image_side(model) == 33
    exported = load(path)
    image = torch.rand(3, 61, 47)
    (out,) = exported([{"image": image, "height": 30, "width": 20}])
    with torch.no_grad():
        (expected,) = model([{"image": image, "height": 30, "width": 20}])
    torch.testing.assert_close(out["sem_seg"], expected["sem_seg"])
    with pytest.raises(ValueError, match=r"batched_inputs\[0\]\['height'\] must be a positive int"):
        exported([{"image": image, "height": 0}])
    with pytest.raises(ValueError, match=r"must be a \(3, H, W\) tensor"):
        exported([{"image": torch.rand(1, 40, 40)}])


def test_an_unexportable_model_names_the_operation_and_the_module(tmp_path):
    with pytest.raises(ExportError) as info:
        export_program(
            TinySegmentor(data_dependent=True).eval(), [{"image": torch.rand(3, 40, 50)}], tmp_path / "x.pt2"
        )
    message = str(info.value)
    assert "TinySegmentor cannot be exported (torch.export)" in message
    assert "`if self.data_dependent and x.mean() > 0:" in message
    assert "in module head (TinyHead)" in message
    assert not (tmp_path / "x.pt2").exists()  # nothing half-written


def test_export_refuses_a_training_model_and_a_too_small_sample(tmp_path):
    with pytest.raises(ValueError, match="training mode"):
        export_program(TinySegmentor().train(), [{"image": torch.rand(3, 40, 40)}], tmp_path / "x.pt2")
    with pytest.raises(ValueError, match=r"sides must lie in \[33, 8192\]"):
        export_program(TinySegmentor().eval(), [{"image": torch.rand(3, 20, 40)}], tmp_path / "x.pt2")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no exported model"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(FileNotFoundError, match="model.onnx.schema.json is missing"):
        load(tmp_path / "model.onnx")
    (tmp_path / "model.onnx.schema.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a modet export schema"):
        load(tmp_path / "model.onnx")
