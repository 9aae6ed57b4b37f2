"""Who is viewing / typing: tells the server what this desk shows, and shows teammates in the open chat."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer

from agent_app import protocol as p
from agent_app.presence_in_chat import ChatPresence, ViewingReporter
from agent_app.session import ConnectionState

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class ViewingFeature(QObject):
    """The conversation shown counts as "viewing" only while the window is on screen (not hidden to the
    tray, not minimised) and the conversation, not another view (Meetings, Reports), is in front."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.store, self.session, self.runner = (
            window,
            window.store,
            window.session,
            window.runner,
        )
        self.presence = ChatPresence()
        self.reporter = ViewingReporter(self._send)
        self._expiry = QTimer(self, singleShot=True)
        self._expiry.timeout.connect(self.refresh)
        self.store.add_listener(self.presence)
        self._connect_signals()
        self.on_session_state(getattr(self.session, "state", ConnectionState.OFFLINE), "")

    def _connect_signals(self) -> None:
        # (getattr: tests of the window alone give it a stand-in session without these)
        for name, listener in (
            ("add_viewers_listener", self.presence.on_viewers_frame),
            ("add_state_listener", self.on_session_state),
        ):
            add = getattr(self.session, name, None)
            if add is not None:
                add(listener)
        self.presence.listeners.append(self.on_presence_changed)
        self.window.conversation_opened.connect(self.on_window_conversation_opened)
        self.window.center.currentChanged.connect(self.on_center_current_changed)
        self.window.bridge.agent_changed.connect(lambda _agent: self.refresh())
        self.window.installEventFilter(self)

    # ------------------------------------------------------------ what this desk shows

    def shown_conversation(self) -> str | None:
        w = self.window
        on_screen = w.isVisible() and not w.isMinimized()
        in_front = w.center.currentWidget() is w.conversation
        return (w.current_conversation_id() or None) if on_screen and in_front else None

    def update_target(self) -> None:
        self.reporter.show(self.shown_conversation())
        self.refresh()

    def _send(self, conversation_id: str | None) -> None:
        def answered(result: dict[str, Any]) -> None:
            cid = result.get("conversation_id")
            if isinstance(cid, str) and cid:
                self.presence.apply_viewers(cid, [str(a) for a in result.get("agent_ids", [])])

        command = p.SetViewing(id=uuid.uuid4().hex, conversation_id=conversation_id)
        # Best effort: a lost answer matters only until the next change or reconnect, which send it again.
        self.runner.run(
            self.session.request(command), what="Telling the team what you view", on_success=answered,
            on_error=lambda _exc: None, key="viewing",
        )  # fmt: skip

    # ------------------------------------------------------------ showing teammates

    def refresh(self) -> None:
        cid = self.window.current_conversation_id()
        me = self.store.me.id if self.store.me else ""
        agents = self.store.agents
        conversation = self.window.conversation
        conversation.header.set_teammates(self.presence.header_text(cid, me, agents) if cid else "")
        conversation.composer.set_teammate_note(
            self.presence.composer_warning(cid, me, agents) if cid else ""
        )
        left = self.presence.next_expiry()
        if left is None:
            self._expiry.stop()
        else:
            self._expiry.start(int(left * 1000) + 50)

    # ------------------------------------------------------------ slots

    def on_session_state(self, state: ConnectionState | str, detail: str) -> None:
        online = state == ConnectionState.ONLINE
        if not online:
            self.presence.clear()  # the server dropped us as a viewer; what we knew goes stale
        self.reporter.set_online(online)

    def on_presence_changed(self, conversation_id: str) -> None:
        if conversation_id == self.window.current_conversation_id():
            self.refresh()

    def on_window_conversation_opened(self, conversation_id: str) -> None:
        self.update_target()

    def on_center_current_changed(self, index: int) -> None:
        self.update_target()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() in (
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.WindowStateChange,
        ):
            QTimer.singleShot(0, self, self.update_target)  # after the state took effect
        return False


def install_viewing(window: MainWindow) -> ViewingFeature:
    return ViewingFeature(window)
