"""Builds the main window over a populated store and keeps it open (for desktop-session screenshots)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.ui.fakes import RecordingSession, fill_transcript, make_store
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.shell.features import install_features
from ui.tasks import TaskRunner


def main() -> int:
    app = QApplication(sys.argv)
    now = time.time()
    store = make_store(30, now)
    fill_transcript(store, "c-00003", now)
    bridge = StoreBridge(store)
    session = RecordingSession(store)
    window = MainWindow(bridge, session, TaskRunner(), settings=None)  # type: ignore[arg-type]
    install_features(window)  # CQL, participants, calendar, Meetings, report, saved replies, panel
    window.resize(1400, 860)
    window.show()
    window.open_conversation("c-00003")
    window.conversation.composer.set_text("Thursday works? I can also do Friday morning.")
    window.show_banner("New chat from Sofia Alvarez (Stark Logistics)", "c-00005")
    typing = __import__("agent_app.protocol", fromlist=["TypingFrame"]).TypingFrame(
        conversation_id="c-00003",
        author_kind="visitor",
        author_name="Tom Becker",
        preview="and the API limits",
    )
    QTimer.singleShot(300, lambda: store.apply_typing(typing))
    if "--quit" in sys.argv:
        QTimer.singleShot(1500, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
