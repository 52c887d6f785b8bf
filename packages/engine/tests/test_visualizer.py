import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

from modet.engine.mask_shapes import GenericMask, trace_regions
from modet.engine.visualizer import ColorMode, Visualizer, create_text_labels
from modet.structures import Boxes, BoxMode, Instances


class _Meta:
    thing_classes = ["cat", "dog", "bird"]
    thing_colors = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    stuff_classes = ["things", "sky", "grass"]
    stuff_colors = [[10, 10, 10], [0, 0, 200], [0, 200, 0]]
    keypoint_names = ["a", "b"]
    keypoint_connection_rules = [("a", "b", (255, 255, 0))]


def _instances():
    """A dog (score 0.9) and a bird (0.2) on a 200 x 300 image, with masks and two keypoints each."""
    inst = Instances((200, 300))
    inst.pred_boxes = Boxes(torch.tensor([[25.0, 25.0, 150.0, 175.0], [200.0, 10.0, 290.0, 100.0]]))
    inst.scores = torch.tensor([0.9, 0.2])
    inst.pred_classes = torch.tensor([1, 2])
    masks = torch.zeros(2, 200, 300, dtype=torch.bool)
    masks[0, 50:150, 50:125] = True
    masks[1, 25:75, 225:275] = True
    inst.pred_masks = masks
    inst.pred_keypoints = torch.tensor(
        [[[40.0, 40.0, 1.0], [140.0, 160.0, 1.0]], [[225.0, 25.0, 0.01], [250.0, 50.0, 1.0]]]
    )
    return inst


def _blend(background, color, alpha):
    return (1 - alpha) * np.asarray(background, dtype=float) + alpha * np.asarray(color, dtype=float)


def test_create_text_labels():
    assert create_text_labels([1, 7], [0.974, 0.5], ["cat", "dog"]) == ["dog 97%", "7 50%"]
    assert create_text_labels([0], None, None, is_crowd=[True]) == ["0|crowd"]
    assert create_text_labels(None, [0.25], None) == ["25%"]
    assert create_text_labels(None, None, ["cat"]) is None


def test_output_is_the_image_at_scale_and_saves_as_drawn(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (30, 50, 3)).astype(np.float64)
    vis = Visualizer(image, scale=2.0)
    out = vis.output.get_image()
    assert out.shape == (60, 100, 3) and out.dtype == np.uint8

    # nearest-neighbour upscaling: every pixel drawn is one of the image's own (no blur), each in
    # its 2x2 block give or take one output pixel (matplotlib < 3.11 shifts part of the columns)
    def packed(rgb):
        return rgb.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])

    assert np.isin(packed(out), packed(image)).all()
    in_place = [(out[r::2, c::2] == image.astype(np.uint8)).all(-1) for r in (0, 1) for c in (0, 1)]
    assert np.logical_or.reduce(in_place).all()
    drawn = vis.draw_box((5, 5, 20, 20), edge_color="blue")
    drawn.save(tmp_path / "vis.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "vis.png"))[:, :, :3], drawn.get_image())
    with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB image, got shape \(30, 50\)"):
        Visualizer(image[:, :, 0])


def test_segmentation_colours_follow_the_class_and_the_score_threshold():
    image = np.full((200, 300, 3), 100, dtype=np.uint8)
    vis = Visualizer(image, _Meta(), instance_mode=ColorMode.SEGMENTATION)
    np.random.seed(0)
    out = vis.draw_instance_predictions(_instances(), jittering=False, confidence_threshold=0.5).get_image()
    # inside the dog's mask (class 1, green), away from its outline, label and keypoint line: alpha 0.8 fill
    assert np.abs(out[70, 110].astype(float) - _blend(100, (0, 255, 0), 0.8)).max() <= 1
    assert np.array_equal(out[50, 250], [100, 100, 100])  # the 0.2-score bird is not drawn


def test_binary_masks_outlined_or_painted_with_their_holes():
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    ring = np.zeros((40, 40), dtype=bool)
    ring[5:35, 5:35] = True
    ring[15:25, 15:25] = False
    out = Visualizer(image).draw_binary_mask(ring, color="red", alpha=0.5).get_image()
    assert np.abs(out[10, 10].astype(int) - [128, 0, 0]).max() <= 2  # painted at half opacity
    assert np.array_equal(out[20, 20], [0, 0, 0])  # the hole stays empty
    assert np.array_equal(out[2, 2], [0, 0, 0])
    square = np.zeros((40, 40), dtype=bool)
    square[10:30, 10:30] = True
    out = Visualizer(image).draw_binary_mask(square, color="blue", edge_color="white", alpha=0.5).get_image()
    assert np.abs(out[20, 20].astype(int) - [0, 0, 128]).max() <= 1
    assert out[10, 20].min() > 150  # the white outline on the mask's edge
    tiny = np.zeros((40, 40), dtype=bool)
    tiny[3:5, 3:5] = True  # 4 pixels, under the default area threshold of 10
    assert not Visualizer(image).draw_binary_mask(tiny, color="red").get_image().any()


def test_soft_mask_opacity_follows_the_values():
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    soft = np.zeros((10, 10), dtype=np.float32)
    soft[:, :5] = 1.0
    soft[:, 5:] = 0.5
    out = Visualizer(image).draw_soft_mask(soft, color=(1.0, 0.0, 0.0), alpha=0.8).get_image()
    assert abs(int(out[5, 2, 0]) - 204) <= 1 and abs(int(out[5, 8, 0]) - 102) <= 1


def test_grayscale_mode_keeps_colour_only_inside_the_masks():
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    image[:, :, 0] = 90  # pure red: its grey is 30
    inst = _instances()
    inst.remove("pred_keypoints")
    out = Visualizer(image, _Meta(), instance_mode=ColorMode.IMAGE_BW).draw_instance_predictions(inst[:0]).get_image()
    assert np.array_equal(out[0, 0], [30, 30, 30])
    out = Visualizer(image, _Meta(), instance_mode=ColorMode.IMAGE_BW).draw_instance_predictions(inst).get_image()
    assert np.array_equal(out[199, 0], [30, 30, 30]) and out[70, 110, 0] > out[70, 110, 1]


def test_keypoints_hidden_below_threshold_and_connected():
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    out = Visualizer(image, _Meta()).draw_keypoints(_instances().pred_keypoints).get_image()
    for x, y in [(40, 40), (140, 160)]:  # red points (the line runs over their centres)
        patch = out[y - 4 : y + 5, x - 4 : x + 5].astype(int)
        assert ((patch[..., 0] > 150) & (patch[..., 1] < 100)).any()
    assert np.array_equal(out[100, 90], [255, 255, 0])  # on the yellow a-b line
    assert out[25, 225].sum() == 0  # score 0.01 <= 0.05 is not drawn


def test_semantic_and_panoptic_segmentation_use_the_stuff_colours():
    image = np.full((100, 150, 3), 100, dtype=np.uint8)
    scores = torch.zeros(3, 100, 150)
    scores[1, :, :75] = 1.0
    scores[2, :, 75:] = 1.0
    out = Visualizer(image, _Meta()).draw_sem_seg(scores, alpha=1.0, area_threshold=0).get_image()
    # away from the class names written at each region's middle
    assert np.array_equal(out[5, 5], [0, 0, 200]) and np.array_equal(out[5, 145], [0, 200, 0])
    seg = torch.zeros(100, 150, dtype=torch.int32)
    seg[:50] = 1
    seg[50:] = 2
    info = [{"id": 1, "category_id": 0, "isthing": True}, {"id": 2, "category_id": 2, "isthing": False}]
    out = Visualizer(image, _Meta()).draw_panoptic_seg(seg, info, alpha=1.0).get_image()
    assert np.array_equal(out[95, 5], [0, 200, 0])  # stuff "grass"
    assert out[5, 5, 0] > out[5, 5, 2]  # the thing, a jittered red (cat)
    with pytest.raises(ValueError, match="label_divisor"):
        Visualizer(image).draw_panoptic_seg(seg, None)


def test_dataset_dict_with_polygon_rle_and_semantic_file(tmp_path):
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    square = np.zeros((200, 200), dtype=np.uint8, order="F")
    square[100:150, 100:150] = 1
    sem_file = tmp_path / "sem.png"
    sem = np.zeros((200, 200), dtype=np.uint8)
    sem[:, 175:] = 1
    Image.fromarray(sem).save(sem_file)
    record = {
        "annotations": [
            {
                "bbox": [10, 10, 50, 50],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 0,
                "segmentation": [[15, 15, 55, 15, 55, 55, 15, 55]],
            },
            {
                "bbox": [100, 100, 50, 50],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": mask_util.encode(square),
            },
        ],
        "sem_seg_file_name": str(sem_file),
    }
    out = Visualizer(image, _Meta(), instance_mode=ColorMode.SEGMENTATION).draw_dataset_dict(record).get_image()
    assert out[40, 40].any() and out[140, 140].any()  # both instances' masks
    assert np.abs(out[10, 190].astype(int) - [0, 0, 100]).max() <= 1  # sky at alpha 0.5
    assert np.array_equal(out[190, 50], [5, 5, 5])  # semantic class 0 ("things", colour 10) at alpha 0.5


def test_rotated_boxes_are_drawn_and_counts_must_agree():
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    out = (
        Visualizer(image).overlay_instances(boxes=np.array([[25.0, 25.0, 30.0, 10.0, 45.0]]), labels=["r"]).get_image()
    )
    assert out.any()
    with pytest.raises(ValueError, match="2 labels for 1 instances"):
        Visualizer(image).overlay_instances(boxes=np.array([[1.0, 1.0, 5.0, 5.0]]), labels=["a", "b"])


def test_mask_regions_holes_and_areas():
    mask = np.zeros((12, 12), dtype=bool)
    mask[1:7, 1:7] = True
    mask[3:5, 3:5] = False  # a hole
    mask[9:11, 9:11] = True  # a second, smaller part
    regions = trace_regions(mask)
    assert len(regions) == 2 and len(regions[0].holes) == 1 and not regions[1].holes
    # outlines run along pixel edges with their corners cut by half a pixel's triangle (1/8 each)
    assert regions[0].area == pytest.approx((36 - 0.5) - (4 - 0.5)) and regions[1].area == pytest.approx(3.5)
    generic = GenericMask(mask.astype(np.uint8), 12, 12)
    assert generic.has_holes and generic.area() == 36 - 4 + 4
    assert np.array_equal(generic.bbox(), [1, 1, 11, 11])
    from_polygons = GenericMask([[1, 1, 5, 1, 5, 5, 1, 5]], 12, 12)
    assert not from_polygons.has_holes and from_polygons.area() == 16
    with pytest.raises(ValueError, match="expected the image's"):
        GenericMask(np.zeros((3, 3), dtype=np.uint8), 12, 12)


def test_labels_of_overlapping_boxes_do_not_cover_each_other():
    """Five boxes sharing a top-left corner: detectron2 writes their labels on one spot; modet
    moves each clear of the others, inside the image, and the first keeps its place."""
    image = np.zeros((240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40.0, 40.0, 40.0 + 200 - 20 * i, 40.0 + 180 - 20 * i] for i in range(5)])
    labels = [f"dog {90 - i}%" for i in range(5)]
    vis = Visualizer(image, scale=1.5)
    vis.overlay_instances(boxes=boxes, labels=labels, assigned_colors=[(1.0, 0.0, 0.0)] * 5)
    renderer = vis.output.canvas.get_renderer()
    texts = {t.get_text(): t for t in vis.output.ax.texts}
    assert set(texts) == set(labels)
    assert texts[labels[0]].get_position() == (40.0, 40.0)  # the largest box is labelled first, in place
    extents = [texts[label].get_window_extent(renderer=renderer) for label in labels]
    for i in range(5):
        assert 0 <= texts[labels[i]].get_position()[1] <= 240
        for j in range(i + 1, 5):
            assert not extents[i].overlaps(extents[j]), f"{labels[i]!r} covers {labels[j]!r}"
