"""Fixtures for the demo tests: the real chat server in-process on 127.0.0.1 with the demo team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_server.app import run_server
from chat_server.config import Config
from sandbox.workspace import provision_team


@pytest.fixture
async def chat_server(tmp_path: Path) -> AsyncIterator[Any]:
    # The simulator speaks the core protocol; demo_workspace tests run it with the real bot.
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"), playbook="off")
    async with run_server(config) as server:
        await provision_team(server)
        yield server
