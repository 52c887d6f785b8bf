import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

from modet.data import DatasetMapper
from modet.data import detection_utils as utils
from modet.data import transforms as T
from modet.structures import BitMasks, Boxes, BoxMode, Instances, Keypoints, PolygonMasks, polygons_to_bitmask

HFLIP_INDICES = np.array([1, 0])  # keypoints ("left", "right")


@pytest.fixture
def record(tmp_path):
    """A 20x40 image: left half red, right half blue; one box/polygon/keypoint annotation, one crowd."""
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)
    rgb[:, :20, 0] = 255
    rgb[:, 20:, 2] = 255
    Image.fromarray(rgb).save(tmp_path / "img.png")
    sem = np.zeros((20, 40), dtype=np.uint8)
    sem[2:8, 4:14] = 1
    Image.fromarray(sem).save(tmp_path / "sem.png")
    rle_mask = np.zeros((20, 40), dtype=np.uint8, order="F")
    rle_mask[2:8, 4:14] = 1
    return {
        "file_name": str(tmp_path / "img.png"),
        "sem_seg_file_name": str(tmp_path / "sem.png"),
        "height": 20,
        "width": 40,
        "image_id": 7,
        "annotations": [
            {
                "bbox": [4, 2, 10, 6],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [[4, 2, 14, 2, 14, 8, 4, 8]],
                "keypoints": [5, 3, 2, 13, 7, 1],
            },
            {
                "bbox": [0, 0, 5, 5],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 0,
                "iscrowd": 1,
                "segmentation": mask_util.encode(rle_mask),
                "keypoints": [0, 0, 0, 0, 0, 0],
            },
        ],
        "_rle": mask_util.encode(rle_mask),
    }


def mapper(mask_format="polygon", is_train=True, augs=None):
    return DatasetMapper(
        is_train=is_train,
        augmentations=augs if augs is not None else [T.Resize((40, 80)), T.HFlipTransform(80)],
        image_format="BGR",
        use_instance_mask=True,
        use_keypoint=True,
        instance_mask_format=mask_format,
        keypoint_hflip_indices=HFLIP_INDICES,
    )


def test_output_is_the_models_input_format(record):
    out = mapper()(record)
    assert set(out) == {"file_name", "height", "width", "image_id", "image", "instances", "sem_seg", "_rle"}
    assert (out["height"], out["width"]) == (20, 40)  # original size: predictions come back at it
    image = out["image"]
    assert image.dtype == torch.uint8 and image.shape == (3, 40, 80)
    # BGR, flipped: the blue half (B channel, index 0) is now on the left
    assert (image[0, :, :38] == 255).all() and (image[2, :, :38] == 0).all()
    assert (image[2, :, 42:] == 255).all() and (image[0, :, 42:] == 0).all()

    instances = out["instances"]
    assert isinstance(instances, Instances) and instances.image_size == (40, 80)
    assert len(instances) == 1  # the crowd annotation is dropped
    assert isinstance(instances.gt_boxes, Boxes)
    # XYWH [4, 2, 10, 6] -> XYXY [4, 2, 14, 8] -> x2 -> [8, 4, 28, 16] -> flip in width 80
    torch.testing.assert_close(instances.gt_boxes.tensor, torch.tensor([[52.0, 4.0, 72.0, 16.0]]))
    assert instances.gt_classes.dtype == torch.int64 and instances.gt_classes.tolist() == [1]
    assert isinstance(instances.gt_masks, PolygonMasks)
    np.testing.assert_allclose(instances.gt_masks.polygons[0][0], [72, 4, 52, 4, 52, 16, 72, 16])
    assert isinstance(instances.gt_keypoints, Keypoints)
    # left (5,3) -> (10,6) -> (70,6) becomes "right"; right (13,7) -> (26,14) -> (54,14) becomes "left"
    torch.testing.assert_close(instances.gt_keypoints.tensor, torch.tensor([[[54.0, 14.0, 1.0], [70.0, 6.0, 2.0]]]))

    sem_seg = out["sem_seg"]
    assert sem_seg.dtype == torch.int64 and sem_seg.shape == (40, 80)
    expected = np.zeros((40, 80), dtype=np.int64)
    expected[4:16, 52:72] = 1
    np.testing.assert_array_equal(sem_seg.numpy(), expected)


def test_bitmask_format_matches_transformed_polygon_and_rle(record):
    record["annotations"][0]["segmentation"] = record.pop("_rle")  # same rectangle, as RLE
    out = mapper("bitmask")(record)
    masks = out["instances"].gt_masks
    assert isinstance(masks, BitMasks) and masks.tensor.shape == (1, 40, 80)
    expected = np.zeros((40, 80), dtype=bool)
    expected[4:16, 52:72] = True
    np.testing.assert_array_equal(masks.tensor[0].numpy(), expected)


def test_bitmask_from_polygon_equals_rasterised_transformed_polygon(record):
    out = mapper("bitmask")(record)
    expected = polygons_to_bitmask([np.array([72, 4, 52, 4, 52, 16, 72, 16], dtype=float)], 40, 80)
    np.testing.assert_array_equal(out["instances"].gt_masks.tensor[0].numpy(), expected)


def test_inference_mode_drops_annotations(record):
    out = mapper(is_train=False)(record)
    assert "instances" not in out and "annotations" not in out
    assert out["image"].shape == (3, 40, 80)


def test_mapper_does_not_modify_its_input(record):
    before = repr(record)
    mapper()(record)
    assert repr(record) == before


def test_missing_image_names_file_and_record(record, tmp_path):
    record["file_name"] = str(tmp_path / "gone.png")
    with pytest.raises(FileNotFoundError, match=r"gone\.png.*image_id=7"):
        mapper()(record)


def test_size_mismatch_is_reported(record):
    record["width"] = 41
    with pytest.raises(utils.SizeMismatchError, match=r"img\.png.*image_id=7"):
        mapper()(record)


def test_from_config(record):
    from modet.core.config import get_cfg

    cfg = get_cfg()
    cfg.MODEL.MASK_ON = True
    cfg.INPUT.MIN_SIZE_TRAIN = (40,)
    cfg.INPUT.MAX_SIZE_TRAIN = 1000
    cfg.INPUT.RANDOM_FLIP = "none"
    m = DatasetMapper(cfg, is_train=True)
    out = m(record)
    assert out["image"].shape == (3, 40, 80)
    torch.testing.assert_close(out["instances"].gt_boxes.tensor, torch.tensor([[8.0, 4.0, 28.0, 16.0]]))
    assert not out["instances"].has("gt_keypoints")  # KEYPOINT_ON is off


def test_read_image_applies_exif_orientation(tmp_path):
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[:10, :10, 0] = 255  # red block, top left as stored
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = utils.read_image(tmp_path / "rot.jpg", format="RGB")
    assert out.shape == (30, 20, 3)
    assert out[2:8, 12:18, 0].min() > 200 and out[2:8, 2:8, 0].max() < 60  # now top right


def test_filter_empty_instances_drops_empty_boxes():
    inst = Instances((10, 10))
    inst.gt_boxes = Boxes(torch.tensor([[0.0, 0, 5, 5], [3, 3, 3, 8]]))
    inst.gt_classes = torch.tensor([0, 1])
    assert utils.filter_empty_instances(inst).gt_classes.tolist() == [0]


def test_keypoints_outside_become_unlabelled():
    kps = utils.transform_keypoint_annotations([5, 5, 2, 15, 5, 2], T.CropTransform(0, 0, 10, 10), (10, 10))
    np.testing.assert_array_equal(kps, [[5, 5, 2], [0, 0, 0]])


def test_crop_shifts_annotations_and_recomputes_boxes(record):
    m = DatasetMapper(
        is_train=True,
        augmentations=[T.CropTransform(8, 1, 20, 10)],
        image_format="RGB",
        use_instance_mask=True,
        recompute_boxes=True,
    )
    out = m(record)
    assert out["image"].shape == (3, 10, 20)
    inst = out["instances"]
    # the polygon [4, 14] x [2, 8] shifted by (-8, -1) and clipped to the 20x10 window
    polygon = inst.gt_masks.polygons[0][0].reshape(-1, 2)
    np.testing.assert_allclose(polygon.min(0), [0, 1])
    np.testing.assert_allclose(polygon.max(0), [6, 7])
    # the recomputed box encloses the clipped polygon
    torch.testing.assert_close(inst.gt_boxes.tensor, torch.tensor([[0.0, 1.0, 6.0, 7.0]]))


def test_crop_from_config_recomputes_boxes():
    from modet.core.config import get_cfg

    cfg = get_cfg()
    cfg.MODEL.MASK_ON = True
    cfg.INPUT.CROP.ENABLED = True
    args = DatasetMapper.from_config(cfg, is_train=True)
    assert args["recompute_boxes"] is True
    assert isinstance(args["augmentations"][0], T.RandomCrop)
    assert DatasetMapper.from_config(cfg, is_train=False)["recompute_boxes"] is False


def test_fed_loss_weights_are_class_image_counts_to_a_power():
    from modet.data import MetadataCatalog
    from modet.data.detection_utils import get_fed_loss_cls_weights

    MetadataCatalog.get("fed_loss_toy").set(
        class_image_count=[{"id": 3, "image_count": 9}, {"id": 1, "image_count": 4}, {"id": 2, "image_count": 1}]
    )
    weights = get_fed_loss_cls_weights("fed_loss_toy", freq_weight_power=0.5)
    assert weights.tolist() == [2.0, 1.0, 3.0]
    with pytest.raises(KeyError, match="no 'class_image_count' metadata"):
        get_fed_loss_cls_weights(["fed_loss_without_counts"])
