import pytest
import torch

from modet.structures import Boxes, Instances, PolygonMasks


def _instances(n: int = 3) -> Instances:
    inst = Instances((20, 30))
    inst.pred_boxes = Boxes(torch.arange(4 * n, dtype=torch.float32).view(n, 4))
    inst.scores = torch.linspace(0.1, 0.9, n)
    inst.labels = list(range(n))
    return inst


def test_fields_by_attribute_and_methods():
    inst = Instances((20, 30), scores=torch.tensor([0.5, 0.7]))
    assert inst.image_size == (20, 30)
    inst.set("pred_classes", torch.tensor([1, 2]))
    assert inst.has("pred_classes") and inst.has("scores") and not inst.has("pred_boxes")
    assert torch.equal(inst.get("pred_classes"), inst.pred_classes)
    assert list(inst.get_fields()) == ["scores", "pred_classes"]
    inst.remove("scores")
    assert not inst.has("scores")
    with pytest.raises(AttributeError, match="Cannot find field 'scores'"):
        _ = inst.scores
    with pytest.raises(KeyError, match="scores"):
        inst.get("scores")
    assert len(inst) == 2


def test_mismatched_field_length_is_a_clear_error():
    inst = _instances(3)
    with pytest.raises(ValueError, match=r"field 'pred_classes' of length 2 to an Instances of length 3"):
        inst.pred_classes = torch.tensor([1, 2])
    with pytest.raises(ValueError, match=r"field 'masks' of length 5 to an Instances of length 3"):
        inst.set("masks", torch.zeros(5, 2, 2))
    with pytest.raises(TypeError, match="'score' must have a length"):
        inst.score = 0.5


def test_indexing_all_fields():
    inst = _instances(4)
    one = inst[1]
    assert len(one) == 1 and one.labels == [1] and torch.equal(one.pred_boxes.tensor, inst.pred_boxes.tensor[1:2])
    assert inst[-1].labels == [3]
    with pytest.raises(IndexError, match="out of range"):
        inst[4]
    inst.remove("labels")  # a list field cannot take tensor indices (as in detectron2)
    sub = inst[inst.scores > 0.5]
    assert len(sub) == 2 and torch.equal(sub.scores, inst.scores[2:])
    sub = inst[torch.tensor([3, 0])]
    assert torch.equal(sub.pred_boxes.tensor, inst.pred_boxes.tensor[[3, 0]])
    assert len(inst[1:3]) == 2


def test_cat_and_to():
    a, b = _instances(2), _instances(3)
    c = Instances.cat([a, b])
    assert len(c) == 5 and c.labels == [0, 1, 0, 1, 2]
    assert torch.equal(c.scores, torch.cat([a.scores, b.scores]))
    assert isinstance(c.pred_boxes, Boxes) and len(c.pred_boxes) == 5
    assert Instances.cat([a]) is a
    with pytest.raises(ValueError, match="image_size"):
        Instances.cat([a, Instances((1, 1), scores=torch.zeros(1))])
    with pytest.raises(ValueError, match="non-empty"):
        Instances.cat([])
    moved = a.to("cpu")
    assert moved is not a and torch.equal(moved.scores, a.scores) and moved.labels == a.labels

    poly = Instances((10, 10), gt_masks=PolygonMasks([[[0, 0, 1, 0, 1, 1]]]))
    assert len(Instances.cat([poly, poly]).gt_masks) == 2


def test_zero_instances():
    empty = Instances((20, 30), pred_boxes=Boxes(torch.zeros(0, 4)), scores=torch.zeros(0))
    assert len(empty) == 0
    assert len(empty[empty.scores > 0.5]) == 0
    two = _instances(2)
    two.remove("labels")
    assert len(Instances.cat([empty, two])) == 2
    with pytest.raises(NotImplementedError):
        len(Instances((5, 5)))
    with pytest.raises(NotImplementedError):
        iter(_instances(2))


def test_repr_is_readable():
    text = repr(Instances((20, 30), scores=torch.tensor([0.5])))
    assert text.startswith("Instances(num_instances=1, image_height=20, image_width=30, fields=[scores: tensor(")
    assert repr(Instances((4, 6))) == "Instances(num_instances=0, image_height=4, image_width=6, fields=[])"
