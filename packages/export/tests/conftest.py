import pytest

from modet.export import DETECTION_EXPORT_MIN_TORCH, detection_export_supported

# Tests that export a detection model: torch.export proves their shape guards from torch 2.13 on.
requires_detection_export = pytest.mark.skipif(
    not detection_export_supported(), reason=f"exporting detection models needs torch >= {DETECTION_EXPORT_MIN_TORCH}"
)
