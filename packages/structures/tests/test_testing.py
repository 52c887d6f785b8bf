import types

import pytest
import torch

from modet.structures import Boxes, Instances
from modet.structures.testing import (
    assert_instances_allclose,
    convert_scripted_instances,
    random_boxes,
    reload_script_model,
)


def test_random_boxes_are_valid_and_bounded():
    torch.manual_seed(0)
    boxes = random_boxes(1000, max_coord=50)
    assert boxes.shape == (1000, 4) and boxes.dtype == torch.float32
    assert (boxes[:, :2] >= 1.0).all()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
    assert (boxes < 50).all()


def _instances(scale: float = 1.0) -> Instances:
    return Instances(
        (10, 20),
        pred_boxes=Boxes(torch.tensor([[1.0, 2.0, 3.0, 4.0]]) * scale),
        scores=torch.tensor([0.5]) * scale,
        pred_classes=torch.tensor([3]),
    )


def test_assert_instances_allclose_accepts_equal_and_rejects_different():
    assert_instances_allclose(_instances(), _instances(1.0 + 1e-7))
    with pytest.raises(AssertionError, match="Field pred_boxes differs too much"):
        assert_instances_allclose(_instances(), _instances(1.5))
    other = _instances()
    other.pred_classes = torch.tensor([4])
    with pytest.raises(AssertionError, match="Field pred_classes is different"):
        assert_instances_allclose(_instances(), other)
    other.remove("pred_classes")
    with pytest.raises(AssertionError, match="Fields are"):
        assert_instances_allclose(_instances(), other)
    with pytest.raises(AssertionError, match=r"^check image_size is \(10, 20\) vs. \(10, 21\)"):
        assert_instances_allclose(_instances(), Instances((10, 21)), msg="check")
    assert_instances_allclose(_instances(), _instances(), size_as_tensor=True)


def test_convert_scripted_instances_reads_the_scripted_layout():
    scripted = types.SimpleNamespace(
        image_size=(10, 20), _field_names=["scores", "pred_masks"], _scores=torch.tensor([0.5]), _pred_masks=None
    )
    plain = convert_scripted_instances(scripted)
    assert isinstance(plain, Instances) and plain.image_size == (10, 20)
    assert list(plain.get_fields()) == ["scores"]  # unset (None) fields are left out
    with pytest.raises(TypeError, match="image_size"):
        convert_scripted_instances(object())


def test_reload_script_model_round_trips():
    module = torch.jit.script(torch.nn.Linear(3, 2))
    reloaded = reload_script_model(module)
    x = torch.randn(4, 3)
    assert torch.equal(reloaded(x), module(x))
