"""Run detectron2's own unit tests, unchanged, against modet-detectron2 and count what passes.

    python run_detectron2_suite.py TESTS_DIR [--report FILE] [--min-passed N]

TESTS_DIR is detectron2's ``tests/`` folder (``../shared/reference/detectron2/tests`` beside this
repository). It is copied into a temporary folder, so its imports (``import detectron2``) stay
as written, and run on CPU without the TorchScript scripting and tracing tests. The result is
compared with ``detectron2_cpu_passing.txt``: the tests that detectron2 itself passes in that run.
Exits 1 when modet passes fewer of the in-scope ones than ``--min-passed``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSING_LIST = HERE / "detectron2_cpu_passing.txt"
PYTEST_ARGS = ["-k", "not script and not tracing", "-p", "no:cacheprovider", "--continue-on-collection-errors"]

# detectron2 modules the drop-in does not provide, and the tests of detectron2's list that need them.
OUT_OF_SCOPE = {
    "tests/tracking/": "detectron2.tracking (video trackers) is not part of modet",
    "tests/test_model_analysis.py": "detectron2.utils.analysis (fvcore FLOP/activation counting) is not part of modet",
    "tests/test_packaging.py::TestProjects": "detectron2.projects exists only in a source checkout of detectron2",
    "tests/modeling/test_roi_heads.py": "imports detectron2.projects.point_rend (a source checkout of detectron2)",
    "tests/layers/test_roi_align.py::ROIAlignTest::test_grid_sample_equivalence": "uses detectron2.projects.point_rend",
}


def read_passing_list(path: Path = PASSING_LIST) -> list[str]:
    """Test ids (``tests/<file>.py::<Class>::<test>``) that detectron2 passes, comments left out."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def out_of_scope_reason(test_id: str) -> str | None:
    return next((reason for prefix, reason in OUT_OF_SCOPE.items() if test_id.startswith(prefix)), None)


def outcomes_from_junit(xml_file: Path, tests_root: Path) -> dict[str, tuple[str, str]]:
    """Test id -> (outcome, first line of the message) from pytest's JUnit XML.

    JUnit names a test by a dotted ``classname``; the longest dotted prefix that is a file under
    ``tests_root``'s parent is the module, the rest the class path.
    """
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(xml_file).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        if not all(parts):
            continue  # a collection error: the module has no test cases (see collection_errors)
        for split in range(len(parts), 0, -1):
            module_file = Path(*parts[:split]).with_suffix(".py")
            if (tests_root.parent / module_file).is_file():
                break
        else:
            continue  # a collection error reported under a non-file name
        test_id = "::".join([module_file.as_posix(), *parts[split:], case.get("name", "")])
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                message = (child.get("message") or child.text or "").strip().splitlines()[0:1]
                message = message[0][:160] if message else ""
        results[test_id] = (outcome, message)
    return results


def collection_errors(xml_file: Path) -> dict[str, str]:
    """Module file -> the first line of its import error, for modules pytest could not collect."""
    errors = {}
    for case in ET.parse(xml_file).getroot().iter("testcase"):
        for child in case:
            if child.tag == "error" and child.get("message") == "collection failure":
                module = case.get("name", "").replace(".", "/") + ".py"
                lines = [ln for ln in (child.text or "").splitlines() if ln.startswith("E ")]
                errors[module] = lines[-1][1:].strip() if lines else "collection failure"
    return errors


def run(tests_dir: Path, report: Path | None, min_passed: int | None) -> int:
    with tempfile.TemporaryDirectory(prefix="detectron2-tests-") as tmp:
        root = Path(tmp) / "tests"
        shutil.copytree(tests_dir, root)
        for path in root.rglob("*"):  # the reference copy may be read-only
            path.chmod(path.stat().st_mode | 0o200)
        # An empty pytest.ini makes the temporary folder pytest's rootdir, so no configuration of an
        # enclosing folder (this repository's, when TMPDIR lies inside it) applies to detectron2's tests.
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        xml_file = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "tests", *PYTEST_ARGS, "-q", f"--junitxml={xml_file}"]
        print("$", " ".join(command), flush=True)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # on CPU, as detectron2's list was made
        subprocess.run(command, cwd=tmp, env=env, check=False)
        outcomes = outcomes_from_junit(xml_file, root)
        broken_modules = collection_errors(xml_file)

    if not outcomes:
        print("FAILED: no test result could be read from pytest's JUnit report.")
        return 1
    expected = read_passing_list()
    in_scope = [t for t in expected if out_of_scope_reason(t) is None]
    passed = [t for t in in_scope if outcomes.get(t, ("missing", ""))[0] == "passed"]
    failed = [t for t in in_scope if t not in passed]

    lines = [
        f"modet passes {len(passed)} of the {len(in_scope)} tests detectron2 passes on CPU "
        f"({len(expected) - len(in_scope)} more of detectron2's are out of scope)."
    ]
    for test_id in failed:
        module = test_id.split("::", 1)[0]
        outcome, message = outcomes.get(test_id, ("not collected", broken_modules.get(module, "not run")))
        lines.append(f"  {outcome:>13}  {test_id}: {message}")
    for prefix, reason in OUT_OF_SCOPE.items():
        count = sum(t.startswith(prefix) for t in expected)
        lines.append(f"  out of scope  {prefix} ({count}): {reason}")
    text = "\n".join(lines)
    print(text)
    if report is not None:
        report.write_text(text + "\n")
    if min_passed is not None and len(passed) < min_passed:
        print(f"FAILED: modet must pass at least {min_passed} of them.")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests_dir", type=Path)
    parser.add_argument("--report", type=Path, default=None, help="also write the summary to this file")
    parser.add_argument("--min-passed", type=int, default=None, help="fail below this many passed tests")
    args = parser.parse_args()
    return run(args.tests_dir, args.report, args.min_passed)


if __name__ == "__main__":
    sys.exit(main())
