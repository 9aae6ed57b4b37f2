"""One place for unexpected errors: sys/threading/loop hooks that log and show one non-blocking dialog."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


class ErrorReporter(QObject):
    """Logs every unexpected error and shows at most one dialog at a time (never modal-blocking).

    Errors from other threads are marshalled to the GUI thread through a queued signal. While a
    dialog is open, later errors only raise its counter ("3 more errors, see the log").

    Signals:
        error_reported(str): a one-line summary of an unexpected error (tests listen to it).
    """

    error_reported = Signal(str)
    _error_from_thread = Signal(str, str)

    def __init__(self, log_file: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.parent_widget: QWidget | None = None
        self.dialog: QMessageBox | None = None
        self._more = 0
        self._previous_hook = sys.excepthook
        self._error_from_thread.connect(self.on_error_from_thread, Qt.ConnectionType.QueuedConnection)

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        if loop is not None:
            loop.set_exception_handler(self._loop_exception_handler)

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        threading.excepthook = threading.__excepthook__

    # ------------------------------------------------------------------ hooks

    def _excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, exc, tb)
            return
        log.error("Unhandled exception", exc_info=(kind, exc, tb))
        self._report(_summary(exc), "".join(traceback.format_exception(kind, exc, tb)))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        log.error("Unhandled exception in thread %s", args.thread, exc_info=args.exc_value)
        details = "".join(traceback.format_exception(args.exc_value))
        self._error_from_thread.emit(_summary(args.exc_value), details)

    def _loop_exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            return  # cancellations at shutdown are expected (qasync PR #137)
        message = context.get("message", "Unhandled error in a background task")
        if exc is None:
            log.error("asyncio: %s", message)
            self._report(str(message), str(context))
            return
        log.error("asyncio: %s", message, exc_info=exc)
        self._report(_summary(exc), "".join(traceback.format_exception(exc)))

    @Slot(str, str)
    def on_error_from_thread(self, summary: str, details: str) -> None:
        self._report(summary, details)

    # ------------------------------------------------------------------ dialog

    def report(self, exc: BaseException, what: str = "") -> None:
        """For code that caught something unexpected and wants it shown."""
        log.error("%s", what or "Error", exc_info=exc)
        summary = f"{what}: {_summary(exc)}" if what else _summary(exc)
        self._report(summary, "".join(traceback.format_exception(exc)))

    def _report(self, summary: str, details: str) -> None:
        self.error_reported.emit(summary)
        if self.dialog is not None and self.dialog.isVisible():
            self._more += 1
            self.dialog.setInformativeText(self._informative())
            return
        self._more = 0
        box = QMessageBox(self.parent_widget)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Something went wrong")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"SDR Agent Desk hit an unexpected error and kept running.\n\n{summary}")
        box.setInformativeText(self._informative())
        box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self.on_dialog_finished)
        self.dialog = box
        # open(), not exec(): no nested event loop inside a coroutine (qasync PR #139).
        QTimer.singleShot(0, box.show)

    def _informative(self) -> str:
        more = f"{self._more} more error(s) since. " if self._more else ""
        where = f"Details are in the log: {self.log_file}" if self.log_file else ""
        return more + where

    @Slot()
    def on_dialog_finished(self) -> None:
        self.dialog = None


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def print_fatal(exc: BaseException) -> None:
    """Last resort before the event loop exists."""
    print(f"sdr-agent-desk: {_summary(exc)}", file=sys.stderr)
