"""Parity with detectron2 for RetinaNet, SemanticSegmentor and PanopticFPN (tests/fixtures/parity).

State_dict keys and shapes equal detectron2's; outputs on the shared inputs, run one image at a
time and batched, match detectron2's by shared/parity/README.md's rule (see parity.py).
"""

from __future__ import annotations

import pytest
from parity import check_case


@pytest.mark.parametrize("case", ["retinanet_R_50_FPN", "semantic_R_50_FPN", "panoptic_fpn_R_50"])
def test_parity(case):
    check_case(case)
