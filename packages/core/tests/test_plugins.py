import importlib.metadata

import pytest

from modet.core import get_cfg, hookimpl, plugins


def test_core_registers_itself_through_its_entry_point():
    infos = {info.name: info for info in plugins.list_plugins()}
    assert infos["core"].distribution == "modet-core"
    assert infos["core"].version == importlib.metadata.version("modet-core")
    assert get_cfg().VERSION == 2


def test_manager_is_created_once_and_lazily():
    assert plugins._manager is None
    first = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is first


def test_blocked_plugin_is_not_loaded(monkeypatch):
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "core")
    plugins.reset_plugin_manager()
    assert "core" not in {info.name for info in plugins.list_plugins()}
    assert "VERSION" not in get_cfg()


def test_blocking_by_distribution_name(monkeypatch):
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "something-else, modet-core")
    assert plugins.blocked_plugins() == frozenset({"something-else", "modet-core"})
    assert "core" not in {info.name for info in plugins.list_plugins()}


def test_autoload_can_be_disabled(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    assert plugins.list_plugins() == []


class Defaults:
    @hookimpl
    def modet_add_config(self, cfg):
        cfg.MY_PLUGIN_WIDTH = 7


def test_in_process_plugin_adds_config(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    plugins.get_plugin_manager().register(Defaults(), name="defaults")
    assert get_cfg().MY_PLUGIN_WIDTH == 7
    info = {i.name: i for i in plugins.list_plugins()}["defaults"]
    assert info.distribution is None


class BrokenEntryPoint:
    name = "broken"
    value = "broken_module:plugin"
    dist = None

    def load(self):
        raise ImportError("No module named 'broken_module'")


def test_plugin_that_fails_to_import_is_named(monkeypatch):
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group: [BrokenEntryPoint()])
    with pytest.raises(
        plugins.PluginLoadError, match=r"plugin 'broken' \(broken_module:plugin.*MODET_BLOCKED_PLUGINS=broken"
    ):
        plugins.get_plugin_manager()


class Keys:
    def __init__(self, value):
        self.value = value

    @hookimpl
    def modet_add_config(self, cfg):
        cfg.SHARED_KEY = self.value


def test_plugin_registered_after_first_use_is_seen_without_a_reset(monkeypatch):
    from modet.core.registry import get_registry

    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    assert "MY_PLUGIN_WIDTH" not in get_cfg()
    assert get_registry().names("backbone") == []
    plugin = Defaults()
    plugins.get_plugin_manager().register(plugin, name="late")
    assert get_cfg().MY_PLUGIN_WIDTH == 7
    plugins.get_plugin_manager().unregister(plugin)
    assert "MY_PLUGIN_WIDTH" not in get_cfg()
    plugins.get_plugin_manager().register(plugin, name="late")
    plugins.get_plugin_manager().set_blocked("late")
    assert "MY_PLUGIN_WIDTH" not in get_cfg()


def test_two_plugins_defining_one_key_differently_is_an_error_naming_both(monkeypatch):
    from modet.core.config import ConfigKeyConflictError

    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    pm = plugins.get_plugin_manager()
    pm.register(Keys(1), name="first-keys")
    pm.register(Keys(1), name="same-keys")
    assert get_cfg().SHARED_KEY == 1  # the same default twice is fine
    pm.register(Keys(2), name="other-keys")
    with pytest.raises(
        ConfigKeyConflictError,
        match="SHARED_KEY is defined by plugin 'other-keys' with default 2 and by plugin 'same-keys' with default 1",
    ):
        get_cfg()


def test_config_key_owners_say_which_plugin_defined_each_key():
    from modet.core.config import config_key_owners

    owners = config_key_owners()
    assert owners["VERSION"].distribution == "modet-core"
    assert owners["GLOBAL.HACK"].name == "core"


def test_call_hook_returns_each_plugins_answer_with_the_plugin(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")

    class Answer:
        def __init__(self, value):
            self.value = value

        @hookimpl
        def modet_checkpoint_formats(self):
            return self.value

    pm = plugins.get_plugin_manager()
    pm.register(Answer(["a"]), name="one")
    pm.register(Answer(None), name="two")
    outputs = plugins.call_hook("modet_checkpoint_formats")
    assert [(o.plugin.name, o.value) for o in outputs] == [("two", None), ("one", ["a"])]


class FakeDistribution:
    version = "9.9"
    metadata = {"Name": "modet-fake"}
    name = "modet-fake"


class FakeEntryPoint:
    """An entry point of a distribution 'modet-fake' whose plugin is ``plugin``."""

    value = "modet_fake:plugin"
    dist = FakeDistribution()

    def __init__(self, name, plugin):
        self.name, self.plugin = name, plugin

    def load(self):
        return self.plugin


class RaisingConfig:
    @hookimpl
    def modet_add_config(self, cfg):
        raise ValueError("bad default")


def with_fake_plugin(monkeypatch, name, plugin):
    real = plugins.importlib.metadata.entry_points
    monkeypatch.setattr(
        plugins.importlib.metadata, "entry_points", lambda group: [*real(group=group), FakeEntryPoint(name, plugin)]
    )
    plugins.reset_plugin_manager()


def test_a_hook_that_raises_is_named_with_its_distribution(monkeypatch):
    with_fake_plugin(monkeypatch, "fake", RaisingConfig())
    with pytest.raises(
        plugins.PluginHookError,
        match=r"modet plugin 'fake' \(modet-fake 9.9\) failed in modet_add_config: ValueError: bad default. "
        r".*MODET_BLOCKED_PLUGINS=fake",
    ) as info:
        get_cfg()
    assert isinstance(info.value.__cause__, ValueError)


class FakeComponents:
    @hookimpl
    def modet_register_components(self, registry):
        registry.register_lazy("backbone", "build_fake_backbone", "modet_fake:build")

    @hookimpl
    def modet_add_config(self, cfg):
        cfg.FAKE_SECTION = type(cfg)()
        cfg.FAKE_SECTION.WIDTH = 3


def test_blocked_plugin_is_named_for_what_it_would_provide(monkeypatch):
    from modet.core.registry import UnknownComponentError, get_registry

    with_fake_plugin(monkeypatch, "fake", FakeComponents())
    assert get_cfg().FAKE_SECTION.WIDTH == 3
    assert get_registry().entry("backbone", "build_fake_backbone").provider == "modet-fake"
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "fake")
    plugins.reset_plugin_manager()
    with pytest.raises(
        AttributeError,
        match=r"config has no key 'FAKE_SECTION'. FAKE_SECTION: it is defined by plugin 'fake' \(modet-fake 9.9\), "
        r"which is not loaded \(blocked by MODET_BLOCKED_PLUGINS\)",
    ):
        get_cfg().FAKE_SECTION  # noqa: B018
    with pytest.raises(
        UnknownComponentError,
        match=r"backbone 'build_fake_backbone' is provided by plugin 'fake' \(modet-fake 9.9\), which is not loaded",
    ):
        get_registry().get("backbone", "build_fake_backbone")


def test_a_section_of_a_blocked_plugin_is_carried_and_a_typo_is_not(monkeypatch, tmp_path):
    with_fake_plugin(monkeypatch, "fake", FakeComponents())
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "fake")
    plugins.reset_plugin_manager()
    path = tmp_path / "c.yaml"
    path.write_text("FAKE_SECTION:\n  WIDTH: 5\n")
    cfg = get_cfg()
    cfg.merge_from_file(path)
    assert cfg.FAKE_SECTION.WIDTH == 5
    path.write_text("FAKE_SECTON:\n  WIDTH: 5\n")
    with pytest.raises(KeyError, match="FAKE_SECTON"):
        get_cfg().merge_from_file(path)


def test_blocking_core_explains_the_missing_keys(monkeypatch):
    monkeypatch.setenv(plugins.BLOCKED_PLUGINS_ENV, "core")
    plugins.reset_plugin_manager()
    with pytest.raises(AttributeError, match=r"'VERSION'. VERSION: it is defined by plugin 'core' \(modet-core"):
        get_cfg().VERSION  # noqa: B018


def test_autoload_disabled_is_named_in_missing_key_errors(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    with pytest.raises(AttributeError, match=r"which is not loaded \(MODET_DISABLE_PLUGIN_AUTOLOAD=1 is set\)"):
        get_cfg().OUTPUT_DIR  # noqa: B018
