"""Add a teammate to a conversation or hand the chat off to one; the server's aligned SDR comes first."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.alignment import Alignment, alignment
from ui.participants.model import AgentRole, TeammateDelegate, TeammateFilter, TeammateModel


def _notice(a: Alignment, who: str, where: str, conversation: p.Conversation, candidates: set[str]) -> str:
    """One sentence on the aligned SDR, as the server's territory table decided it."""
    place = f" ({where})" if where else ""
    why = f" ({a.provenance})" if a.provenance else ""
    if a.mine:
        return f"You are the aligned SDR for {who}{why}."
    if not a.agent_id:
        if not a.known:
            return f"No aligned SDR is known for {who}{place} yet."
        return f"No aligned SDR is known for {who}{place}. Territory table: {a.provenance}."
    name = a.name
    if a.agent_id == conversation.assignee_id or a.agent_id in conversation.participant_ids:
        return f"{name}, the aligned SDR for {who}{why}, is already in this conversation."
    if a.agent_id not in candidates:
        return f"{name} is the aligned SDR for {who}{why} but cannot be added (not an active teammate)."
    if a.agent is not None and a.agent.presence != p.Presence.AVAILABLE:
        return (
            f"{name}, the aligned SDR for {who}{why}, is away: hand the chat off to them with a note, "
            f"or add a teammate who is available."
        )
    return f"{name} is the aligned SDR for {who}{why}: suggested first."


class AddParticipantDialog(QDialog):
    """Pick a teammate (search by name or territory), then add them or hand the chat off to them.

    The "Aligned SDR" tag, the notice and the preselection read ``conversation.routing`` (the server's
    territory table): this dialog never guesses. After ``accepted``: ``mode`` is "add" (``chosen_id``
    joins the conversation) or "handoff" (``chosen_id`` becomes the assignee; the note goes with it).
    """

    def __init__(
        self,
        conversation: p.Conversation,
        agents: Iterable[p.Agent],
        me_id: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("addParticipantDialog")
        self.setWindowTitle("Add participant or hand off")
        self.setMinimumSize(440, 480)
        self.mode = "add"
        self.chosen_id = ""
        agents = list(agents)
        excluded = {me_id, conversation.assignee_id, *conversation.participant_ids}
        candidates = [a for a in agents if a.id not in excluded and not a.disabled]
        self.alignment = alignment(conversation, {a.id: a for a in agents}, me_id)
        visitor = conversation.visitor
        who = visitor.name or "this visitor"
        where = ", ".join(x for x in (visitor.region, visitor.country) if x) or visitor.location

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name or territory")
        self.search.setClearButtonEnabled(True)
        self.model = TeammateModel(self)
        self.model.set_agents(candidates, self.alignment.agent_id)
        self.proxy = TeammateFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.sort(0)
        self.list = QListView()
        self.list.setModel(self.proxy)
        self.list.setItemDelegate(TeammateDelegate(self.list))
        self.list.setMouseTracking(True)
        self.list.setUniformItemSizes(True)
        self.empty = QLabel("No teammate matches.")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.hide()
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText(f"Note for them (team only), e.g. what {who} asked about")
        self.note.setMaximumHeight(72)
        self.notice = QLabel(_notice(self.alignment, who, where, conversation, {a.id for a in candidates}))
        self.notice.setObjectName("alignedNotice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.handoff_button = QPushButton("Hand off")
        self.handoff_button.setObjectName("handoffButton")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton(
            "Add to conversation", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.add_button.setObjectName("addButton")
        self.add_button.setDefault(True)
        self._follow_selection()

        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addWidget(QLabel("Note"))
        layout.addWidget(self.note)
        row = QHBoxLayout()
        row.addWidget(self.handoff_button)
        row.addStretch(1)
        row.addWidget(self.buttons)
        layout.addLayout(row)

        self.search.textChanged.connect(self.on_search_text_changed)
        self.list.selectionModel().currentChanged.connect(self.on_list_current_changed)
        self.list.doubleClicked.connect(self.on_list_double_clicked)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.handoff_button.clicked.connect(self.on_handoff_button_clicked)
        self.search.setFocus()
        if self.proxy.rowCount():
            self.list.setCurrentIndex(self.proxy.index(0, 0))

    def note_text(self) -> str:
        return self.note.toPlainText().strip()[: p.MAX_NOTE_TEXT]

    def selected_agent(self) -> p.Agent | None:
        index = self.list.currentIndex()
        return index.data(AgentRole) if index.isValid() else None

    def _follow_selection(self) -> None:
        """Both buttons name the chosen teammate: the hand-off target is whoever is selected."""
        agent = self.selected_agent()
        self.add_button.setEnabled(agent is not None)
        self.handoff_button.setEnabled(agent is not None)
        if agent is None:
            self.add_button.setText("Add to conversation")
            self.handoff_button.setText("Hand off")
            self.handoff_button.setToolTip("Choose a teammate first")
            return
        self.add_button.setText(f"Add {agent.name}")
        self.add_button.setToolTip(f"{agent.name} joins this conversation")
        self.handoff_button.setText(f"Hand off to {agent.name}")
        self.handoff_button.setToolTip(
            f"{agent.name} becomes the assignee of this chat; your note goes with it (team only)"
        )

    def on_search_text_changed(self, text: str) -> None:
        self.proxy.set_search(text)
        self.empty.setVisible(self.proxy.rowCount() == 0)
        if self.proxy.rowCount():
            self.list.setCurrentIndex(self.proxy.index(0, 0))
        else:
            self.list.setCurrentIndex(QModelIndex())
        self._follow_selection()

    def on_list_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._follow_selection()

    def on_list_double_clicked(self, index: QModelIndex) -> None:
        self.on_buttons_accepted()

    def on_buttons_accepted(self) -> None:
        agent = self.selected_agent()
        if agent is None:
            return
        self.mode, self.chosen_id = "add", agent.id
        self.accept()

    def on_handoff_button_clicked(self) -> None:
        agent = self.selected_agent()
        if agent is not None:
            self.mode, self.chosen_id = "handoff", agent.id
            self.accept()
