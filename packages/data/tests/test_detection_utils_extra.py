import numpy as np
import pytest
import torch

from modet.data import detection_utils as utils
from modet.structures import BoxMode, RotatedBoxes


def test_gen_crop_transform_contains_the_box_centre():
    instance = {"bbox": [10, 10, 100, 100], "bbox_mode": BoxMode.XYXY_ABS}
    np.random.seed(0)
    for _ in range(50):
        crop = utils.gen_crop_transform_with_instance((10, 10), (150, 150), instance)
        assert (crop.w, crop.h) == (10, 10)
        assert crop.x0 <= 55 <= crop.x0 + crop.w and crop.y0 <= 55 <= crop.y0 + crop.h
        assert 0 <= crop.x0 <= 140 and 0 <= crop.y0 <= 140
    with pytest.raises(AssertionError, match="outside of the image"):
        utils.gen_crop_transform_with_instance((10, 10), (15, 15), instance)
    with pytest.raises(AssertionError, match="larger than image size"):
        utils.gen_crop_transform_with_instance((200, 10), (150, 150), instance)


def test_convert_image_to_rgb_round_trips_the_model_formats():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    assert np.array_equal(utils.convert_image_to_rgb(rgb[:, :, ::-1], "BGR"), rgb)
    assert np.array_equal(utils.convert_image_to_rgb(torch.from_numpy(rgb), "RGB"), rgb)
    grey = utils.convert_image_to_rgb(rgb[:, :, :1], "L")
    assert grey.shape == (4, 5, 3) and np.array_equal(grey[..., 0], rgb[..., 0])
    from PIL import Image

    yuv = utils.convert_PIL_to_numpy(Image.fromarray(rgb), "YUV-BT.601")
    np.testing.assert_allclose(utils.convert_image_to_rgb(yuv, "YUV-BT.601"), rgb, atol=0.1)


def test_annotations_to_instances_rotated():
    annos = [{"bbox": [10, 20, 4, 6, 30], "category_id": 2}, {"bbox": [1, 1, 2, 2, 0], "category_id": 0}]
    instances = utils.annotations_to_instances_rotated(annos, (50, 60))
    assert isinstance(instances.gt_boxes, RotatedBoxes) and instances.gt_boxes.tensor.shape == (2, 5)
    assert instances.gt_classes.tolist() == [2, 0]
    assert len(utils.annotations_to_instances_rotated([], (5, 5))) == 0
    with pytest.raises(ValueError, match="5 values"):
        utils.annotations_to_instances_rotated([{"bbox": [1, 2, 3, 4], "category_id": 0}], (5, 5))
