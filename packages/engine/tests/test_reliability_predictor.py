"""DefaultPredictor refuses an image it cannot resize for the model, naming it, instead of
failing inside PIL."""

import numpy as np
import pytest

from modet.engine import DefaultPredictor


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    cfg, _ = tiny_checkpoint  # INPUT.MIN_SIZE_TEST 64, MAX_SIZE_TEST 96
    return DefaultPredictor(cfg)


@pytest.mark.parametrize(("shape", "resized"), [((2, 3000, 3), "0x96"), ((3000, 1, 3), "96x0")])
def test_an_image_too_elongated_to_resize_is_refused(predictor, shape, resized):
    with pytest.raises(ValueError) as info:
        predictor(np.zeros(shape, np.uint8))
    assert str(info.value).startswith(f"image of shape {shape} is too elongated for the model:")
    assert f"it would be {resized} pixels" in str(info.value) and "MIN_SIZE_TEST" in str(info.value)


def test_the_error_names_the_image_in_a_batch(predictor):
    good = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(ValueError, match=r"^images\[2\] of shape \(1, 500, 3\) is too elongated"):
        predictor([good, good, np.zeros((1, 500, 3), np.uint8)])


def test_a_long_image_that_can_be_resized_still_runs(predictor):
    outputs = predictor(np.full((20, 2000, 3), 128, np.uint8))
    assert outputs["instances"].image_size == (20, 2000)
