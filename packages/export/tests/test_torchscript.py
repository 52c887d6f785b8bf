import pytest
import torch

from modet.export.torchscript import convert_scripted_instances, patch_instances, scripting_with_instances
from modet.structures import Boxes, Instances


def test_typed_instances_convert_both_ways_with_only_declared_fields():
    orig = Instances((30, 40))
    orig.proposal_boxes = Boxes(torch.rand(3, 4))
    with patch_instances({"proposal_boxes": Boxes, "scores": torch.Tensor}) as TypedInstances:
        typed = TypedInstances.from_instances(orig)
        assert typed.image_size == (30, 40) and len(typed) == 3
        assert typed.proposal_boxes is orig.proposal_boxes and not typed.has("scores")
        with pytest.raises(AttributeError, match="'scores' is not set"):
            _ = typed.scores
        with pytest.raises(AttributeError, match="no field 'masks'"):
            typed.masks = torch.zeros(3, 1, 1)
        back = convert_scripted_instances(typed)
    assert isinstance(back, Instances) and back.image_size == (30, 40)
    assert back.get_fields().keys() == {"proposal_boxes"} and back.proposal_boxes is orig.proposal_boxes
    orig.labels = torch.zeros(3)
    with patch_instances({"proposal_boxes": Boxes}) as TypedInstances, pytest.raises(AttributeError, match="labels"):
        TypedInstances.from_instances(orig)


def test_scripting_is_refused_with_the_supported_ways_named():
    with pytest.raises(NotImplementedError, match="export_program"):
        scripting_with_instances(torch.nn.Linear(2, 2), {"pred_boxes": Boxes})
