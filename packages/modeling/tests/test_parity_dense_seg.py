"""Parity with detectron2 for RetinaNet, SemanticSegmentor and PanopticFPN (modet-test-support's fixtures).

State_dict keys and shapes equal detectron2's; outputs on the shared inputs, run one image at a
time and batched, match detectron2's by shared/parity/README.md's rule (see modet_test_support.parity).
"""

from __future__ import annotations

import pytest

from modet_test_support.parity import check_case


@pytest.mark.parametrize("case", ["retinanet_R_50_FPN", "semantic_R_50_FPN", "panoptic_fpn_R_50"])
def test_parity(case):
    check_case(case)
