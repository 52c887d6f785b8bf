"""docs/writing-a-plugin.md shows only what tests run: each code block says where it comes from
(``<!-- from PATH -->``, PATH relative to docs/plugin-example) and is a run of that file's lines;
a block of output (``<!-- the error: TEST -->``) is checked by that test."""

from __future__ import annotations

import re
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1]
GUIDE = EXAMPLE.parent / "writing-a-plugin.md"
BLOCK = re.compile(r"(<!--[^\n]*-->)?\n```([a-z]*)\n(.*?)```", re.S)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _is_run_of(block: list[str], file: list[str]) -> bool:
    return any(file[i : i + len(block)] == block for i in range(len(file) - len(block) + 1))


def _blocks() -> list[tuple[str | None, str, str]]:
    """(marker, language, body) of each fenced block."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(GUIDE.read_text())]


def test_every_code_block_is_a_run_of_lines_of_a_file_the_tests_use():
    blocks = _blocks()
    assert len(blocks) >= 8
    for marker, language, body in blocks:
        assert marker is not None, f"a code block without its source:\n{body}"
        if marker.startswith("<!-- the error: "):
            test = marker.removeprefix("<!-- the error: ").removesuffix(" -->")
            path, name = test.split("::")
            assert f"def {name}" in (EXAMPLE / path).read_text(), marker
            continue
        source = EXAMPLE / marker.removeprefix("<!-- from ").removesuffix(" -->")
        assert source.is_file(), marker
        if language == "console":  # commands: each is run, as written, by that file
            assert all(line in source.read_text() for line in _lines(body)), f"{marker}:\n{body}"
            continue
        assert _is_run_of(_lines(body), _lines(source.read_text())), f"{marker} is not a run of its lines:\n{body}"


def test_every_file_of_the_example_is_in_the_layout_the_guide_shows():
    layout = next(body for marker, _, body in _blocks() if marker == "<!-- from tests/layout.txt -->")
    shown = {line.strip().split()[0] for line in layout.splitlines() if line.strip()}
    files = {
        path.relative_to(EXAMPLE).as_posix()
        for path in EXAMPLE.rglob("*")
        if path.is_file()
        and not any(
            part in ("__pycache__", "dist", "build") or part.startswith(".") for part in path.relative_to(EXAMPLE).parts
        )
    }
    assert shown == files - {"tests/layout.txt"}
