"""UI test fixtures: offscreen Qt, a populated store and bridge, a recording session, a fake clock."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings

from agent_app.store import Store
from tests.ui.fakes import RecordingSession, make_store
from ui.bridge import StoreBridge
from ui.tasks import TaskRunner


class FakeClock:
    """An injected clock for SLA countdowns (no sleeping)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def clock(now: float) -> FakeClock:
    return FakeClock(now)


@pytest.fixture
def store(now: float) -> Store:
    return make_store(30, now)


@pytest.fixture
def bridge(store: Store) -> StoreBridge:
    return StoreBridge(store)


@pytest.fixture
def session(store: Store) -> RecordingSession:
    return RecordingSession(store)


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    """A TaskRunner for synchronous widget tests: its tasks land on a private loop that never runs them
    (async tests make their own TaskRunner on pytest-asyncio's running loop)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    r = TaskRunner()
    yield r
    r.cancel_all()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def state(tmp_path: object) -> QSettings:
    return QSettings(str(tmp_path) + "/state.ini", QSettings.Format.IniFormat)
