import numpy as np
import pytest

from modet.data import transforms as T


def test_resize_shortest_edge_output_shape():
    assert T.ResizeShortestEdge.get_output_shape(480, 640, 800, 1333) == (800, 1067)
    assert T.ResizeShortestEdge.get_output_shape(100, 1000, 800, 1333) == (133, 1333)


def test_hflip_inverse_and_box():
    t = T.HFlipTransform(10)
    np.testing.assert_allclose(t.apply_box(np.array([[1.0, 2, 4, 5]])), [[6, 2, 9, 5]])
    coords = np.array([[1.0, 2.0]])
    np.testing.assert_allclose(t.inverse().apply_coords(t.apply_coords(coords)), coords)


def test_resize_inverse_round_trips_coords():
    t = T.ResizeTransform(10, 20, 30, 50)
    coords = np.array([[3.0, 4.0], [20.0, 10.0]])
    np.testing.assert_allclose(t.apply_coords(coords), [[7.5, 12.0], [50.0, 30.0]])
    np.testing.assert_allclose(t.inverse().apply_coords(t.apply_coords(coords)), coords)


def test_resize_float_image_matches_shape():
    out = T.ResizeTransform(4, 6, 8, 12).apply_image(np.ones((4, 6, 3), dtype=np.float32))
    assert out.shape == (8, 12, 3) and out.dtype == np.float32 and np.allclose(out, 1)


def test_crop():
    img = np.arange(20).reshape(4, 5)
    t = T.CropTransform(1, 2, 3, 2)
    np.testing.assert_array_equal(t.apply_image(img), [[11, 12, 13], [16, 17, 18]])
    np.testing.assert_allclose(t.apply_coords(np.array([[1.0, 2.0]])), [[0, 0]])


def test_transform_list_applies_in_order():
    tl = T.TransformList([T.ResizeTransform(10, 10, 20, 20), T.HFlipTransform(20)])
    np.testing.assert_allclose(tl.apply_coords(np.array([[1.0, 1.0]])), [[18, 2]])
    np.testing.assert_allclose(tl.inverse().apply_coords(np.array([[18.0, 2.0]])), [[1, 1]])


def test_aug_input_transforms_everything_together():
    image = np.zeros((10, 20, 3), dtype=np.uint8)
    sem = np.zeros((10, 20), dtype=np.uint8)
    sem[:, :5] = 1
    aug_input = T.AugInput(image, boxes=np.array([[0.0, 0, 5, 10]]), sem_seg=sem)
    tfms = aug_input.apply_augmentations([T.RandomFlip(prob=1.0), T.Resize((20, 40))])
    assert len(tfms) == 2 and isinstance(tfms[0], T.HFlipTransform)
    np.testing.assert_allclose(aug_input.boxes, [[30, 0, 40, 20]])
    assert aug_input.image.shape == (20, 40, 3)
    assert aug_input.sem_seg[:, 30:].all() and not aug_input.sem_seg[:, :30].any()


def test_photometric_augmentations_keep_geometry():
    np.random.seed(0)
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    for aug in (T.RandomBrightness(0.5, 0.5), T.RandomContrast(0.5, 1.5), T.RandomSaturation(0.5, 1.5)):
        out, tfms = T.apply_augmentations([aug], image)
        assert out.shape == image.shape
        np.testing.assert_allclose(tfms.apply_box(np.array([[1.0, 1, 2, 2]])), [[1, 1, 2, 2]])
    out, _ = T.apply_augmentations([T.RandomBrightness(0.5, 0.5)], image)
    assert (out == 50).all()


def test_random_crop_sizes():
    np.random.seed(0)
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    out, _ = T.apply_augmentations([T.RandomCrop("relative", (0.5, 0.25))], image)
    assert out.shape == (50, 50, 3)
    out, _ = T.apply_augmentations([T.RandomCrop("absolute", (30, 40))], image)
    assert out.shape == (30, 40, 3)
    with pytest.raises(ValueError, match="crop_type"):
        T.RandomCrop("bogus", (1, 1))


def test_crop_clips_polygons():
    t = T.CropTransform(5, 5, 10, 10)
    square = np.array([[0.0, 0], [10, 0], [10, 10], [0, 10]])
    (clipped,) = t.apply_polygons([square])
    # the overlap is the window's top-left 5x5 quarter
    np.testing.assert_allclose(clipped.min(0), [0, 0])
    np.testing.assert_allclose(clipped.max(0), [5, 5])
    x, y = clipped[:, 0], clipped[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    assert area == pytest.approx(25.0)
    (outside,) = t.apply_polygons([square - 20])
    assert outside.shape == (3, 2) and np.ptp(outside, axis=0).tolist() == [0, 0]
