import pytest

from modet.core import hookimpl, plugins
from modet.core.registry import (
    ComponentImportError,
    ComponentRegistry,
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    UnknownKindError,
    build_registry,
    get_registry,
)


def build_toy(cfg):
    return ("toy", cfg)


def test_register_and_get_keeps_object_and_provider():
    registry = ComponentRegistry()
    registry.register("backbone", build_toy, provider="my-dist")
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
    registry.register("backbone", build_toy, name="alpha", provider="dist-a")
    registry.register("backbone", build_toy, name="beta", provider="dist-b")
    with pytest.raises(UnknownComponentError) as info:
        registry.get("backbone", "gamma")
    message = str(info.value)
    assert "no backbone named 'gamma'" in message
    assert "alpha  (from dist-a)" in message
    assert "beta  (from dist-b)" in message
    with pytest.raises(UnknownComponentError, match="no backbone named 'alpah'. Did you mean 'alpha'"):
        registry.get("backbone", "alpah")


def test_misspelt_kind_is_an_error_with_did_you_mean_not_a_new_kind():
    registry = ComponentRegistry()
    with pytest.raises(UnknownKindError, match="unknown component kind 'backbon'. Did you mean 'backbone'"):
        registry.register("backbon", build_toy)
    with pytest.raises(UnknownKindError, match="'roi_head'. Did you mean 'roi_heads'"):
        registry.get("roi_head", "StandardROIHeads")
    assert registry.kinds() == []
    registry.add_kind("my_heads")
    registry.register("my_heads", build_toy)
    assert registry.get("my_heads", "build_toy") is build_toy


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
    assert BACKBONE_REGISTRY.unregister("build_script_backbone") is build_script_backbone
    assert "build_script_backbone" not in BACKBONE_REGISTRY


def test_registry_view_plain_call_and_unknown_name():
    view = Registry("script_roi_heads")

    class MyHeads:
        pass

    assert view.register(MyHeads) is MyHeads
    assert len(view) >= 1
    with pytest.raises(UnknownComponentError, match="MyHeads"):
        view.get("NotThere")
    view.unregister("MyHeads")


def test_script_registrations_survive_new_plugins_and_resets():
    view = Registry("script_survivor")

    @view.register()
    def kept(cfg):
        return cfg

    try:
        plugins.get_plugin_manager().register(ToyPlugin(), name="late-toy")  # rebuilds the registry
        assert view.get("kept") is kept and get_registry().get("backbone", "toy_backbone") is build_toy
        plugins.reset_plugin_manager()
        assert view.get("kept") is kept
        assert ("backbone", "toy_backbone") not in get_registry()  # the in-process plugin went with the manager
    finally:
        view.unregister("kept")


def test_script_registration_clashing_with_a_plugin_names_both():
    view = Registry("backbone")
    view.register(build_toy, name="toy_backbone")
    try:
        plugins.get_plugin_manager().register(ToyPlugin(), name="clashing-toy")
        with pytest.raises(DuplicateComponentError, match=f"by clashing-toy and by {__name__}"):
            get_registry()
    finally:
        view.unregister("toy_backbone")


class WrappingPlugin:
    """A wrapper hookimpl: runs around the others and adds after them."""

    @hookimpl(wrapper=True)
    def modet_register_components(self, registry):
        yield
        registry.register("backbone", build_toy, name="added_by_wrapper")
        return None


def test_wrapper_hookimpls_work_and_are_attributed():
    pm = plugins.create_plugin_manager(autoload=False)
    pm.register(ToyPlugin(), name="toy")
    pm.register(WrappingPlugin(), name="wrapping")
    registry = build_registry(pm)
    assert registry.entry("backbone", "added_by_wrapper").provider == "wrapping"
    assert registry.entry("backbone", "toy_backbone").provider == "toy"
