import pytest

from modet.core import plugins


@pytest.fixture(autouse=True)
def fresh_plugin_state():
    """Each test sees the installed plugins freshly loaded."""
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()
