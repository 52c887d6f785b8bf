"""Rotated boxes under flips and resizes, color, extent, scale and rotation transforms, and the
Augmentation conventions (input_args from the signature, repr of non-default arguments)."""

import numpy as np
import pytest
from PIL import ImageOps

from modet.data import transforms as T


def test_resize_scales_rotated_boxes_by_the_image_of_each_side():
    # x doubles twice as much as y: hand-computed from the rotated rectangle's side directions
    tfm = T.ResizeTransform(400, 200, 800, 800)
    boxes = np.array([[150, 100, 40, 20, 0], [150, 100, 40, 20, 30], [150, 100, 40, 20, 90]], dtype=float)
    out = tfm.apply_rotated_box(boxes)
    cos30, sin30 = np.sqrt(3) / 2, 0.5
    expected_30 = [
        600,
        200,
        40 * np.sqrt((4 * cos30) ** 2 + (2 * sin30) ** 2),
        20 * np.sqrt((4 * sin30) ** 2 + (2 * cos30) ** 2),
        np.degrees(np.arctan2(4 * sin30, 2 * cos30)),
    ]
    np.testing.assert_allclose(out, [[600, 200, 160, 40, 0], expected_30, [600, 200, 80, 80, 90]], atol=1e-9)
    # equal scales: an angle is kept, sides scale alike
    np.testing.assert_allclose(
        T.ResizeTransform(10, 10, 20, 20).apply_rotated_box(boxes[1:2]), [[300, 200, 80, 40, 30]]
    )


def test_flips_mirror_rotated_boxes_and_noop_keeps_any_data_type():
    box = np.array([[10.0, 20.0, 4.0, 2.0, 30.0]])
    np.testing.assert_allclose(T.HFlipTransform(100).apply_rotated_box(box), [[90, 20, 4, 2, -30]])
    np.testing.assert_allclose(T.VFlipTransform(50).apply_rotated_box(box), [[10, 30, 4, 2, -30]])
    flips = T.TransformList([T.HFlipTransform(100), T.HFlipTransform(100)])
    np.testing.assert_allclose(flips.apply_rotated_box(box), box)
    assert T.NoOpTransform().apply_rotated_box(box) is box
    assert T.NoOpTransform().apply_anything_registered_later("x") == "x"


def test_color_transforms_change_pixels_only():
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    inverted = T.ColorTransform(lambda x: 255 - x)
    np.testing.assert_array_equal(inverted.apply_image(img), 255 - img)
    coords = np.array([[1.0, 2.0]])
    assert inverted.apply_coords(coords) is coords and isinstance(inverted.inverse(), T.NoOpTransform)
    solarize = T.PILColorTransform(lambda pil: ImageOps.solarize(pil, 100))
    np.testing.assert_array_equal(solarize.apply_image(img), np.where(img >= 100, 255 - img, img))
    with pytest.raises(TypeError, match="op must be callable"):
        T.ColorTransform(3)


def test_extent_transform_maps_the_source_rectangle_onto_the_output():
    tfm = T.ExtentTransform((20, 20, 80, 80), (120, 120))
    np.testing.assert_allclose(
        tfm.apply_coords(np.array([[20, 20], [80, 80], [50, 35]])), [[0, 0], [120, 120], [60, 30]]
    )
    for shape, out_shape in [((100, 100), (120, 120)), ((100, 100, 1), (120, 120, 1)), ((100, 100, 3), (120, 120, 3))]:
        assert tfm.apply_image(np.full(shape, 7, dtype=np.uint8)).shape == out_shape
    constant = tfm.apply_image(np.full((100, 100), 7, dtype=np.uint8))
    assert (constant == 7).all()  # the rectangle lies inside the image: no fill shows
    with pytest.raises(ValueError, match="src_rect"):
        T.ExtentTransform((20, 20, 10, 80), (10, 10))


def test_scale_transform_interpolates_with_torch_and_inverts():
    tfm = T.ScaleTransform(2, 2, 4, 4, "nearest")
    img = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(tfm.apply_image(img), np.kron(img, np.ones((2, 2), dtype=np.uint8)))
    bilinear = T.ScaleTransform(2, 2, 4, 4).apply_image(np.full((2, 2, 3), 9.5, dtype=np.float32))
    assert bilinear.shape == (4, 4, 3) and np.allclose(bilinear, 9.5)
    np.testing.assert_allclose(tfm.apply_coords(np.array([[1.0, 0.5]])), [[2.0, 1.0]])
    back = tfm.inverse()
    assert (back.h, back.w, back.new_h, back.new_w) == (4, 4, 2, 2)
    with pytest.raises(ValueError, match="expects an image of size"):
        tfm.apply_image(np.zeros((3, 3), dtype=np.uint8))


def test_rotation_by_right_angles_moves_pixels_exactly():
    img = np.random.default_rng(0).random((5, 8))
    rot90 = T.RotationTransform(5, 8, 90, expand=True)
    assert (rot90.bound_h, rot90.bound_w) == (8, 5)
    np.testing.assert_allclose(rot90.apply_image(img), np.rot90(img))  # counter-clockwise
    np.testing.assert_allclose(rot90.apply_coords(np.array([[0.0, 0.0], [8.0, 5.0]])), [[0, 8], [5, 0]], atol=1e-9)
    np.testing.assert_allclose(rot90.inverse().apply_image(rot90.apply_image(img)), img)
    rot180 = T.RotationTransform(5, 8, 180, expand=False)
    np.testing.assert_allclose(rot180.apply_image(img), img[::-1, ::-1])
    rgb = np.random.default_rng(1).integers(0, 255, (5, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(rot90.apply_image(rgb), np.rot90(rgb))


def test_rotation_about_a_centre_and_its_inverse_on_coordinates():
    rot = T.RotationTransform(4, 6, 45, expand=False)  # about (3, 2)
    r = 1 / np.sqrt(2)
    # (5, 2) is 2 right of the centre: rotated 45 degrees counter-clockwise on screen (y down)
    np.testing.assert_allclose(rot.apply_coords(np.array([[5.0, 2.0]])), [[3 + 2 * r, 2 - 2 * r]])
    expanding = T.RotationTransform(5, 8, 65, expand=True, center=(1, 1))  # centre ignored with expand
    coords = np.random.default_rng(2).random((6, 2)) * [8, 5]
    np.testing.assert_allclose(expanding.inverse().apply_coords(expanding.apply_coords(coords)), coords)
    np.testing.assert_allclose(T.RotationTransform(5, 8, 65).apply_coords(coords), expanding.apply_coords(coords))
    with pytest.raises(NotImplementedError, match="expand=True"):
        rot.inverse()
    with pytest.raises(ValueError, match="expects an image of size"):
        rot.apply_image(np.zeros((6, 4)))
    seg = np.zeros((4, 6), dtype=np.uint8)
    seg[1:3, 2:4] = 3
    assert set(np.unique(rot.apply_segmentation(seg))) <= {0, 3}  # nearest: no new labels


def test_augmentation_reads_its_inputs_from_get_transform_signature():
    class ResizeWithSeg(T.Augmentation):
        def get_transform(self, image, sem_seg):
            assert sem_seg.shape == image.shape[:2]
            return T.ResizeTransform(10, 10, 5, 5)

    class NeedsDepth(T.Augmentation):
        def get_transform(self, image, depth):
            raise AssertionError("not reached")

    aug_input = T.AugInput(np.zeros((10, 10), dtype=np.float32), sem_seg=np.zeros((10, 10), dtype=np.uint8))
    aug_input.apply_augmentations([ResizeWithSeg()])
    assert aug_input.sem_seg.shape == (5, 5) and ResizeWithSeg().input_args is None
    with pytest.raises(AttributeError, match="'depth'"):
        aug_input.apply_augmentations([NeedsDepth()])


def test_augmentation_repr_shows_arguments_that_are_not_the_default():
    assert str(T.RandomFlip()) == "RandomFlip()"
    assert str(T.RandomFlip(prob=0.25, horizontal=False, vertical=True)) == (
        "RandomFlip(prob=0.25, horizontal=False, vertical=True)"
    )
    assert str(T.AugmentationList([T.RandomFlip(), T.HFlipTransform(3)])) == (
        "AugmentationList[RandomFlip(), HFlipTransform(width=3)]"
    )


def test_random_apply_wraps_transforms_and_checks_its_probability():
    flip = T.HFlipTransform(4)
    assert T.RandomApply(flip, prob=1.0).get_transform(np.zeros((2, 4))) is flip
    assert isinstance(T.RandomApply(flip, prob=0.0).get_transform(np.zeros((2, 4))), T.NoOpTransform)
    with pytest.raises(AssertionError, match="prob must be in"):
        T.RandomApply(flip, prob=1.5)
    with pytest.raises(TypeError, match="Augmentation or a Transform"):
        T.RandomApply("flip")
