"""Large-scale jitter (ResizeScale + FixedSizeCrop) and PadTransform, against detectron2's numbers."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modet.data import DatasetMapper
from modet.data import transforms as T
from modet.structures import BoxMode

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "lsj_detectron2.json").read_text())


@pytest.mark.parametrize("case", FIXTURE, ids=lambda c: f"seed{c['seed']}")
def test_lsj_sizes_crops_and_boxes_match_detectron2(case):
    image = np.zeros((*case["size"], 3), dtype=np.uint8)
    np.random.seed(case["seed"])
    resize = T.ResizeScale(min_scale=0.1, max_scale=2.0, target_height=256, target_width=320).get_transform(image)
    assert [resize.new_h, resize.new_w] == case["resized"]
    resized = resize.apply_image(image)
    crop, pad = T.FixedSizeCrop(crop_size=(256, 320)).get_transform(resized).transforms
    assert [crop.x0, crop.y0] == case["crop_x0_y0"] and [pad.x1, pad.y1] == case["pad_right_bottom"]
    assert pad.apply_image(crop.apply_image(resized)).shape == (256, 320, 3)
    box = np.array([[10.0, 20.0, 40.0, 45.0]])
    np.testing.assert_allclose(pad.apply_box(crop.apply_box(resize.apply_box(box)))[0], case["box"])


def test_resize_scale_fits_the_scaled_target():
    image = np.zeros((100, 400, 3), dtype=np.uint8)
    aug = T.ResizeScale(min_scale=0.5, max_scale=0.5, target_height=200, target_width=200)
    # target 100x100: the width limits the scale to 0.25
    t = aug.get_transform(image)
    assert (t.new_h, t.new_w) == (25, 100)
    with pytest.raises(ValueError, match="min_scale <= max_scale"):
        T.ResizeScale(min_scale=2.0, max_scale=1.0, target_height=8, target_width=8)


def test_fixed_size_crop_pads_small_images_bottom_right():
    image = np.full((3, 5, 3), 7, dtype=np.uint8)
    t = T.FixedSizeCrop(crop_size=(4, 4), pad_value=128.0, seg_pad_value=255).get_transform(image)
    out = t.apply_image(image)
    assert out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[:3, :, 0], 7)  # the crop keeps 4 of the 5 columns
    np.testing.assert_array_equal(out[3], 128)
    seg = t.apply_segmentation(np.zeros((3, 5), dtype=np.uint8))
    np.testing.assert_array_equal(seg[3], 255)
    np.testing.assert_array_equal(seg[:3], 0)
    unpadded = T.FixedSizeCrop(crop_size=(4, 4), pad=False).get_transform(image)
    assert unpadded.apply_image(image).shape == (3, 4, 3)


def test_pad_transform_and_its_inverse():
    pad = T.PadTransform(1, 2, 3, 0, orig_w=2, orig_h=2, pad_value=9)
    image = np.arange(4, dtype=np.uint8).reshape(2, 2)
    padded = pad.apply_image(image)
    assert padded.shape == (4, 6)
    np.testing.assert_array_equal(padded[2:4, 1:3], image)
    assert (padded == 9).sum() == 20
    np.testing.assert_allclose(pad.apply_coords(np.array([[0.0, 0.0]])), [[1, 2]])
    np.testing.assert_array_equal(pad.inverse().apply_image(padded), image)
    crop = T.CropTransform(1, 2, 2, 2, orig_w=6, orig_h=4)
    np.testing.assert_array_equal(crop.inverse().apply_image(image)[2:4, 1:3], image)
    with pytest.raises(ValueError, match="non-negative"):
        T.PadTransform(-1, 0, 0, 0)
    with pytest.raises(NotImplementedError, match="orig_w"):
        T.CropTransform(0, 0, 1, 1).inverse()


def test_mapper_with_lsj_recomputes_boxes_from_cropped_masks(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    record = {
        "file_name": str(tmp_path / "img.png"),
        "height": 40,
        "width": 60,
        "annotations": [
            {
                "bbox": [40, 10, 20, 20],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 0,
                "iscrowd": 0,
                "segmentation": [[40, 10, 60, 10, 60, 30, 40, 30]],
            }
        ],
    }
    mapper = DatasetMapper(
        is_train=True,
        augmentations=[
            T.ResizeScale(min_scale=1.0, max_scale=1.0, target_height=40, target_width=60),
            T.FixedSizeCrop(crop_size=(32, 50)),
        ],
        image_format="BGR",
        use_instance_mask=True,
        recompute_boxes=True,
    )
    np.random.seed(0)
    np.random.uniform(1.0, 1.0)  # ResizeScale's draw (scale 1 whatever it is)
    u = np.random.uniform(0.0, 1.0)  # FixedSizeCrop's: one draw places the window on both sides
    x0, y0 = round(10 * u), round(8 * u)  # the image is 10 wider and 8 taller than the crop
    np.random.seed(0)
    out = mapper(record)
    assert out["image"].shape == (3, 32, 50)
    # the square [40, 60] x [10, 30] shifted by the crop, and cut at the crop's right edge
    np.testing.assert_allclose(out["instances"].gt_boxes.tensor[0].tolist(), [40 - x0, 10 - y0, 50, 30 - y0])
