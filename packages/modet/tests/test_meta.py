"""`pip install modet` installs every modet package: the meta-distribution's only job."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

PACKAGES = Path(__file__).resolve().parents[2]


# The detectron2 drop-in claims the `detectron2` import name: installed on request, not by `modet`.
NOT_IN_MODET = {"modet", "modet-detectron2"}


def _packages() -> dict[str, str]:
    """Distribution name -> import name of every package under packages/ that `modet` installs."""
    found = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        name = re.search(r'^name = "([^"]+)"', pyproject.read_text(), re.M).group(1)  # no tomllib on 3.10
        if name not in NOT_IN_MODET:
            src = pyproject.parent / "src"
            top = next(p for p in src.iterdir() if p.is_dir() and not p.name.endswith(".egg-info"))
            sub = [p.name for p in top.iterdir() if (p / "__init__.py").exists()]
            found[name] = f"{top.name}.{sub[0]}" if top.name == "modet" else top.name
    return found


def test_modet_requires_every_package_in_a_bounded_range():
    requirements = {Requirement(r).name: Requirement(r) for r in importlib.metadata.requires("modet") or []}
    assert set(requirements) == set(_packages())
    for name, requirement in requirements.items():
        installed = importlib.metadata.version(name)
        assert requirement.specifier.contains(installed), (name, str(requirement.specifier), installed)
        assert any(s.operator == "<" for s in requirement.specifier), f"{name} has no upper bound"


def test_every_package_imports_with_its_distributions_version():
    for dist, module_name in _packages().items():
        module = importlib.import_module(module_name)
        assert module.__version__ == importlib.metadata.version(dist), module_name


def test_the_modet_command_lists_every_package():
    modet = Path(sys.executable).with_name("modet")
    result = subprocess.run([str(modet), "info", "--json"], capture_output=True, text=True, check=True)
    listed = {p["name"] for p in json.loads(result.stdout)["packages"]}
    assert set(_packages()) | {"modet"} <= listed


def test_the_wheel_has_no_code():
    files = importlib.metadata.files("modet") or []
    code = [str(f) for f in files if f.suffix == ".py" or re.match(r"modet/", str(f))]
    assert code == []
