"""The main window: composes the queue, the conversation view and the side panel, and wires their signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QStackedWidget, QToolBar, QVBoxLayout, QWidget

from agent_app import protocol as p
from ui.bridge import StoreBridge
from ui.conversation import ConversationView
from ui.help import ShortcutsDialog, registered
from ui.help.shortcuts import context_of
from ui.qualify.install import install_qualify_features
from ui.queue import QueueModel, QueuePanel, QueueView
from ui.queue.model import urgency
from ui.queue.proxy import in_view
from ui.style import named, stylesheet
from ui.tasks import TaskRunner
from ui.widgets.banner import BannerBar
from ui.widgets.connection_indicator import ConnectionIndicator
from ui.widgets.empty_state import EmptyState
from ui.widgets.presence_button import PresenceButton
from ui.widgets.visitor_summary import VisitorSummary

if TYPE_CHECKING:
    from agent_app.session import ConnectionState, Session
    from agent_app.settings import Settings


class MainWindow(QMainWindow):
    """See docs/client-contracts.md ("MainWindow").

    Signals:
        sign_out_requested: "Sign out" was chosen; the shell signs out.
        presence_toggled(Presence): the user picked Available or Away; the shell applies it.
        conversation_opened(str): a conversation became the open one.
    """

    sign_out_requested = Signal()
    presence_toggled = Signal(object)
    conversation_opened = Signal(str)

    def __init__(
        self,
        bridge: StoreBridge,
        session: Session,
        runner: TaskRunner,
        settings: Settings,
        state: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("SDR Agent Desk")
        self.setStyleSheet(stylesheet("light"))
        self.bridge, self.store, self.session, self.runner = bridge, bridge.store, session, runner
        self.settings, self.state = settings, state
        self.help_dialog: ShortcutsDialog | None = None

        self.queue_model = QueueModel(bridge, parent=self)
        self.queue = QueuePanel(self.queue_model, self)
        self.conversation = ConversationView(bridge, session, runner, self)
        self.empty = EmptyState(self)
        self.center = named(QStackedWidget(self), "center")
        self.center.addWidget(self.empty)
        self.center.addWidget(self.conversation)
        self.side_panel = VisitorSummary(self)
        self.splitter = named(QSplitter(Qt.Orientation.Horizontal, self), "mainSplitter")
        self.splitter.addWidget(self.queue)
        self.splitter.addWidget(self.center)
        self.splitter.addWidget(self.side_panel)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([410, 680, 280])
        self.banner = BannerBar(self)
        body = named(QWidget(self), "body")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(body)

        self.toolbar = named(QToolBar("Main", self, movable=False, floatable=False), "mainToolbar")
        self.toolbar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        title = named(QLabel("SDR Agent Desk", self.toolbar), "appTitle")
        self.toolbar.addWidget(title)
        spacer = QWidget(self.toolbar)
        spacer.setSizePolicy(spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred)
        self.toolbar.addWidget(spacer)
        self.presence_button = PresenceButton(self)
        self.toolbar.addWidget(self.presence_button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.connection = ConnectionIndicator(self)
        self.statusBar().addWidget(self.connection)
        self.statusBar().setSizeGripEnabled(False)

        self.shortcuts: dict[str, list[QShortcut]] = {}
        self._register_shortcuts()
        self._connect_signals()
        self.qualify = install_qualify_features(self)  # CQL, participants, calendar, Meetings, report
        self.on_bridge_reset()
        self.set_connection_state(getattr(session, "state", "connecting"), getattr(session, "detail", ""))
        self.restore_state()

    def _connect_signals(self) -> None:
        # queue -> conversation
        self.queue.conversation_selected.connect(self.open_conversation)
        self.queue.conversation_activated.connect(self.on_queue_conversation_activated)
        # store
        self.bridge.reset.connect(self.on_bridge_reset)
        self.bridge.agent_changed.connect(self.on_bridge_agent_changed)
        self.bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        self.bridge.conversation_removed.connect(self.on_bridge_conversation_removed)
        # me
        self.presence_button.presence_chosen.connect(self.presence_toggled)
        self.presence_button.sign_out_clicked.connect(self.sign_out_requested)
        self.presence_button.help_clicked.connect(self.show_shortcuts)
        # banner and errors
        self.banner.open_clicked.connect(self.open_conversation)
        self.runner.failed.connect(self.on_runner_failed)

    def _register_shortcuts(self) -> None:
        """QShortcuts from ui.help.shortcuts.SHORTCUTS, so the help dialog can never drift from them."""
        handlers: dict[str, Callable[[], None]] = {
            "view_mine": lambda: self.queue.set_view(QueueView.MINE),
            "view_waiting": lambda: self.queue.set_view(QueueView.WAITING),
            "view_participating": lambda: self.queue.set_view(QueueView.PARTICIPATING),
            "view_all": lambda: self.queue.set_view(QueueView.ALL),
            "view_closed": lambda: self.queue.set_view(QueueView.CLOSED),
            "search": self.queue.focus_search,
            "focus_queue": self.queue.focus_list,
            "next_urgent": self.open_most_urgent,
            "previous_conversation": lambda: self.step_conversation(-1),
            "next_conversation": lambda: self.step_conversation(1),
            "composer": self.focus_composer,
            "composer_from_queue": self.on_queue_escape,
            "toggle_note": lambda: self.conversation.composer.note_toggle.toggle(),
            "toggle_closed": self.conversation.toggle_closed,
            "retry_failed": self.conversation.retry_failed,
            "toggle_presence": self.toggle_presence,
            "help": self.show_shortcuts,
        }
        for spec in registered():
            owner: QWidget = self.queue if spec.context == "queue" else self
            for keys in spec.keys:
                shortcut = QShortcut(QKeySequence(keys), owner)
                shortcut.setContext(context_of(spec))
                shortcut.activated.connect(handlers[spec.action])
                self.shortcuts.setdefault(spec.action, []).append(shortcut)

    # ------------------------------------------------------------------ API for the shell

    def open_conversation(self, conversation_id: str) -> None:
        """Show a conversation (notification click, queue, banner); selects it in the queue if visible."""
        conv = self.store.conversations.get(conversation_id)
        if conv is None:
            return
        me = self.store.me.id if self.store.me else ""
        if not in_view(conv, self.queue.proxy.view, me) and not self.queue.proxy.search_text:
            self.queue.set_view(
                QueueView.CLOSED if conv.status is p.ConversationStatus.CLOSED else QueueView.ALL
            )
        self.queue.select(conversation_id)
        self.conversation.open(conversation_id)
        self.center.setCurrentWidget(self.conversation)
        self.side_panel.set_conversation(conv)
        self.conversation_opened.emit(conversation_id)

    def current_conversation_id(self) -> str:
        return self.conversation.conversation_id

    def set_connection_state(self, state: ConnectionState | str, detail: str = "") -> None:
        self.connection.set_state(str(state), detail)

    def add_status_widget(self, widget: QWidget) -> None:
        self.statusBar().addPermanentWidget(widget)

    def show_banner(self, text: str, conversation_id: str = "") -> None:
        self.banner.show_message(text, conversation_id)

    def set_presence(self, presence: p.Presence) -> None:
        self.presence_button.set_presence(presence)

    def focus_composer(self) -> None:
        if self.conversation.conversation_id:
            self.conversation.composer.focus()

    def step_conversation(self, step: int) -> None:
        target = self.queue.neighbour(self.conversation.conversation_id, step)
        if target:
            self.open_conversation(target)

    def open_most_urgent(self) -> None:
        waiting = [c for c in self.queue_model.conversations() if in_view(c, QueueView.WAITING, "")]
        if waiting:
            now = self.queue_model.clock()
            self.queue.set_view(QueueView.WAITING)
            self.open_conversation(min(waiting, key=lambda c: urgency(c, now)).id)
            self.focus_composer()

    def toggle_presence(self) -> None:
        current = self.presence_button.presence
        self.presence_toggled.emit(
            p.Presence.AWAY if current is p.Presence.AVAILABLE else p.Presence.AVAILABLE
        )

    def show_shortcuts(self) -> None:
        if self.help_dialog is None:
            self.help_dialog = ShortcutsDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    # ------------------------------------------------------------------ slots

    def on_queue_conversation_activated(self, conversation_id: str) -> None:
        self.open_conversation(conversation_id)
        self.focus_composer()

    def on_queue_escape(self) -> None:
        if self.queue.search.hasFocus() and self.queue.search.text():
            self.queue.search.clear()
        else:
            self.focus_composer()

    def on_bridge_reset(self) -> None:
        me = self.store.me
        self.queue.set_me(me.id if me else "")
        self.presence_button.set_agent(me)
        cid = self.conversation.conversation_id
        if cid and cid not in self.store.conversations:
            self._show_empty()

    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        me = self.store.me
        if me is not None and agent.id == me.id:
            self.queue.set_me(me.id)
            self.presence_button.set_agent(me)

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id == self.conversation.conversation_id:
            self.side_panel.set_conversation(conversation)

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        if conversation_id == self.conversation.conversation_id:
            self._show_empty()

    def on_runner_failed(self, what: str, exc: object) -> None:
        self.show_banner(f"{what} failed: {exc}")

    def _show_empty(self) -> None:
        self.conversation.open("")
        self.center.setCurrentWidget(self.empty)
        self.side_panel.set_conversation(None)

    # ------------------------------------------------------------------ window state

    def save_state(self) -> None:
        if self.state is None:
            return
        self.state.setValue("main/geometry", self.saveGeometry())
        self.state.setValue("main/splitter", self.splitter.saveState())
        self.state.sync()

    def restore_state(self) -> None:
        if self.state is None:
            self.resize(1360, 820)
            return
        geometry = self.state.value("main/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1360, 820)
        splitter = self.state.value("main/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.conversation.composer.stop_typing()
        super().closeEvent(event)
