import numpy as np
import pytest
import torch
from PIL import Image

from modet.engine import DefaultPredictor
from modet.engine.preprocess import resize_shortest_edge, shortest_edge_output_shape


def _image(seed: int, height: int = 50, width: int = 70) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image[10:35, 15:45] = (30, 160, 220)  # something object-like
    return image


def _manual_outputs(cfg, weights: str, model_input_image: np.ndarray, height: int, width: int):
    from modet.modeling import build_model

    model = build_model(cfg)
    state = torch.load(weights, weights_only=True)["model"]
    model.load_state_dict(state)
    model.eval()
    tensor = torch.as_tensor(np.ascontiguousarray(model_input_image.transpose(2, 0, 1)), dtype=torch.float32)
    with torch.no_grad():
        return model([{"image": tensor, "height": height, "width": width}])[0]


def _assert_same_instances(a, b, exact: bool = True):
    a, b = a["instances"], b["instances"]
    assert len(a) == len(b) > 0
    assert torch.equal(a.pred_classes, b.pred_classes)
    assert a.image_size == b.image_size
    if exact:
        assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
        assert torch.equal(a.scores, b.scores)
        assert torch.equal(a.pred_masks, b.pred_masks)
    else:
        assert torch.allclose(a.pred_boxes.tensor, b.pred_boxes.tensor, atol=1e-3)
        assert torch.allclose(a.scores, b.scores, atol=1e-5)
        assert (a.pred_masks != b.pred_masks).float().mean() < 1e-3


def test_resize_numbers_are_resize_shortest_edge():
    assert shortest_edge_output_shape(50, 70, 64, 96) == (64, 90)  # 70 * 1.28 = 89.6
    assert shortest_edge_output_shape(480, 640, 800, 1333) == (800, 1067)
    assert shortest_edge_output_shape(100, 400, 800, 1333) == (333, 1333)  # long side capped
    assert shortest_edge_output_shape(70, 50, 64, 96) == (90, 64)
    image = _image(0)
    resized = resize_shortest_edge(image, 64, 96)
    expected = np.asarray(Image.fromarray(image).resize((90, 64), Image.Resampling.BILINEAR))
    assert np.array_equal(resized, expected)
    assert resize_shortest_edge(image, 0, 96) is image


def test_predictor_equals_model_called_by_hand(tiny_checkpoint):
    cfg, weights = tiny_checkpoint
    predictor = DefaultPredictor(cfg)
    assert not predictor.model.training
    image = _image(1)
    inputs = predictor.preprocess(image)
    assert inputs["image"].shape == (3, 64, 90) and (inputs["height"], inputs["width"]) == (50, 70)
    outputs = predictor(image)
    expected = _manual_outputs(cfg, weights, resize_shortest_edge(image, 64, 96), 50, 70)
    _assert_same_instances(outputs, expected)
    assert outputs["instances"].image_size == (50, 70)  # original size
    assert outputs["instances"].pred_masks.shape[1:] == (50, 70)


def test_bgr_and_rgb_inputs_give_the_same_result(tiny_checkpoint):
    cfg, weights = tiny_checkpoint
    bgr = _image(2)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    from_bgr = DefaultPredictor(cfg)(bgr)  # cv2.imread order, the default
    from_rgb = DefaultPredictor(cfg, input_format="RGB")(rgb)  # PIL order
    _assert_same_instances(from_bgr, from_rgb)
    # A model trained on RGB (cfg.INPUT.FORMAT) gets the channels flipped from a BGR image.
    rgb_cfg = cfg.clone()
    rgb_cfg.INPUT.FORMAT = "RGB"
    rgb_model_out = DefaultPredictor(rgb_cfg)(bgr)
    expected = _manual_outputs(rgb_cfg, weights, resize_shortest_edge(rgb, 64, 96), 50, 70)
    _assert_same_instances(rgb_model_out, expected)
    with pytest.raises(ValueError, match="input_format"):
        DefaultPredictor(cfg, input_format="YUV")


def test_batched_predictor_equals_per_image_calls(tiny_checkpoint):
    cfg, _ = tiny_checkpoint
    predictor = DefaultPredictor(cfg)
    images = [_image(seed) for seed in (3, 4, 5)]
    batched = predictor(images)
    assert len(batched) == 3
    for image, out in zip(images, batched):
        _assert_same_instances(out, predictor(image), exact=False)
    in_twos = predictor.predict_batch(images, batch_size=2)
    for a, b in zip(in_twos, batched):
        _assert_same_instances(a, b, exact=False)


def test_predictor_rejects_bad_images_with_clear_errors(tiny_checkpoint):
    cfg, _ = tiny_checkpoint
    predictor = DefaultPredictor(cfg)
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\), got \(50, 70\)"):
        predictor(np.zeros((50, 70), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8.*float32"):
        predictor(np.zeros((50, 70, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"images\[1\]"):
        predictor.predict_batch([_image(0), np.zeros((5, 5, 4), np.uint8)])
