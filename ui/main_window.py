"""The main window: composes the queue, the conversation view and the side panel, and wires their signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QStackedWidget, QToolBar, QVBoxLayout, QWidget

from agent_app import protocol as p
from ui.bridge import StoreBridge
from ui.conversation import ConversationView
from ui.help import ShortcutsDialog, registered
from ui.help.shortcuts import context_of
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


# The smallest sane widths of the conversation pane and the side panel (the queue's is the width of its
# view tabs, see QueuePanel.tabs_width). A saved layout with a narrower pane is not restored or saved.
CENTER_MIN_WIDTH = 320
SIDE_MIN_WIDTH = 260  # the visitor panel's action buttons and cards fit whole (no sideways scrolling)
DEFAULT_PANE_SIZES = (410, 680, 280)


@runtime_checkable
class SidePanel(Protocol):
    """What ``MainWindow.set_side_panel`` needs of a panel (besides being a QWidget)."""

    def set_conversation(self, conversation: p.Conversation | None) -> None:
        """Show this conversation's visitor (None: nothing is open); called on open, update and close."""


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
        self.side_panel: QWidget = VisitorSummary(self)  # replaced by set_side_panel
        self.splitter = named(QSplitter(Qt.Orientation.Horizontal, self), "mainSplitter")
        self.splitter.addWidget(self.queue)
        self.splitter.addWidget(self.center)
        self.splitter.addWidget(self.side_panel)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(1, 1)
        self.center.setMinimumWidth(CENTER_MIN_WIDTH)
        self.side_panel.setMinimumWidth(SIDE_MIN_WIDTH)
        self.splitter.setSizes(list(DEFAULT_PANE_SIZES))
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
        self._toolbar_spacer = self.toolbar.addWidget(spacer)
        self.presence_button = PresenceButton(self)
        self.toolbar.addWidget(self.presence_button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.connection = ConnectionIndicator(self)
        self.statusBar().addWidget(self.connection)
        self.statusBar().setSizeGripEnabled(False)

        self.shortcuts: dict[str, list[QShortcut]] = {}
        self._register_shortcuts()
        self._connect_signals()
        # The features (CQL, participants, calendar, Meetings, CQL report, saved replies, the visitor panel)
        # are put in by the shell, through the extension points below: ui.shell.features.install_features.
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

    # ------------------------------------------------------------------ extension points for the features
    # The only ways a feature gets into the window (ui.shell.features.install_features calls them); see
    # docs/client-contracts.md ("MainWindow extension points").

    def add_header_action(self, widget: QWidget) -> None:
        """A control in the open conversation's header, beside the visitor's details, left to right in
        the order added (CQL bolts, add participant)."""
        self.conversation.header.header_actions.addWidget(widget)

    def add_composer_action(self, widget: QWidget) -> None:
        """A button in the row under the reply box, after "Private note" (share calendar)."""
        self.conversation.composer.add_action(widget)

    def set_side_panel(self, panel: QWidget) -> None:
        """Replace the side panel (at first a plain visitor summary) with ``panel``, which must have
        ``set_conversation(Conversation | None)`` (:class:`SidePanel`); it is shown the open conversation
        at once and then follows it. The old panel is deleted."""
        if not isinstance(panel, SidePanel):
            raise TypeError(f"{type(panel).__name__} has no set_conversation(conversation)")
        old = self.side_panel
        sizes = self.splitter.sizes()
        self.splitter.replaceWidget(self.splitter.indexOf(old), panel)
        old.deleteLater()
        self.side_panel = panel
        panel.setMinimumWidth(max(panel.minimumWidth(), SIDE_MIN_WIDTH))
        if sizes:
            self.splitter.setSizes(sizes)
        panel.set_conversation(self.store.conversations.get(self.current_conversation_id()))

    def _show_in_side_panel(self, conversation: p.Conversation | None) -> None:
        panel = self.side_panel
        assert isinstance(panel, SidePanel)  # set_side_panel only accepts one
        panel.set_conversation(conversation)

    def add_view(self, view: QWidget, action: QAction) -> None:
        """A full-size view in place of the conversation (Meetings, CQL report) and the toolbar ``action``
        that shows it, left of the presence button. Opening a conversation brings the conversation back."""
        self.center.addWidget(view)
        self.toolbar.insertAction(self._toolbar_spacer, action)  # after the title and earlier views
        action.triggered.connect(lambda: self.show_view(view))

    def show_view(self, view: QWidget) -> None:
        """Bring a view added with :meth:`add_view` to the front."""
        self.center.setCurrentWidget(view)

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
        self._show_in_side_panel(conv)
        self.conversation_opened.emit(conversation_id)

    def current_conversation_id(self) -> str:
        return self.conversation.conversation_id

    def set_connection_state(self, state: ConnectionState | str, detail: str = "") -> None:
        self.connection.set_state(str(state), detail)

    def add_status_widget(self, widget: QWidget) -> None:
        self.statusBar().addPermanentWidget(widget)

    def show_banner(self, text: str, conversation_id: str = "") -> None:
        self.banner.show_message(text, conversation_id)

    def hide_banner(self, conversation_id: str) -> None:
        """A notification shown as the banner was withdrawn: hide it unless it shows something else now."""
        if self.banner.isVisible() and self.banner.conversation_id == conversation_id:
            self.banner.hide()

    def set_presence(self, presence: p.Presence, reason: str = "") -> None:
        self.presence_button.set_presence(presence, reason)

    def focus_composer(self) -> None:
        if self.conversation.conversation_id:
            self.conversation.composer.focus()

    def step_conversation(self, step: int) -> None:
        target = self.queue.neighbour(self.conversation.conversation_id, step)
        if target:
            self.open_conversation(target)

    def open_most_urgent(self) -> None:
        """Ctrl+G: my own open chat nearest its reply deadline (a visitor waits on me), else the most
        urgent waiting one; opens it ready to type."""
        me = self.store.me.id if self.store.me else ""
        convs = self.queue_model.conversations()
        mine = [c for c in convs if in_view(c, QueueView.MINE, me) and c.sla_due_at is not None]
        if mine:
            self.queue.set_view(QueueView.MINE)
            self.open_conversation(min(mine, key=lambda c: (c.sla_due_at or 0.0, c.id)).id)
            self.focus_composer()
            return
        waiting = [c for c in convs if in_view(c, QueueView.WAITING, "")]
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
        """A click, Enter or double-click: open it (unless it is open) and put the cursor in the reply box."""
        if conversation_id != self.conversation.conversation_id:
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
            self._show_in_side_panel(conversation)

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        if conversation_id == self.conversation.conversation_id:
            self._show_empty()

    def on_runner_failed(self, what: str, exc: object) -> None:
        self.show_banner(f"{what} failed: {exc}")

    def _show_empty(self) -> None:
        self.conversation.open("")
        self.center.setCurrentWidget(self.empty)
        self._show_in_side_panel(None)

    # ------------------------------------------------------------------ window state

    def pane_minimums(self) -> list[int]:
        """Smallest sane width of each splitter pane (queue, center, side panel, any later ones)."""
        queue = max(self.queue.minimumWidth(), self.queue.tabs_width())
        mins = [queue, CENTER_MIN_WIDTH, SIDE_MIN_WIDTH]
        return [*mins, *[0] * (self.splitter.count() - len(mins))][: self.splitter.count()]

    def panes_are_sane(self, sizes: list[int]) -> bool:
        return len(sizes) == self.splitter.count() and all(
            s >= m for s, m in zip(sizes, self.pane_minimums(), strict=True)
        )

    def _sane_pane_sizes(self) -> list[int]:
        """The default proportions in the current width, each pane at least its minimum."""
        mins = self.pane_minimums()
        defaults = [*DEFAULT_PANE_SIZES, *[0] * len(mins)][: len(mins)]
        total = max(sum(self.splitter.sizes()), sum(mins), sum(defaults))
        scale = total / sum(defaults)
        sizes = [max(m, int(d * scale)) for m, d in zip(mins, defaults, strict=True)]
        sizes[1] = max(mins[1], total - sum(sizes) + sizes[1])  # the conversation takes what is left
        return sizes

    def ensure_sane_panes(self) -> None:
        """A pane narrower than its minimum (collapsed by an old build or a bad state) gets a sane width."""
        if not self.panes_are_sane(self.splitter.sizes()):
            self.splitter.setSizes(self._sane_pane_sizes())

    def save_state(self) -> None:
        if self.state is None:
            return
        self.state.setValue("main/geometry", self.saveGeometry())
        if self.panes_are_sane(self.splitter.sizes()):
            self.state.setValue("main/splitter", self.splitter.saveState())
        else:  # never persist a collapsed pane: the next start uses the default layout
            self.state.remove("main/splitter")
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
            self.ensure_sane_panes()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.conversation.composer.stop_typing()
        super().closeEvent(event)
