"""Puts the "On site now (N)" view into the main window and keeps the live list watched while online."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction

from agent_app import protocol as p
from agent_app import saved_replies
from agent_app.errors import CommandError
from agent_app.live_visitors import LiveVisitors, default_greeting, opener_choices
from agent_app.session import ConnectionState
from ui.live_visitors.dialog import EngageDialog
from ui.live_visitors.model import LiveVisitorsModel
from ui.live_visitors.view import LiveVisitorsView

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class LiveVisitorsFeature(QObject):
    """Owns the live list (agent_app.live_visitors), its model and view, and the Engage dialog."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.store, self.session, self.runner = (
            window, window.store, window.session, window.runner,
        )  # fmt: skip
        self.live = LiveVisitors()
        self.model = LiveVisitorsModel(self.live, self._agent_name, self._me, parent=self)
        self.view = LiveVisitorsView(self.model)
        self.action = QAction("On site now", self)
        self.action.setObjectName("liveVisitorsAction")
        self.action.setToolTip("Visitors on the website right now, and who to engage")
        window.add_view(self.view, self.action)
        self.dialog: EngageDialog | None = None
        self.replies_loaded = False  # saved replies (the Engage openers) loaded on this connection
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)  # time on site, "dismissed 3 min ago"
        self.disposed = False
        self._connect_signals()
        self.ticker.start()
        self.update_action()
        if getattr(self.session, "state", None) is ConnectionState.ONLINE:
            self.watch()

    def _connect_signals(self) -> None:
        # A stand-in session (widget tests of other features) has no live list: the view stays "offline".
        for name, listener in (("add_live_visitors_listener", self.on_session_live_visitors),
                               ("add_state_listener", self.on_session_state_changed)):  # fmt: skip
            add = getattr(self.session, name, None)
            if add is not None:
                add(listener)
        self.ticker.timeout.connect(self.model.tick)
        self.view.engage_requested.connect(self.on_view_engage_requested)
        self.view.conversation_open_requested.connect(self.window.open_conversation)
        for signal in (self.model.modelReset, self.model.rowsInserted, self.model.rowsRemoved):
            signal.connect(lambda *_: self.update_action())

    def _agent_name(self, agent_id: str) -> str:
        agent = self.store.agents.get(agent_id)
        return agent.name if agent is not None else "a teammate"

    def _me(self) -> str:
        return self.store.me.id if self.store.me is not None else ""

    def update_action(self) -> None:
        self.action.setText(f"On site now ({len(self.live)})" if self.live.known else "On site now")

    # ------------------------------------------------------------ the session

    def watch(self) -> None:
        """Watching is per connection: asked again after every (re)connect."""
        self.runner.run(self.session.watch_live_visitors(), what="Loading who is on the website",
                        key=("live-visitors", self))  # fmt: skip

    def on_session_live_visitors(self, frame: p.LiveVisitorsFrame) -> None:
        if not self.disposed:
            self.live.apply(frame)

    def on_session_state_changed(self, state: ConnectionState, detail: str) -> None:
        if self.disposed:
            return
        if state is ConnectionState.ONLINE:
            self.watch()
            return
        self.replies_loaded = False  # events may be missed while offline: load again on the next Engage
        if self.live.known:
            self.live.clear()

    # ------------------------------------------------------------ engage

    def on_view_engage_requested(self, visitor_id: str) -> None:
        row = self.live.get(visitor_id)
        if row is None:
            return
        me = self.store.me
        openers = opener_choices(self.store.saved_replies.values(), row, me)
        dialog = EngageDialog(row, default_greeting(row, me.name if me else ""), openers, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.send_requested.connect(self.on_dialog_send_requested)
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None) if self.dialog is dialog else None)
        self.dialog = dialog
        dialog.open()
        self.load_openers()

    def load_openers(self) -> None:
        """The saved replies are loaded lazily (the "/" picker loads them on first use, not at connect):
        the first Engage on a connection loads them too, and fills the open dialog's openers."""
        if self.replies_loaded or getattr(self.session, "state", None) is not ConnectionState.ONLINE:
            return
        self.replies_loaded = True

        def loaded(_replies: list[p.SavedReply]) -> None:
            current = self.dialog  # this one, or the next if the SDR closed it and engaged someone else
            row = self.live.get(current.visitor_id) if current is not None else None
            if current is not None and row is not None and current.openers.currentIndex() <= 0:
                current.set_openers(opener_choices(self.store.saved_replies.values(), row, self.store.me))

        def failed(_exc: Exception) -> None:
            self.replies_loaded = False  # the typed greeting still works; the next Engage tries again

        self.runner.run(saved_replies.refresh(self.session), what="Loading saved replies",
                        on_success=loaded, on_error=failed, key=("engage-openers", self))  # fmt: skip

    def on_dialog_send_requested(self, visitor_id: str, text: str) -> None:
        dialog = self.dialog
        if dialog is None:
            return

        def engaged(conversation: p.Conversation) -> None:
            dialog.done_sending()
            self.window.open_conversation(conversation.id)  # in the store already (its event came first)

        def refused(exc: Exception) -> None:
            message = exc.message if isinstance(exc, CommandError) else str(exc)
            dialog.show_error(message)

        self.runner.run(self.session.engage(visitor_id, text), what="Engaging the visitor",
                        on_success=engaged, on_error=refused, busy=dialog.send_button)  # fmt: skip

    def dispose(self) -> None:
        """The account ends: stop ticking; the session (and its listeners) ends with it."""
        self.disposed = True
        self.ticker.stop()


def install_live_visitors(window: MainWindow) -> LiveVisitorsFeature:
    return LiveVisitorsFeature(window)
