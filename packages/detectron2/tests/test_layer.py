"""The drop-in layer: every detectron2 module path imports, and holds modet's objects, not copies."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import detectron2
import pytest
import torch

LAYER_ROOT = Path(detectron2.__file__).parent
LAYER_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(detectron2.__path__, prefix="detectron2.") if info.name
)


def test_version_says_it_is_modet():
    assert detectron2.__version__ == "0.6+modet.0.1.0"


@pytest.mark.parametrize("module_name", LAYER_MODULES)
def test_each_module_imports_and_defines_nothing_of_its_own(module_name):
    module = importlib.import_module(module_name)
    source = ast.parse(Path(module.__file__).read_text())
    statements = [node for node in source.body if not isinstance(node, ast.Expr)]  # the docstring
    if not statements:
        assert hasattr(module, "__path__"), f"{module_name} re-exports nothing"  # only a namespace may be empty
    assert all(isinstance(node, ast.ImportFrom) and _imports_modet_or_own_submodule(node) for node in statements), (
        f"{module_name} must only re-export modet's names"
    )
    for name, value in vars(module).items():
        if inspect.isclass(value) or inspect.isfunction(value):
            assert not value.__module__.startswith("detectron2"), f"{module_name}.{name} is defined in the layer"


def _imports_modet_or_own_submodule(node: ast.ImportFrom) -> bool:
    """``from modet.… import``, or ``from .submodule import name`` of this layer (itself modet's names)."""
    if node.level == 0:
        return node.module is not None and node.module.startswith("modet.")
    return node.level == 1 and node.module is not None and "." not in node.module


# Names a detectron2 package binds to a function although a submodule has the same name.
FUNCTIONS_NAMED_AS_SUBMODULES = [
    ("detectron2.config", "instantiate"),
    ("detectron2.engine", "launch"),
    ("detectron2.layers", "nms"),
    ("detectron2.layers", "roi_align"),
    ("detectron2.layers", "roi_align_rotated"),
]


@pytest.mark.parametrize(("package", "name"), FUNCTIONS_NAMED_AS_SUBMODULES)
def test_importing_a_submodule_leaves_the_function_of_its_name(package, name):
    # In a fresh interpreter: the package alone, then its submodule (as `from detectron2.config.instantiate
    # import ...` in one test file before `from detectron2.config import instantiate` in another).
    code = (
        f"import importlib, {package}\n"
        f"importlib.import_module('{package}.{name}')\n"
        f"value = getattr({package}, '{name}')\n"
        f"assert callable(value) and not isinstance(value, type(importlib)), value\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_no_other_submodule_shares_a_name_with_its_package_attribute():
    # A fresh interpreter imports every package of the layer (pkgutil imports packages, not modules) and
    # lists the attributes named as a submodule that are not modules: exactly the ones kept above.
    code = (
        "import detectron2, importlib, inspect, pkgutil\n"
        "for info in [*pkgutil.walk_packages(detectron2.__path__, 'detectron2.'), None]:\n"
        "    name = info.name if info else 'detectron2'\n"
        "    if info and not info.ispkg: continue\n"
        "    package = importlib.import_module(name)\n"
        "    for sub in pkgutil.iter_modules(package.__path__):\n"
        "        value = vars(package).get(sub.name)\n"
        "        if value is not None and not inspect.ismodule(value): print(name, sub.name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = sorted(tuple(line.split()) for line in result.stdout.splitlines())
    assert found == sorted(FUNCTIONS_NAMED_AS_SUBMODULES)


def test_names_are_modets_objects():
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import get_cfg
    from detectron2.layers import ROIAlign
    from detectron2.modeling import BACKBONE_REGISTRY, build_model
    from detectron2.modeling.poolers import ROIPooler
    from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
    from detectron2.structures import Boxes
    from detectron2.utils.events import EventStorage

    import modet.checkpoint
    import modet.core.config
    import modet.core.events
    import modet.modeling
    import modet.modeling.roi_heads.fast_rcnn
    import modet.ops
    import modet.structures

    assert DetectionCheckpointer is modet.checkpoint.DetectionCheckpointer
    assert get_cfg is modet.core.config.get_cfg
    assert ROIAlign is modet.ops.ROIAlign and ROIPooler is modet.ops.ROIPooler
    assert build_model is modet.modeling.build_model and BACKBONE_REGISTRY is modet.modeling.BACKBONE_REGISTRY
    assert FastRCNNOutputLayers is modet.modeling.roi_heads.fast_rcnn.FastRCNNOutputLayers
    assert Boxes is modet.structures.Boxes
    assert EventStorage is modet.core.events.EventStorage


def test_registering_through_detectron2_registers_in_modet():
    from detectron2.layers import ShapeSpec
    from detectron2.modeling import BACKBONE_REGISTRY, Backbone

    from modet.core.config import get_cfg
    from modet.modeling import build_backbone

    @BACKBONE_REGISTRY.register()
    class ToyBackboneFromDetectron2(Backbone):
        def __init__(self, cfg, input_shape):
            super().__init__()
            self.conv = torch.nn.Conv2d(input_shape.channels, 8, 3, stride=4, padding=1)

        def forward(self, x):
            return {"toy": self.conv(x)}

        def output_shape(self):
            return {"toy": ShapeSpec(channels=8, stride=4)}

    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "ToyBackboneFromDetectron2"
    backbone = build_backbone(cfg)  # modet's builder finds the class registered under detectron2's name
    assert isinstance(backbone, ToyBackboneFromDetectron2)
    assert backbone(torch.zeros(1, 3, 32, 32))["toy"].shape == (1, 8, 8, 8)


def test_importing_beside_a_real_detectron2_is_refused(tmp_path):
    # A second installed distribution named "detectron2", as pip would leave it, found first on sys.path.
    dist_info = tmp_path / "detectron2-0.6.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: detectron2\nVersion: 0.6\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", "import detectron2"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode != 0
    assert "ImportError: modet-detectron2 and detectron2 0.6" in result.stderr
    assert "pip uninstall detectron2" in result.stderr and "pip uninstall modet-detectron2" in result.stderr
