import pytest
import torch

from modet.structures import ImageList


def _images():
    return [torch.rand(3, 5, 7), torch.rand(3, 9, 4)]


def test_pads_to_max_size_with_pad_value():
    images = _images()
    il = ImageList.from_tensors(images, pad_value=-1.0)
    assert il.tensor.shape == (2, 3, 9, 7)
    assert il.image_sizes == [(5, 7), (9, 4)]
    assert len(il) == 2
    assert torch.equal(il[0], images[0]) and torch.equal(il[1], images[1])
    assert (il.tensor[0, :, 5:, :] == -1).all() and (il.tensor[1, :, :, 4:] == -1).all()


def test_size_divisibility():
    il = ImageList.from_tensors(_images(), size_divisibility=8)
    assert il.tensor.shape == (2, 3, 16, 8)
    il = ImageList.from_tensors([torch.rand(3, 32, 64)], size_divisibility=32)
    assert il.tensor.shape == (1, 3, 32, 64)  # already divisible: unchanged
    single = ImageList.from_tensors([torch.ones(3, 33, 1)], size_divisibility=32, pad_value=7.0)
    assert single.tensor.shape == (1, 3, 64, 32)
    assert (single.tensor[0, :, 33:] == 7).all() and (single.tensor[0, :, :33, :1] == 1).all()
    assert single.image_sizes == [(33, 1)]


def test_padding_constraints():
    il = ImageList.from_tensors(_images(), padding_constraints={"square_size": 12})
    assert il.tensor.shape == (2, 3, 12, 12)
    # size_divisibility in the constraints replaces the argument
    il = ImageList.from_tensors(_images(), size_divisibility=8, padding_constraints={"size_divisibility": 5})
    assert il.tensor.shape == (2, 3, 10, 10)
    il = ImageList.from_tensors(_images(), padding_constraints={"square_size": 12, "size_divisibility": 16})
    assert il.tensor.shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="square_size=8 is smaller than the largest image"):
        ImageList.from_tensors(_images(), padding_constraints={"square_size": 8})


def test_single_image_fast_path_equals_batched_path():
    img = torch.rand(2, 6, 5)
    single = ImageList.from_tensors([img], size_divisibility=4, pad_value=3.0)
    batched = ImageList.from_tensors([img, img[:, :1, :1]], size_divisibility=4, pad_value=3.0)
    assert torch.equal(single.tensor[0], batched.tensor[0])


def test_2d_images_and_to():
    il = ImageList.from_tensors([torch.rand(3, 4), torch.rand(5, 2)])
    assert il.tensor.shape == (2, 5, 4)
    assert il[1].shape == (5, 2)
    half = il.to(torch.float16)
    assert half.tensor.dtype == torch.float16 and half.image_sizes == il.image_sizes
    assert il.device == torch.device("cpu")


def test_bad_inputs():
    with pytest.raises(ValueError, match="empty list"):
        ImageList.from_tensors([])
    with pytest.raises(TypeError, match="list or tuple"):
        ImageList.from_tensors(torch.rand(2, 3, 4, 4))
    with pytest.raises(TypeError, match=r"tensors\[1\] is a ndarray"):
        import numpy as np

        ImageList.from_tensors([torch.rand(3, 4, 4), np.zeros((3, 4, 4))])
    with pytest.raises(ValueError, match=r"tensors\[1\] has 2 dims \(shape \(4, 4\)\) but tensors\[0\] has 3"):
        ImageList.from_tensors([torch.rand(3, 4, 4), torch.rand(4, 4)])
    with pytest.raises(ValueError, match=r"tensors\[2\] has shape \(1, 4, 4\) and tensors\[0\] has shape \(3, 5, 5\)"):
        ImageList.from_tensors([torch.rand(3, 5, 5), torch.rand(3, 4, 4), torch.rand(1, 4, 4)])
