import dataclasses
import functools

import attrs
import pytest
from omegaconf import DictConfig, ListConfig

from modet.core.config import LazyCall as L
from modet.core.config import dump_dataclass, instantiate
from modet.core.config.instantiate import build_partial


class Layer:
    def __init__(self, width, children=None, shape=None, options=None):
        self.width, self.children, self.shape, self.options = width, children, shape, options


@dataclasses.dataclass
class Size:
    height: int
    width: int = 4


@attrs.define(frozen=True)
class Spec:
    channels: int
    stride: int | None = None


def test_lazy_call_records_the_call_without_making_it():
    cfg = L(Layer)(width=3)
    assert isinstance(cfg, DictConfig)
    assert cfg._target_ is Layer and cfg.width == 3
    cfg.width = 5  # edited before it is built
    assert instantiate(cfg).width == 5


def test_nested_calls_lists_and_relative_interpolation():
    cfg = L(Layer)(
        width=8,
        children=[L(Layer)(width="${...width}"), 2],
        options={"inner": L(Layer)(width=1)},
    )
    layer = instantiate(cfg)
    assert isinstance(layer.children, ListConfig)
    assert layer.children[0].width == 8 and layer.children[1] == 2
    # a mapping without _target_ is passed as it is, its calls not made (detectron2's rule)
    assert isinstance(layer.options.inner, DictConfig)


def test_plain_python_containers_and_string_targets():
    built = instantiate({"_target_": "collections.OrderedDict", "a": 1})
    assert list(built.items()) == [("a", 1)]
    assert instantiate([{"_target_": "builtins.dict", "a": [1, 2]}, 7]) == [{"a": [1, 2]}, 7]
    for value in (5, "x", None):
        assert instantiate(value) == value
    obj = Layer(1)
    assert instantiate(obj) is obj
    plain = {"a": 1}
    assert instantiate(plain) is plain


def test_target_may_itself_be_a_lazy_call():
    cfg = L(L(functools.partial)(func=Layer))(width=6)
    cfg._target_ = L(build_partial)(func=Layer, keywords={"shape": "s"})
    layer = instantiate(cfg)
    assert (layer.width, layer.shape) == (6, "s")


def test_records_as_targets_and_as_values():
    assert instantiate(L(Size)(height=2)) == Size(2, 4)
    assert instantiate(L(Spec)(channels=3)) == Spec(3)
    cfg = L(Layer)(width=1, shape=Size(height=5), children=Spec(channels=7, stride=2))
    layer = instantiate(cfg)
    assert layer.shape == Size(5, 4)
    assert layer.children == Spec(7, 2)


def test_dump_dataclass_round_trips_records():
    dumped = dump_dataclass(Size(1, 2))
    assert dumped == {"_target_": "test_instantiate.Size", "height": 1, "width": 2}
    assert instantiate(dump_dataclass(Spec(3, 4))) == Spec(3, 4)
    with pytest.raises(TypeError, match="dataclass or attrs instance"):
        dump_dataclass(Size)


def test_bad_targets_are_named():
    with pytest.raises(TypeError, match="target of LazyCall must be a callable"):
        L(3)
    with pytest.raises(TypeError, match="_target_ 3 is not callable"):
        instantiate({"_target_": 3})
    with pytest.raises(ImportError, match="modet_no_such_module"):
        instantiate({"_target_": "modet_no_such_module.Thing"})
    with pytest.raises(TypeError, match="unexpected keyword argument 'depth'"):
        instantiate(L(Layer)(width=1, depth=2))
