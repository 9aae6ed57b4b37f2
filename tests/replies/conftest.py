"""Fixtures for the saved-replies tests: a real chat server on 127.0.0.1:0 with a manager and two SDRs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_server import ChatServer, run_server
from tests.server.conftest import Team, make_config, on_both_storages, provision, storage_kind

__all__ = ["storage_kind"]  # autouse: make_config opens the test's storage


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_storages(metafunc, {"test_server.py"})  # saved replies on SQLite and on PostgreSQL


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    async with run_server(make_config(tmp_path)) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)
