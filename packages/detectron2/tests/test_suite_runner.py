"""The detectron2-suite runner's bookkeeping: the committed list, its scope, reading JUnit results."""

from __future__ import annotations

from pathlib import Path

import run_detectron2_suite as suite

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="" name="tests.layers.test_broken"><error message="collection failure">Traceback:
E   ModuleNotFoundError: No module named 'cv2'</error></testcase>
<testcase classname="tests.structures.test_boxes.TestBoxMode" name="test_convert" time="0.1" />
<testcase classname="tests.structures.test_boxes.TestBoxMode" name="test_failing" time="0.1">
<failure message="AssertionError: 1 != 2&#10;more lines">details</failure></testcase>
<testcase classname="tests.test_events.TestEventWriter" name="testScalar" time="0.1">
<skipped message="needs a GPU" /></testcase>
</testsuite></testsuites>"""


def test_the_committed_list():
    tests = suite.read_passing_list()
    assert len(tests) == 246 and len(set(tests)) == 246
    assert all(t.startswith("tests/") and "::" in t for t in tests)
    in_scope = [t for t in tests if suite.out_of_scope_reason(t) is None]
    assert len(in_scope) == 212  # issue 12's figure
    assert suite.out_of_scope_reason("tests/tracking/test_bbox_iou_tracker.py::T::test_x").startswith(
        "detectron2.tracking"
    )


def test_reading_junit(tmp_path: Path):
    (tmp_path / "tests" / "structures").mkdir(parents=True)
    (tmp_path / "tests" / "structures" / "test_boxes.py").write_text("")
    (tmp_path / "tests" / "test_events.py").write_text("")
    xml_file = tmp_path / "junit.xml"
    xml_file.write_text(JUNIT)
    outcomes = suite.outcomes_from_junit(xml_file, tmp_path / "tests")
    assert outcomes == {
        "tests/structures/test_boxes.py::TestBoxMode::test_convert": ("passed", ""),
        "tests/structures/test_boxes.py::TestBoxMode::test_failing": ("failure", "AssertionError: 1 != 2"),
        "tests/test_events.py::TestEventWriter::testScalar": ("skipped", "needs a GPU"),
    }
    assert suite.collection_errors(xml_file) == {
        "tests/layers/test_broken.py": "ModuleNotFoundError: No module named 'cv2'"
    }
