import numpy as np
import pytest
import torch

from modet.structures import BitMasks, Boxes, PolygonMasks, ROIMasks, polygons_to_bitmask
from modet.structures.masks import polygon_area, rasterize_polygons_within_box
from modet.structures.paste_masks import paste_masks_in_image

SQUARE = np.array([1, 1, 4, 1, 4, 4, 1, 4], dtype=np.float64)  # area 9
TRIANGLE = np.array([0, 0, 6, 0, 0, 6], dtype=np.float64)  # area 18


class TestPolygons:
    def test_rasterisation_matches_hand_drawn_mask(self):
        # pixel (r, c) is set when its center (c + 0.5, r + 0.5) lies inside: here x + y < 6
        expected = np.array(
            [
                [1, 1, 1, 1, 1, 0],
                [1, 1, 1, 1, 0, 0],
                [1, 1, 1, 0, 0, 0],
                [1, 1, 0, 0, 0, 0],
                [1, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0],
            ],
            dtype=bool,
        )
        np.testing.assert_array_equal(polygons_to_bitmask([TRIANGLE], 6, 6), expected)
        square = np.zeros((6, 6), dtype=bool)
        square[1:4, 1:4] = True
        np.testing.assert_array_equal(polygons_to_bitmask([SQUARE], 6, 6), square)
        np.testing.assert_array_equal(polygons_to_bitmask([SQUARE, TRIANGLE], 6, 6), square | expected)
        assert polygons_to_bitmask([], 3, 4).shape == (3, 4) and not polygons_to_bitmask([], 3, 4).any()

    def test_polygon_area_and_masks_area(self):
        assert polygon_area(SQUARE[0::2], SQUARE[1::2]) == 9.0
        masks = PolygonMasks([[SQUARE], [SQUARE, TRIANGLE], []])
        torch.testing.assert_close(masks.area(), torch.tensor([9.0, 27.0, 0.0], dtype=torch.float64))
        assert PolygonMasks([]).area().shape == (0,)

    def test_bounding_boxes_nonempty_indexing_cat(self):
        masks = PolygonMasks([[SQUARE], [SQUARE + 2, TRIANGLE], []])
        boxes = masks.get_bounding_boxes()
        torch.testing.assert_close(boxes.tensor[:2], torch.tensor([[1.0, 1.0, 4.0, 4.0], [0.0, 0.0, 6.0, 6.0]]))
        assert boxes.tensor[2, :2].isinf().all() and boxes.tensor[2, 2:].eq(0).all()  # detectron2's value
        assert masks.nonempty().tolist() == [True, True, False]
        assert len(masks[1]) == 1 and np.array_equal(masks[1].polygons[0][1], TRIANGLE)
        assert len(masks[0:2]) == 2 and len(masks[[2, 0]]) == 2
        assert len(masks[torch.tensor([True, False, True])]) == 2
        assert masks[torch.tensor([2])].polygons == [[]]
        assert len(PolygonMasks.cat([masks, masks[:1]])) == 4
        assert masks.to("cpu") is masks and masks.device == torch.device("cpu")
        assert repr(masks) == "PolygonMasks(num_instances=3)"
        with pytest.raises(ValueError, match="Unsupported tensor dtype"):
            masks[torch.tensor([0.0])]

    def test_bad_polygons(self):
        with pytest.raises(ValueError, match="from 4 coordinates"):
            PolygonMasks([[np.array([0, 0, 1, 1])]])
        with pytest.raises(TypeError, match="list of polygons per instance"):
            PolygonMasks([np.zeros(6)])
        with pytest.raises(TypeError, match="list of list of polygons"):
            PolygonMasks(np.zeros((1, 6)))

    def test_crop_and_resize(self):
        masks = PolygonMasks([[np.array([0, 0, 4, 0, 4, 4, 0, 4], dtype=np.float64)]])
        out = masks.crop_and_resize(torch.tensor([[0.0, 0.0, 8.0, 8.0]]), 4)
        expected = torch.zeros(1, 4, 4, dtype=torch.bool)
        expected[0, :2, :2] = True
        assert torch.equal(out, expected)
        empty = PolygonMasks([]).crop_and_resize(torch.zeros(0, 4), 7)
        assert empty.shape == (0, 7, 7) and empty.dtype == torch.bool
        with pytest.raises(ValueError, match="got 2 boxes for 1 masks"):
            masks.crop_and_resize(torch.zeros(2, 4), 4)

    def test_rasterize_within_box_does_not_modify_input(self):
        poly = [SQUARE.copy()]
        out = rasterize_polygons_within_box(poly, np.array([1.0, 1.0, 4.0, 4.0]), 3)
        assert out.all() and np.array_equal(poly[0], SQUARE)


class TestBitMasks:
    def test_dtype_and_shape_checks(self):
        assert BitMasks(torch.ones(2, 3, 3, dtype=torch.uint8)).tensor.dtype == torch.bool
        assert BitMasks(np.zeros((1, 2, 2), dtype=np.uint8)).tensor.shape == (1, 2, 2)
        # numbers as detectron2 takes them: nonzero is inside, whatever the value
        soft = torch.tensor([[[0.0, 0.3], [1.0, -2.0]]])
        assert torch.equal(BitMasks(soft).tensor, torch.tensor([[[False, True], [True, True]]]))
        assert (
            BitMasks(np.zeros((1, 2, 2))).tensor.dtype == torch.bool and not BitMasks(np.zeros((1, 2, 2))).tensor.any()
        )
        assert torch.equal(BitMasks(torch.ones(3, 10, 10))[1:3].tensor, torch.ones(2, 10, 10, dtype=torch.bool))
        with pytest.raises(TypeError, match="bool or real-valued tensor, got dtype torch.complex64"):
            BitMasks(torch.zeros(1, 2, 2, dtype=torch.complex64))
        with pytest.raises(TypeError, match="real-valued array, got dtype <U1"):
            BitMasks(np.full((1, 2, 2), "a"))
        with pytest.raises(ValueError, match=r"\(N, H, W\), got shape \(3, 3\)"):
            BitMasks(torch.ones(3, 3, dtype=torch.bool))

    def test_from_polygon_masks(self):
        poly = PolygonMasks([[SQUARE], [TRIANGLE]])
        bm = BitMasks.from_polygon_masks(poly, 6, 6)
        assert torch.equal(bm.tensor[0], torch.from_numpy(polygons_to_bitmask([SQUARE], 6, 6)))
        assert torch.equal(bm.tensor[1], torch.from_numpy(polygons_to_bitmask([TRIANGLE], 6, 6)))
        empty = BitMasks.from_polygon_masks([], 5, 7)
        assert empty.tensor.shape == (0, 5, 7) and len(empty) == 0

    def test_crop_and_resize_aligned(self):
        mask = torch.zeros(1, 8, 8, dtype=torch.bool)
        mask[0, :, :4] = True  # left half
        out = BitMasks(mask).crop_and_resize(torch.tensor([[0.0, 0.0, 8.0, 8.0]]), 4)
        assert out.dtype == torch.bool
        assert out[0].tolist() == [[True, True, False, False]] * 4

    def test_crop_and_resize_box_partly_outside(self):
        full = BitMasks(torch.ones(2, 8, 8, dtype=torch.bool))
        # Aligned ROIAlign samples 4 points per bin: in the outside bin only the sample at
        # x = -1 (resp. x = 8) still reads the border pixel, giving 0.25 < 0.5.
        boxes = torch.tensor([[-4.0, 0.0, 4.0, 8.0], [4.0, 0.0, 12.0, 8.0]])
        out = full.crop_and_resize(Boxes(boxes), 2)
        assert out[0].tolist() == [[False, True], [False, True]]
        assert out[1].tolist() == [[True, False], [True, False]]

    def test_crop_and_resize_empty_and_errors(self):
        out = BitMasks(torch.zeros(0, 5, 5, dtype=torch.bool)).crop_and_resize(torch.zeros(0, 4), 3)
        assert out.shape == (0, 3, 3)
        with pytest.raises(ValueError, match="got 1 boxes for 2 masks"):
            BitMasks(torch.zeros(2, 5, 5, dtype=torch.bool)).crop_and_resize(torch.zeros(1, 4), 3)
        with pytest.raises(ValueError, match=r"\(N, 4\)"):
            BitMasks(torch.zeros(2, 5, 5, dtype=torch.bool)).crop_and_resize(torch.zeros(2, 5), 3)

    def test_bounding_boxes_nonempty_index_cat(self):
        t = torch.zeros(3, 6, 8, dtype=torch.bool)
        t[0, 1:4, 2:6] = True
        t[2, 5, 7] = True
        bm = BitMasks(t)
        assert bm.get_bounding_boxes().tensor.tolist() == [[2, 1, 6, 4], [0, 0, 0, 0], [7, 5, 8, 6]]
        assert bm.nonempty().tolist() == [True, False, True]
        assert bm[0].tensor.shape == (1, 6, 8) and len(bm[1:]) == 2 and len(bm[bm.nonempty()]) == 2
        assert len(BitMasks.cat([bm, bm[:1]])) == 4
        assert bm.image_size == (6, 8) and repr(bm) == "BitMasks(num_instances=3)"
        assert len(BitMasks(torch.zeros(0, 2, 2, dtype=torch.bool)).get_bounding_boxes()) == 0
        with pytest.raises(ValueError, match="non-empty list"):
            BitMasks.cat([])


class TestROIMasksAndPaste:
    def test_to_bitmasks_pastes_into_box(self):
        roi = ROIMasks(torch.ones(1, 2, 2))
        bm = roi.to_bitmasks(Boxes(torch.tensor([[2.0, 2.0, 6.0, 6.0]])), 8, 8)
        expected = torch.zeros(1, 8, 8, dtype=torch.bool)
        expected[0, 2:6, 2:6] = True
        assert isinstance(bm, BitMasks) and torch.equal(bm.tensor, expected)
        again = BitMasks.from_roi_masks(roi, 8, 8, torch.tensor([[2.0, 2.0, 6.0, 6.0]]))
        assert torch.equal(again.tensor, expected)

    def test_paste_values_and_soft_output(self):
        masks = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # right column on
        out = paste_masks_in_image(masks, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (4, 6), threshold=-1)
        assert out.dtype == torch.uint8 and out.shape == (1, 4, 6)
        # Pixel center x maps to mask coordinate x / 2 - 0.5 (grid_sample, align_corners=False,
        # zero padding): x = 0.5 .. 4.5 give -0.25, 0.25, 0.75, 1.25, 1.75, i.e. values
        # 0, 0.25, 0.75, 0.75, 0.25; x = 4.5 lies in the 1-pixel margin past the box, x = 5.5 beyond it.
        assert out[0, 1].tolist() == [0, 63, 191, 191, 63, 0]
        # row 0 (y = 0.5 -> -0.25) is attenuated by 0.75 by the zero padding above
        assert out[0, 0].tolist() == [0, 47, 143, 143, 47, 0]
        binary = paste_masks_in_image(masks, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (4, 6))
        assert binary.dtype == torch.bool
        assert binary[0].tolist() == [[False, False, True, True, False, False]] * 4

    def test_empty_and_errors(self):
        out = ROIMasks(torch.zeros(0, 28, 28)).to_bitmasks(Boxes(torch.zeros(0, 4)), 10, 12)
        assert out.tensor.shape == (0, 10, 12)
        with pytest.raises(ValueError, match="3 dimension"):
            ROIMasks(torch.zeros(28, 28))
        with pytest.raises(ValueError, match=r"\(N, M, M\)"):
            paste_masks_in_image(torch.zeros(1, 28, 14), torch.zeros(1, 4), (10, 10))
        with pytest.raises(ValueError, match="1 masks but 2 boxes"):
            paste_masks_in_image(torch.zeros(1, 28, 28), torch.zeros(2, 4), (10, 10))
        roi = ROIMasks(torch.zeros(3, 4, 4))
        assert len(roi[1:]) == 2 and repr(roi) == "ROIMasks(num_instances=3)"
        with pytest.raises(ValueError, match="Indexing on ROIMasks"):
            roi[0]
