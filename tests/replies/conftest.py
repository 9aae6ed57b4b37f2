"""Fixtures for the saved-replies tests: a real chat server on 127.0.0.1:0 with a manager and two SDRs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_server import ChatServer, run_server
from tests.server.conftest import Team, make_config, provision

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    async with run_server(make_config(tmp_path)) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)
