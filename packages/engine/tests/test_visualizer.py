import numpy as np
import torch
from PIL import Image

from modet.engine.visualizer import Visualizer, class_color
from modet.structures import Boxes, Instances


class _Meta:
    thing_classes = ["cat", "dog", "bird"]
    keypoint_names = ["a", "b"]
    keypoint_connection_rules = [("a", "b", (255, 0, 0))]


def _instances():
    inst = Instances((40, 60))
    inst.pred_boxes = Boxes(torch.tensor([[5.0, 5.0, 30.0, 35.0], [40.0, 2.0, 58.0, 20.0]]))
    inst.scores = torch.tensor([0.9, 0.2])
    inst.pred_classes = torch.tensor([1, 2])
    masks = torch.zeros(2, 40, 60, dtype=torch.bool)
    masks[0, 10:30, 10:25] = True
    masks[1, 5:15, 45:55] = True
    inst.pred_masks = masks
    inst.pred_keypoints = torch.tensor([[[8.0, 8.0, 1.0], [28.0, 32.0, 1.0]], [[45.0, 5.0, 0.01], [50.0, 10.0, 1.0]]])
    return inst


def test_instances_are_drawn_with_masks_boxes_and_threshold(tmp_path):
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    vis = Visualizer(image, _Meta()).draw_instance_predictions(_instances(), confidence_threshold=0.5)
    out = vis.get_image()
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    dog = np.array(class_color(1))
    # inside the mask, away from box edges, label and keypoints: half the class color on black
    assert np.abs(out[25, 12].astype(int) - dog // 2).max() <= 1
    # the box outline has the class color
    assert np.array_equal(out[34, 15], dog) or np.array_equal(out[35, 15], dog)
    # the 0.2-score instance is below the threshold: nothing drawn there
    assert out[10, 50].sum() == 0
    path = tmp_path / "vis.png"
    vis.save(path)
    assert np.array_equal(np.asarray(Image.open(path)), out)


def test_keypoints_hidden_below_threshold_and_connected():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    inst = _instances()
    out = Visualizer(image, _Meta()).draw_keypoints(inst.pred_keypoints).get_image()
    assert out[8, 8].sum() > 0 and out[32, 28].sum() > 0
    assert out[20, 18].sum() > 0  # on the a-b connection
    assert out[5, 45].sum() == 0  # score 0.01 <= 0.05 is not drawn


def test_semantic_and_panoptic_segmentation():
    image = np.full((20, 30, 3), 100, dtype=np.uint8)
    scores = torch.zeros(3, 20, 30)
    scores[1, :, :15] = 1.0
    scores[2, :, 15:] = 1.0
    out = Visualizer(image).draw_sem_seg(scores, alpha=1.0).get_image()
    assert np.array_equal(out[5, 5], class_color(1, stuff=True))
    assert np.array_equal(out[5, 25], class_color(2, stuff=True))
    seg = torch.zeros(20, 30, dtype=torch.int32)
    seg[:10] = 1
    seg[10:] = 2
    info = [{"id": 1, "category_id": 0, "isthing": True}, {"id": 2, "category_id": 4, "isthing": False}]
    out = Visualizer(image).draw_panoptic_seg(seg, info, alpha=1.0).get_image()
    assert np.array_equal(out[2, 2], class_color(0)) and np.array_equal(out[15, 2], class_color(4, stuff=True))
    outputs = {"panoptic_seg": (seg, info), "instances": _instances()}
    assert np.array_equal(
        Visualizer(image).draw_outputs(outputs).get_image()[2, 2], np.round(0.6 * np.array(class_color(0)) + 40)
    )
