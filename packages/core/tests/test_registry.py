import pytest

from modet.core import hookimpl, plugins
from modet.core.registry import (
    ComponentImportError,
    ComponentRegistry,
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    build_registry,
    get_registry,
)


def build_toy(cfg):
    return ("toy", cfg)


def test_register_and_get_keeps_object_and_provider():
    registry = ComponentRegistry()
    with registry.provided_by("my-dist"):
        registry.register("backbone", build_toy)
    assert registry.get("backbone", "build_toy") is build_toy
    entry = registry.entry("backbone", "build_toy")
    assert entry.provider == "my-dist"
    assert not entry.is_lazy


def test_register_as_decorator_with_explicit_name():
    registry = ComponentRegistry()

    @registry.register("roi_heads", name="MyHeads")
    class Heads:
        pass

    assert registry.get("roi_heads", "MyHeads") is Heads
    assert registry.names("roi_heads") == ["MyHeads"]


def test_lazy_registration_imports_on_first_use():
    registry = ComponentRegistry()
    registry.register_lazy("meta_arch", "OrderedDict", "collections:OrderedDict", provider="stdlib")
    assert registry.entry("meta_arch", "OrderedDict").is_lazy
    from collections import OrderedDict

    assert registry.get("meta_arch", "OrderedDict") is OrderedDict


def test_lazy_registration_that_cannot_import_names_the_component():
    registry = ComponentRegistry()
    registry.register_lazy("backbone", "Broken", "no_such_module_xyz:thing", provider="broken-dist")
    with pytest.raises(ComponentImportError, match=r"backbone 'Broken' \(provided by broken-dist\)"):
        registry.get("backbone", "Broken")


def test_lazy_target_must_name_an_attribute():
    registry = ComponentRegistry()
    with pytest.raises(ValueError, match="package.module:attribute"):
        registry.register_lazy("backbone", "x", "just_a_module")


def test_missing_name_lists_known_names_with_providers():
    registry = ComponentRegistry()
    with registry.provided_by("dist-a"):
        registry.register("backbone", build_toy, name="alpha")
    with registry.provided_by("dist-b"):
        registry.register("backbone", build_toy, name="beta")
    with pytest.raises(UnknownComponentError) as info:
        registry.get("backbone", "gamma")
    message = str(info.value)
    assert "no backbone named 'gamma'" in message
    assert "alpha  (from dist-a)" in message
    assert "beta  (from dist-b)" in message


def test_missing_kind_says_nothing_is_registered():
    registry = ComponentRegistry()
    registry.register("backbone", build_toy)
    with pytest.raises(UnknownComponentError, match="nothing is registered under kind 'sem_seg_head'"):
        registry.get("sem_seg_head", "X")


def test_duplicate_name_names_both_providers():
    registry = ComponentRegistry()
    registry.register("backbone", build_toy, provider="first-dist")
    with pytest.raises(DuplicateComponentError, match="by first-dist and by second-dist"):
        registry.register("backbone", build_toy, provider="second-dist")


def test_unregister_allows_redefinition():
    registry = ComponentRegistry()
    registry.register("backbone", build_toy)
    registry.unregister("backbone", "build_toy")
    assert ("backbone", "build_toy") not in registry
    registry.register("backbone", build_toy)
    assert ("backbone", "build_toy") in registry


class ToyPlugin:
    @hookimpl
    def modet_register_components(self, registry):
        registry.register("backbone", build_toy, name="toy_backbone")


class OtherToyPlugin:
    @hookimpl
    def modet_register_components(self, registry):
        registry.register("backbone", build_toy, name="toy_backbone")


def test_build_registry_records_the_registering_plugin():
    pm = plugins.create_plugin_manager(autoload=False)
    pm.register(ToyPlugin(), name="toy")
    registry = build_registry(pm)
    assert registry.entry("backbone", "toy_backbone").provider == "toy"


def test_two_plugins_claiming_one_name_is_an_error_naming_both():
    pm = plugins.create_plugin_manager(autoload=False)
    pm.register(ToyPlugin(), name="toy")
    pm.register(OtherToyPlugin(), name="other-toy")
    with pytest.raises(DuplicateComponentError) as info:
        build_registry(pm)
    assert "toy" in str(info.value) and "other-toy" in str(info.value)


def test_in_process_plugin_reaches_the_global_registry():
    plugins.get_plugin_manager().register(ToyPlugin(), name="in-process-toy")
    assert get_registry().get("backbone", "toy_backbone") is build_toy


def test_registry_view_decorator_and_get():
    BACKBONE_REGISTRY = Registry("script_backbone", "BACKBONE")

    @BACKBONE_REGISTRY.register()
    def build_script_backbone(cfg):
        return cfg

    assert BACKBONE_REGISTRY.get("build_script_backbone") is build_script_backbone
    assert "build_script_backbone" in BACKBONE_REGISTRY
    assert dict(iter(BACKBONE_REGISTRY))["build_script_backbone"] is build_script_backbone
    assert get_registry().entry("script_backbone", "build_script_backbone").provider == __name__
    assert "build_script_backbone" in repr(BACKBONE_REGISTRY)


def test_registry_view_plain_call_and_unknown_name():
    view = Registry("script_roi_heads")

    class MyHeads:
        pass

    assert view.register(MyHeads) is MyHeads
    assert len(view) >= 1
    with pytest.raises(UnknownComponentError, match="MyHeads"):
        view.get("NotThere")
