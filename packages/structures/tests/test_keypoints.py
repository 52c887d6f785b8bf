import math

import pytest
import torch
from torch.nn import functional as F

from modet.structures import Keypoints, heatmaps_to_keypoints


def _per_roi_reference(maps: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """detectron2's algorithm written out plainly: one ROI at a time, full-resolution softmax map."""
    out = torch.zeros(maps.shape[0], maps.shape[1], 4)
    for i in range(maps.shape[0]):
        w = max(float(rois[i, 2] - rois[i, 0]), 1.0)
        h = max(float(rois[i, 3] - rois[i, 1]), 1.0)
        size = (math.ceil(h), math.ceil(w))
        roi_map = F.interpolate(maps[[i]], size=size, mode="bicubic", align_corners=False)[0]
        for k in range(maps.shape[1]):
            pos = int(roi_map[k].flatten().argmax())
            y_int, x_int = divmod(pos, size[1])
            peak = roi_map[k, y_int, x_int]
            scores = (roi_map[k] - peak).exp() / (maps[i, k] - peak).exp().sum()
            out[i, k, 0] = (x_int + 0.5) * (w / size[1]) + rois[i, 0]
            out[i, k, 1] = (y_int + 0.5) * (h / size[0]) + rois[i, 1]
            out[i, k, 2] = peak
            out[i, k, 3] = scores[y_int, x_int]
    return out


class TestKeypoints:
    def test_container(self):
        t = torch.rand(4, 17, 3)
        kp = Keypoints(t)
        assert len(kp) == 4 and kp[1].tensor.shape == (1, 17, 3) and torch.equal(kp[1].tensor[0], t[1])
        assert len(kp[1:3]) == 2 and len(kp[torch.tensor([True, False, True, True])]) == 3
        assert len(Keypoints.cat([kp, kp[:1]])) == 5
        assert kp.to("cpu").device == torch.device("cpu") and repr(kp) == "Keypoints(num_instances=4)"
        assert len(Keypoints(torch.zeros(0, 17, 3))) == 0
        with pytest.raises(ValueError, match=r"\(N, K, 3\), got shape \(4, 17\)"):
            Keypoints(torch.zeros(4, 17))

    def test_to_heatmap_hand_computed(self):
        kp = Keypoints(torch.tensor([[[3.0, 7.0, 2.0], [10.0, 10.0, 2.0], [-1.0, 5.0, 2.0], [5.0, 5.0, 0.0]]]))
        heatmaps, valid = kp.to_heatmap(torch.tensor([[0.0, 0.0, 10.0, 10.0]]), 5)
        # (3, 7) -> cell (x=1, y=3) = 16; the bottom-right corner -> last cell 24; outside and invisible -> 0
        assert heatmaps.tolist() == [[16, 24, 0, 0]]
        assert valid.tolist() == [[1, 1, 0, 0]]
        h, v = Keypoints(torch.zeros(0, 4, 3)).to_heatmap(torch.zeros(0, 4), 5)
        assert h.numel() == 0 and v.numel() == 0


class TestHeatmapsToKeypoints:
    def test_hand_computed_peak(self):
        # ROI the same size as the heatmap: the bicubic resize is the identity
        maps = torch.zeros(1, 2, 4, 4)
        maps[0, 0, 1, 2] = 3.0
        maps[0, 1, 3, 0] = 5.0
        out = heatmaps_to_keypoints(maps, torch.tensor([[10.0, 20.0, 14.0, 24.0]]))
        torch.testing.assert_close(out[0, 0, :3], torch.tensor([10 + 2.5, 20 + 1.5, 3.0]))
        torch.testing.assert_close(out[0, 1, :3], torch.tensor([10 + 0.5, 20 + 3.5, 5.0]))
        # score = exp(0) / sum(exp(maps - max)): one cell at 0 and 15 at -max
        torch.testing.assert_close(out[0, 0, 3], torch.tensor(1 / (1 + 15 * math.exp(-3.0))))
        torch.testing.assert_close(out[0, 1, 3], torch.tensor(1 / (1 + 15 * math.exp(-5.0))))

    def test_fractional_roi_uses_width_correction(self):
        maps = torch.zeros(1, 1, 3, 3)
        maps[0, 0, 0, 0] = 10.0
        out = heatmaps_to_keypoints(maps, torch.tensor([[0.0, 0.0, 2.5, 0.4]]))
        # width 2.5 -> 3 columns scaled by 2.5/3; height 0.4 clamps to 1 -> 1 row
        torch.testing.assert_close(out[0, 0, :2], torch.tensor([0.5 * 2.5 / 3, 0.5]))

    def test_matches_per_roi_reference(self):
        g = torch.Generator().manual_seed(0)
        maps = torch.randn(7, 5, 8, 8, generator=g)
        xy = torch.rand(7, 2, generator=g) * 50
        wh = torch.tensor([[10.0, 12.0], [10.2, 11.5], [30.0, 5.0], [3.0, 3.0], [0.5, 2.0], [10.0, 12.0], [17.3, 9.9]])
        rois = torch.cat([xy, xy + wh], dim=1)
        torch.testing.assert_close(heatmaps_to_keypoints(maps, rois), _per_roi_reference(maps, rois))

    def test_empty_and_errors(self):
        assert heatmaps_to_keypoints(torch.zeros(0, 17, 56, 56), torch.zeros(0, 4)).shape == (0, 17, 4)
        with pytest.raises(ValueError, match=r"rois must have shape \(2, 4\)"):
            heatmaps_to_keypoints(torch.zeros(2, 17, 56, 56), torch.zeros(3, 4))
        with pytest.raises(ValueError, match=r"\(R, K, H, W\)"):
            heatmaps_to_keypoints(torch.zeros(17, 56, 56), torch.zeros(17, 4))


def test_heatmaps_to_keypoints_exported_form_finds_the_same_keypoints():
    """The loop-free form used under torch.export: same positions, logits within float rounding."""
    from modet.structures.keypoints import _heatmaps_to_keypoints_all_rois

    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(12, 5, 56, 56, generator=generator)
    corners = torch.rand(12, 2, generator=generator) * 300
    sizes = torch.rand(12, 2, generator=generator) * 150 + 0.3
    sizes[:3] = torch.tensor([[0.2, 0.5], [1.0, 3.7], [57.0, 55.0]])  # below 1 px, thin, about the map's size
    rois = torch.cat([corners, corners + sizes], dim=1)
    expected = heatmaps_to_keypoints(maps, rois)
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    exported = _heatmaps_to_keypoints_all_rois(
        maps, rois, widths.ceil(), heights.ceil(), widths / widths.ceil(), heights / heights.ceil()
    )
    assert torch.equal(exported[..., :2], expected[..., :2])
    torch.testing.assert_close(exported[..., 2:], expected[..., 2:], atol=1e-4, rtol=1e-5)
