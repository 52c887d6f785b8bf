import pytest

from modet.core import plugins


@pytest.fixture(autouse=True)
def fresh_plugin_state(monkeypatch):
    """Every test starts and ends with no plugin manager, registry or cached defaults."""
    monkeypatch.delenv(plugins.BLOCKED_PLUGINS_ENV, raising=False)
    monkeypatch.delenv(plugins.DISABLE_AUTOLOAD_ENV, raising=False)
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()
