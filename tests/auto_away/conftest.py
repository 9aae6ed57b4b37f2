"""Auto-away fixtures: private D-Bus buses, the chat server fixtures (127.0.0.1:0) and the Qt test loop."""

import os
from collections.abc import Iterator

import pytest

from tests.auto_away.fake_desktop import start_bus
from tests.qt_loop import loop  # noqa: F401 -- a fixture
from tests.server.conftest import config, server, team  # noqa: F401 -- fixtures


@pytest.fixture
def buses(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """Two private dbus-daemons: one as the session bus, one standing in for the system bus (empty until a
    test serves fake desktop services on them)."""
    session_address, session_pid = start_bus()
    system_address, system_pid = start_bus()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_address)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", system_address)
    yield session_address, system_address
    os.kill(session_pid, 15)
    os.kill(system_pid, 15)
