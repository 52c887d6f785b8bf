"""A plugin installed through a real entry point is found by build_model with no import."""

import os
import subprocess
import sys
import textwrap

import torch

from modet.core import get_cfg, get_plugin_manager, get_registry, hookimpl, list_plugins
from modet.core.config import section
from modet.modeling import build_model


def toy_cfg():
    cfg = get_cfg()
    cfg.MODEL.META_ARCHITECTURE = "ToyDetector"
    cfg.MODEL.BACKBONE.NAME = "build_toy_backbone"
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def test_installed_plugin_is_listed_with_its_distribution():
    infos = {info.name: info for info in list_plugins()}
    assert infos["toy"].distribution == "modet-toy-plugin"
    assert infos["toy"].version == "0.0.1"
    assert get_registry().entry("meta_arch", "ToyDetector").provider == "modet-toy-plugin"
    assert get_registry().entry("meta_arch", "GeneralizedRCNN").provider == "modet-modeling"


def test_build_model_finds_the_plugin_and_its_config_key():
    cfg = toy_cfg()
    assert cfg.MODEL.TOY.CHANNELS == 5
    cfg.MODEL.TOY.CHANNELS = 3
    model = build_model(cfg)
    assert type(model).__module__ == "modet_toy_plugin"
    assert model.backbone.conv.out_channels == 3
    outputs = model([{"image": torch.zeros(3, 16, 16, dtype=torch.uint8)}])
    assert outputs[0]["mean_feature"].shape == ()


BLOCKED_SCRIPT = textwrap.dedent(
    """
    from modet.core import get_cfg, UnknownComponentError
    from modet.modeling import build_model
    cfg = get_cfg()
    assert "TOY" not in cfg.MODEL, "a blocked plugin must not add config keys"
    cfg.MODEL.META_ARCHITECTURE = "ToyDetector"
    cfg.MODEL.DEVICE = "cpu"
    try:
        build_model(cfg)
    except UnknownComponentError as exc:
        print(exc)
    else:
        raise SystemExit("blocked plugin was still found")
    """
)


def test_blocked_plugin_is_gone_and_the_error_lists_known_names():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_SCRIPT],
        env={**os.environ, "MODET_BLOCKED_PLUGINS": "toy"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "no meta_arch named 'ToyDetector'" in result.stdout
    assert "GeneralizedRCNN  (from modet-modeling)" in result.stdout


class InProcessPlugin:
    """Registered by hand in a running session, after get_cfg() and build_model() were used."""

    @hookimpl
    def modet_register_components(self, registry):
        registry.register("meta_arch", LateDetector)

    @hookimpl
    def modet_add_config(self, cfg):
        section(cfg, "MODEL.LATE").SCALE = 2.0


class LateDetector(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.scale = cfg.MODEL.LATE.SCALE

    def forward(self, batched_inputs):
        return [{"scaled": x["image"].float().mean() * self.scale} for x in batched_inputs]


def test_plugin_registered_in_process_after_first_use_is_seen_without_a_reset():
    model = build_model(toy_cfg())  # the registry and the defaults are built here
    assert type(model).__name__ == "ToyDetector"
    assert "LATE" not in get_cfg().MODEL
    pm = get_plugin_manager()
    plugin = InProcessPlugin()
    pm.register(plugin, name="late-plugin")
    try:
        cfg = get_cfg()
        assert cfg.MODEL.LATE.SCALE == 2.0
        cfg.MODEL.META_ARCHITECTURE = "LateDetector"
        cfg.MODEL.DEVICE = "cpu"
        late = build_model(cfg)
        assert type(late) is LateDetector
        assert late([{"image": torch.ones(3, 4, 4, dtype=torch.uint8)}])[0]["scaled"] == 2.0
        assert get_registry().entry("meta_arch", "LateDetector").provider == "late-plugin"
    finally:
        pm.unregister(plugin)
    assert "LATE" not in get_cfg().MODEL
