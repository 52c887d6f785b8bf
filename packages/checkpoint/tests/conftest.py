from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from modet.core.plugins import reset_plugin_manager


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test sees freshly loaded plugins and a private download cache."""
    monkeypatch.setenv("MODET_CACHE", str(tmp_path / "cache"))
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="modet.checkpoint")
    return caplog
