"""DefaultAnchorGenerator: cell anchors by hand, grid order, state_dict, broadcasting and errors."""

import math

import pytest
import torch

from modet.core.config import get_cfg
from modet.modeling.anchor_generator import DefaultAnchorGenerator, build_anchor_generator
from modet.ops import ShapeSpec


def test_cell_anchors_by_hand():
    gen = DefaultAnchorGenerator(sizes=[[32]], aspect_ratios=[[0.5, 1.0, 2.0]], strides=[4], offset=0.0)
    w_half = math.sqrt(32**2 / 0.5) / 2  # ratio 0.5: wide box, h = w / 2
    expected = torch.tensor(
        [
            [-w_half, -w_half / 2, w_half, w_half / 2],
            [-16.0, -16.0, 16.0, 16.0],
            [-w_half / 2, -w_half, w_half / 2, w_half],
        ]
    )
    torch.testing.assert_close(next(iter(gen.cell_anchors)), expected)
    assert gen.num_anchors == [3]


def test_grid_order_and_offset():
    gen = DefaultAnchorGenerator(sizes=[[8]], aspect_ratios=[[1.0]], strides=[4], offset=0.5)
    (anchors,) = gen([torch.zeros(1, 1, 2, 3)])
    centers = anchors.get_centers()
    # Row-major over (y, x), each shifted by offset * stride.
    expected = torch.tensor([[2.0, 2.0], [6.0, 2.0], [10.0, 2.0], [2.0, 6.0], [6.0, 6.0], [10.0, 6.0]])
    torch.testing.assert_close(centers, expected)
    torch.testing.assert_close(anchors.tensor[0], torch.tensor([-2.0, -2.0, 6.0, 6.0]))


def test_per_level_sizes_and_position_major_order():
    gen = DefaultAnchorGenerator(sizes=[[16], [32]], aspect_ratios=[0.5, 1.0], strides=[8, 16], offset=0.0)
    level0, level1 = gen([torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)])
    assert len(level0) == 2 * 2 * 2 and len(level1) == 2
    # The two aspect ratios of a position are adjacent, then the next position.
    torch.testing.assert_close(level0.get_centers()[:2], torch.zeros(2, 2))
    torch.testing.assert_close(level0.get_centers()[2:4], torch.tensor([[8.0, 0.0], [8.0, 0.0]]))
    torch.testing.assert_close(level1.area(), torch.tensor([32.0**2, 32.0**2]))


def test_cell_anchors_not_in_state_dict_but_follow_device():
    gen = DefaultAnchorGenerator(sizes=[[32], [64]], aspect_ratios=[[1.0]], strides=[4, 8])
    assert gen.state_dict() == {}
    assert len(list(gen.buffers())) == 2


def test_from_config_broadcasts_sizes():
    cfg = get_cfg()
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64], [128]]
    shapes = [ShapeSpec(channels=8, stride=s) for s in (4, 8, 16)]
    gen = build_anchor_generator(cfg, shapes)
    assert gen.strides == [4, 8, 16] and gen.num_anchors == [3, 3, 3]
    assert gen.offset == 0.0


def test_mismatched_sizes_raise():
    with pytest.raises(ValueError, match="sizes of length 2 for 3 feature maps"):
        DefaultAnchorGenerator(sizes=[[32], [64]], aspect_ratios=[[1.0]], strides=[4, 8, 16])
    with pytest.raises(ValueError, match="offset"):
        DefaultAnchorGenerator(sizes=[[32]], aspect_ratios=[[1.0]], strides=[4], offset=1.0)
