"""The one way the UI starts a coroutine: keeps it alive, shows busy state, routes errors, cancels on quit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    """Runs coroutines on the qasync loop on behalf of widgets.

    Keeps a strong reference to every task (asyncio only keeps weak ones: qasync issue #98), marks the
    ``busy`` widget (property ``busy=true`` + disabled) while the task runs, hands results to
    ``on_success`` and failures to ``on_error`` or, by default, to the ``failed`` signal that the main
    window shows in one place. ``cancel_all()`` runs on quit.

    Signals:
        failed(str, Exception): a task's description and what went wrong (not for cancellations).
        busy_changed(bool): whether any task is running.
    """

    failed = Signal(str, object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()

    def run[T](
        self,
        coro: Coroutine[Any, Any, T],
        *,
        what: str = "",
        on_success: Callable[[T], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        busy: QWidget | None = None,
        key: object = None,
    ) -> asyncio.Task[T]:
        """Start ``coro``. With ``key``, an earlier task started with the same key is cancelled first
        (e.g. a side-panel lookup for the conversation the user just left)."""
        if key is not None:
            for task in list(self._tasks):
                if getattr(task, "_runner_key", None) == key:
                    task.cancel()
        task = asyncio.get_event_loop().create_task(coro)
        task._runner_key = key  # type: ignore[attr-defined]
        self._tasks.add(task)
        if len(self._tasks) == 1:
            self.busy_changed.emit(True)
        if busy is not None:
            _set_busy(busy, True)

        def done(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            if not self._tasks:
                self.busy_changed.emit(False)
            if busy is not None:
                try:
                    _set_busy(busy, False)
                except RuntimeError:  # the widget was deleted meanwhile
                    pass
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None and on_success is not None:
                try:
                    on_success(t.result())
                except Exception as handler_exc:  # a bug in the result handler: same one place as failures
                    exc = handler_exc
            if exc is None:
                return
            if not isinstance(exc, Exception):
                raise exc
            log.warning("%s failed: %s", what or _describe(coro), exc, exc_info=exc)
            if on_error is not None:
                on_error(exc)
            else:
                self.failed.emit(what or _describe(coro), exc)

        task.add_done_callback(done)
        return task

    @property
    def running(self) -> int:
        return len(self._tasks)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def _describe(coro: Coroutine[Any, Any, Any]) -> str:
    return getattr(coro, "__qualname__", type(coro).__name__)


def _set_busy(widget: QWidget, busy: bool) -> None:
    widget.setProperty("busy", busy)
    widget.setEnabled(not busy)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
