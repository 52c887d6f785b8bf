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
