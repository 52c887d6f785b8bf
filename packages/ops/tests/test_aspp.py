import pytest
import torch
from torch import nn

from modet.ops import ASPP


def test_state_dict_layout_matches_detectron2():
    aspp = ASPP(4, 8, [1, 2, 3], norm="BN", activation=nn.ReLU())
    modules = {k.rsplit(".", 1)[0] for k in aspp.state_dict()}
    branches = {f"convs.{i}" for i in range(4)} | {f"convs.{i}.norm" for i in range(4)}
    assert modules == branches | {"convs.4.1", "project", "project.norm"}
    assert aspp.convs[1].dilation == (1, 1) and aspp.convs[3].padding == (3, 3)
    assert aspp.convs[0].bias is None and aspp.convs[4][1].bias is not None
    assert ASPP(4, 8, [1, 2, 3], norm="", activation=nn.ReLU()).convs[0].bias is not None


def test_image_pooling_branch_is_broadcast_back():
    torch.manual_seed(0)
    aspp = ASPP(3, 2, [1, 2, 3], norm="", activation=nn.Identity()).eval()
    # Keep only the image-pooling branch (the 5th block of project's inputs).
    with torch.no_grad():
        aspp.project.weight.zero_()
        aspp.project.weight[:, 8:10, 0, 0] = torch.eye(2)
    x = torch.randn(1, 3, 5, 6)
    pool_conv = aspp.convs[4][1]
    expected = pool_conv(x.mean(dim=(2, 3), keepdim=True)).expand(1, 2, 5, 6)
    assert torch.allclose(aspp(x), expected, atol=1e-6)


def test_depthwise_separable_and_pool_kernel():
    aspp = ASPP(
        4, 6, [1, 2, 4], norm="BN", activation=nn.ReLU(), pool_kernel_size=(4, 4), use_depthwise_separable_conv=True
    ).eval()
    assert aspp(torch.randn(2, 4, 8, 8)).shape == (2, 6, 8, 8)
    assert aspp.convs[1].depthwise.groups == 4
    with pytest.raises(ValueError, match="pool_kernel_size"):
        aspp(torch.randn(1, 4, 6, 8))
    with pytest.raises(ValueError, match="3 dilations"):
        ASPP(4, 6, [1, 2], norm="", activation=nn.ReLU())
