"""Shared facts for the packaging tests: which folders are published distributions."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def published_projects() -> dict[str, Path]:
    """Distribution name -> folder of every published distribution (packages/*, plugins/*)."""
    folders = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")])
    return {tomllib.loads(p.read_text())["project"]["name"]: p.parent for p in folders}


def pyproject(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())


PROJECTS = published_projects()


@pytest.fixture(params=sorted(PROJECTS), ids=sorted(PROJECTS))
def project(request) -> tuple[str, Path, dict]:
    folder = PROJECTS[request.param]
    return request.param, folder, pyproject(folder)
