"""The built wheels and sdists (``nox -s build`` makes them and sets MODET_DIST_DIR) carry what
an installed package needs: license files, py.typed, the metadata pip and PyPI read."""

from __future__ import annotations

import email
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import PROJECTS, pyproject


@pytest.fixture(scope="module")
def dist_dir() -> Path:
    path = os.environ.get("MODET_DIST_DIR")
    if not path:
        pytest.fail("MODET_DIST_DIR is not set: run these tests through `nox -s build`, which builds the distributions")
    return Path(path)


def _artifact(dist_dir: Path, name: str, version: str, suffix: str) -> Path:
    stem = f"{name.replace('-', '_')}-{version}"
    matches = [p for p in dist_dir.iterdir() if p.name.startswith(stem) and p.name.endswith(suffix)]
    assert len(matches) == 1, f"expected one {stem}*{suffix} in {dist_dir}, found {matches}"
    return matches[0]


def test_every_distribution_is_built_once(dist_dir):
    expected = {f"{n.replace('-', '_')}-{pyproject(f)['project']['version']}" for n, f in PROJECTS.items()}
    wheels = {"-".join(p.name.split("-")[:2]) for p in dist_dir.glob("*.whl")}
    sdists = {p.name.removesuffix(".tar.gz") for p in dist_dir.glob("*.tar.gz")}
    assert wheels == expected and sdists == expected


def test_wheels_carry_license_notice_typing_and_metadata(dist_dir, project):
    name, _folder, data = project
    version = data["project"]["version"]
    wheel = _artifact(dist_dir, name, version, "-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"{name.replace('-', '_')}-{version}.dist-info"
        assert f"{info}/licenses/LICENSE" in names and f"{info}/licenses/NOTICE" in names
        metadata = email.message_from_bytes(zf.read(f"{info}/METADATA"))
    assert metadata["Name"] == name and metadata["Version"] == version
    assert metadata["License-Expression"] == "Apache-2.0"
    assert sorted(metadata.get_all("License-File")) == ["LICENSE", "NOTICE"]
    assert metadata["Requires-Python"] == ">=3.10"
    assert len(metadata.get_all("Project-URL")) == 5
    assert metadata.get_content_type() == "text/markdown" or metadata["Description-Content-Type"] == "text/markdown"
    code = [n for n in names if not n.startswith(info)]
    if name == "modet":
        assert code == []
    else:
        assert any(n.endswith("/py.typed") for n in code), f"{wheel.name} has no py.typed"
        assert not any("/tests/" in n for n in code), "tests are not installed"


def test_sdists_build_on_their_own(dist_dir, project):
    name, _folder, data = project
    version = data["project"]["version"]
    sdist = _artifact(dist_dir, name, version, ".tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "LICENSE", "NOTICE", "PKG-INFO"} <= names
