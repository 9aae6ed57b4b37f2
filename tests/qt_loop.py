"""A qasync event loop on the test QApplication, and the helpers tests use to drive it without sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import qasync
from PySide6.QtWidgets import QApplication


class QtTestLoop(qasync.QEventLoop):
    """qasync's loop, fixed for ``run_until_complete``: after its loop stops, qasync processes Qt events
    once more, with no running loop set, so an asyncio callback run then (e.g. the in-process chat
    server finishing a connection the client just closed) dies with "RuntimeError: no running event
    loop" -- an exception nobody retrieves. Here the loop stays set as running for that last pass."""

    _completing = False

    def run_forever(self) -> None:
        try:
            super().run_forever()
        finally:
            if self._completing:
                asyncio.events._set_running_loop(self)

    def run_until_complete[T](self, future: Awaitable[T]) -> T:  # type: ignore[override]
        self._completing = True
        try:
            return super().run_until_complete(future)  # type: ignore[no-any-return]
        finally:
            self._completing = False
            asyncio.events._set_running_loop(None)


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop on the test QApplication; tests drive it with ``run(loop, coro)``."""
    ev = QtTestLoop(qapp)
    asyncio.set_event_loop(ev)
    yield ev
    tasks = [t for t in asyncio.all_tasks(ev) if not t.done()]
    for task in tasks:
        task.cancel()
    ev.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    ev.close()
    asyncio.set_event_loop(None)


def run[T](loop: asyncio.AbstractEventLoop, coro: Awaitable[T], timeout: float = 20.0) -> T:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


async def wait_until(cond: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:  # noqa: ASYNC109
    """Await a condition while the loop (and Qt) keeps running; fails with ``what`` on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


async def pump_until(predicate: Callable[[], object], what: str, within: float = 10.0) -> None:
    """For pytest-asyncio tests of Qt widgets (Qt is not driven by that loop): run both loops -- asyncio
    here, Qt's events by hand -- until the UI shows what we expect; fails naming ``what`` on timeout."""
    deadline = time.monotonic() + within
    while True:
        QApplication.processEvents()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
