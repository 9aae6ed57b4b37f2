"""Add a teammate to a conversation (aligned SDR first), or hand off when the aligned SDR is away."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QItemSelection, QModelIndex, Qt
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
from ui.participants.model import AgentRole, TeammateDelegate, TeammateFilter, TeammateModel


class AddParticipantDialog(QDialog):
    """Pick a teammate (search by name or territory) and add them with an optional note.

    After ``exec()``: ``mode`` is "add" (``chosen_id`` joins the conversation) or "handoff" (keep
    qualifying, write the note and record a hand-off to ``chosen_id``, who reaches out later).
    """

    def __init__(
        self,
        conversation: p.Conversation,
        agents: Iterable[p.Agent],
        me_id: str,
        aligned_id: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add participant")
        self.setMinimumSize(440, 480)
        self.mode = "add"
        self.chosen_id = ""
        excluded = {me_id, conversation.assignee_id, *conversation.participant_ids}
        candidates = [a for a in agents if a.id not in excluded and not a.disabled]
        by_id = {a.id: a for a in agents}
        self.aligned = by_id.get(aligned_id)
        visitor = conversation.visitor
        who = visitor.name or "this visitor"
        where = ", ".join(x for x in (visitor.region, visitor.country) if x) or visitor.location

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name or territory")
        self.search.setClearButtonEnabled(True)
        self.model = TeammateModel(self)
        self.model.set_agents(candidates, aligned_id)
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
        self.note.setPlaceholderText(f"Optional note for them, e.g. what {who} asked about")
        self.note.setMaximumHeight(72)
        self.notice = QLabel()
        self.notice.setObjectName("alignedNotice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.handoff_button = QPushButton()
        self.handoff_button.setObjectName("handoffButton")
        self.handoff_button.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton(
            "Add to conversation", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.add_button.setDefault(True)
        self.add_button.setEnabled(False)

        if self.aligned is None:
            self.notice.setText(f"No aligned SDR found for {who}{f' ({where})' if where else ''}.")
        elif self.aligned.id == me_id:
            self.notice.setText(f"You are the aligned SDR for {who}{f' ({where})' if where else ''}.")
        elif self.aligned.presence == p.Presence.AVAILABLE:
            self.notice.setText(
                f"{self.aligned.name} is the aligned SDR for {where or who}: suggested first."
            )
        else:
            self.notice.setText(
                f"{self.aligned.name}, the aligned SDR for {where or who}, is away. Keep qualifying and hand "
                f"the lead off: they will get your note and reach out."
            )
            self.handoff_button.setText(f"Hand off to {self.aligned.name}")
            self.handoff_button.show()

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
        self.list.selectionModel().selectionChanged.connect(self.on_list_selection_changed)
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

    def on_search_text_changed(self, text: str) -> None:
        self.proxy.set_search(text)
        self.empty.setVisible(self.proxy.rowCount() == 0)
        if self.proxy.rowCount():
            self.list.setCurrentIndex(self.proxy.index(0, 0))
        else:
            self.add_button.setEnabled(False)

    def on_list_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self.add_button.setEnabled(self.selected_agent() is not None)

    def on_list_double_clicked(self, index: QModelIndex) -> None:
        self.on_buttons_accepted()

    def on_buttons_accepted(self) -> None:
        agent = self.selected_agent()
        if agent is None:
            return
        self.mode, self.chosen_id = "add", agent.id
        self.accept()

    def on_handoff_button_clicked(self) -> None:
        if self.aligned is not None:
            self.mode, self.chosen_id = "handoff", self.aligned.id
            self.accept()
