"""The "Saved replies" dialog: create, edit and delete my replies, and the team's when I am a manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app import saved_replies as sr
from ui.conversation.saved_replies import SavedRepliesModel, SavedRepliesProxy, SavedReplyDelegate
from ui.style import named

if TYPE_CHECKING:
    from agent_app.session import Session
    from ui.bridge import StoreBridge
    from ui.tasks import TaskRunner

# What the preview shows for the visitor, so the SDR sees how the variables read in a real chat.
SAMPLE_VISITOR = p.Visitor(id="sample", name="Ann Lee", company="Acme Corp")


def _ask_discard(parent: QWidget) -> bool:
    answer = QMessageBox.question(parent, "Unsaved changes", "Discard the changes you have not saved?")
    return answer == QMessageBox.StandardButton.Yes


def _ask_delete(parent: QWidget, reply: p.SavedReply) -> bool:
    scope = "team reply (everyone loses it)" if sr.is_team(reply) else "saved reply"
    answer = QMessageBox.question(parent, "Delete saved reply", f"Delete the {scope} /{reply.shortcut}?")
    return answer == QMessageBox.StandardButton.Yes


class SavedRepliesDialog(QDialog):
    """A list (mine and the team's, searchable) and an editor. The list follows the server live; team
    replies are read-only for SDRs. Unsaved changes are never dropped without asking.
    ``confirm_delete``/``confirm_discard`` may be replaced (tests)."""

    def __init__(
        self,
        bridge: StoreBridge,
        session: Session,
        runner: TaskRunner,
        model: SavedRepliesModel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Saved replies")
        self.setObjectName("savedRepliesDialog")
        self.resize(900, 560)
        self.bridge, self.store, self.session, self.runner = bridge, bridge.store, session, runner
        self.confirm_delete: Callable[[QWidget, p.SavedReply], bool] = _ask_delete
        self.confirm_discard: Callable[[QWidget], bool] = _ask_discard
        self._reverting = False
        self.editing: p.SavedReply | None = None  # None: a new reply
        self.new_team = False

        self.proxy = SavedRepliesProxy(self)
        self.proxy.setSourceModel(model)
        self.proxy.sort(0)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search shortcut, title or text")
        self.search.setClearButtonEnabled(True)
        self.list = QListView(self)
        self.list.setObjectName("savedRepliesEditorList")
        self.list.setModel(self.proxy)
        self.list.setItemDelegate(SavedReplyDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setMinimumWidth(320)
        self.new_personal = QPushButton("New reply", self)
        self.new_team_button = QPushButton("New team reply", self)
        self.new_team_button.setToolTip("Team replies are shared with every agent (managers only)")

        self.scope = named(QLabel(self), "savedReplyScope")
        self.shortcut = QLineEdit(self)
        self.shortcut.setPlaceholderText("greet")
        self.shortcut.setMaxLength(p.MAX_SAVED_REPLY_SHORTCUT)
        self.title = QLineEdit(self)
        self.title.setPlaceholderText("Greeting")
        self.title.setMaxLength(p.MAX_SAVED_REPLY_TITLE)
        self.text = QPlainTextEdit(self)
        self.text.setPlaceholderText("Hi {visitor_first_name}, thanks for reaching out! …")
        self.text.setTabChangesFocus(True)
        variables = QGridLayout()
        variables.setContentsMargins(0, 0, 0, 0)
        variables.setSpacing(4)
        self.variable_buttons: dict[str, QToolButton] = {}
        for i, variable in enumerate(sr.VARIABLES):
            button = QToolButton(self)
            button.setText("{" + variable.name + "}")
            button.setToolTip(f"{variable.description}. When unknown: “{variable.fallback}”.")
            button.clicked.connect(lambda _=False, name=variable.name: self.insert_variable(name))
            variables.addWidget(button, i // 3, i % 3)
            self.variable_buttons[variable.name] = button
        variables.setColumnStretch(3, 1)
        self.preview = named(QLabel(self), "savedReplyPreview")
        self.preview.setTextFormat(Qt.TextFormat.PlainText)
        self.preview.setWordWrap(True)
        self.problems = named(QLabel(self), "savedReplyProblems")
        self.problems.setTextFormat(Qt.TextFormat.PlainText)
        self.problems.setWordWrap(True)
        self.status = named(QLabel(self), "savedReplyStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.save_button = QPushButton("Save", self)
        self.save_button.setDefault(True)
        self.delete_button = QPushButton("Delete", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(self.search)
        left.addWidget(self.list, 1)
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_personal)
        new_row.addWidget(self.new_team_button)
        left.addLayout(new_row)
        form = QFormLayout()
        form.addRow("", self.scope)
        form.addRow("Shortcut  /", self.shortcut)
        form.addRow("Title", self.title)
        form.addRow("Text", self.text)
        form.addRow("Insert", variables)
        form.addRow("Preview", self.preview)
        right = QVBoxLayout()
        right.addLayout(form, 1)
        right.addWidget(self.problems)
        right.addWidget(self.status)
        actions = QHBoxLayout()
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        actions.addWidget(self.save_button)
        right.addLayout(actions)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(buttons)

        self._connect_signals()
        self.new_reply(team=False)
        self.on_bridge_saved_replies_changed()

    def _connect_signals(self) -> None:
        self.search.textChanged.connect(self.proxy.set_query)
        self.list.selectionModel().selectionChanged.connect(self.on_list_selection_changed)
        self.new_personal.clicked.connect(lambda: self.on_new_clicked(team=False))
        self.new_team_button.clicked.connect(lambda: self.on_new_clicked(team=True))
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        for edit in (self.shortcut, self.title):
            edit.textChanged.connect(self.on_fields_changed)
        self.text.textChanged.connect(self.on_fields_changed)
        self.bridge.saved_replies_changed.connect(self.on_bridge_saved_replies_changed)

    # ------------------------------------------------------------------ API

    def new_reply(self, *, team: bool) -> None:
        self.list.clearSelection()
        self.editing, self.new_team = None, team
        self._load("", "", "")
        self.status.setText("")
        self.shortcut.setFocus()

    def has_changes(self) -> bool:
        """The form differs from what is saved (for a new reply: anything typed)."""
        saved = self.editing
        base = (saved.shortcut, saved.title, saved.text) if saved is not None else ("", "", "")
        typed = (self.shortcut.text(), self.title.text(), self.text.toPlainText())
        return self._editable() and typed != base

    def may_discard(self) -> bool:
        return not self.has_changes() or self.confirm_discard(self)

    def reject(self) -> None:
        if self.may_discard():
            super().reject()

    def select(self, reply_id: str) -> None:
        for row in range(self.proxy.rowCount()):
            reply = self.proxy.reply_at(row)
            if reply is not None and reply.id == reply_id:
                self.list.setCurrentIndex(self.proxy.index(row, 0))
                return

    def insert_variable(self, name: str) -> None:
        self.text.insertPlainText("{" + name + "}")
        self.text.setFocus()

    def save(self) -> None:
        shortcut, title, text = self.shortcut.text(), self.title.text(), self.text.toPlainText()
        found = sr.problems(shortcut, title, text)
        self.problems.setText("\n".join(found))
        if found or not self._editable():
            return
        editing = self.editing
        if editing is None:
            coro = sr.create(self.session, shortcut, title, text, team=self.new_team)
        else:
            coro = sr.update(self.session, editing.id, shortcut, title, text)
        self.status.setText("Saving…")
        self.runner.run(
            coro, what="Saving a saved reply", on_success=self.on_saved, on_error=self.on_failed,
            busy=self.save_button,
        )  # fmt: skip

    def delete(self) -> None:
        reply = self.editing
        if reply is None or not self._editable() or not self.confirm_delete(self, reply):
            return
        self.status.setText("Deleting…")
        self.runner.run(
            sr.delete(self.session, reply.id), what="Deleting a saved reply", busy=self.delete_button,
            on_success=lambda _: self.on_deleted(reply), on_error=self.on_failed,
        )  # fmt: skip

    # ------------------------------------------------------------------ slots

    def on_new_clicked(self, *, team: bool) -> None:
        if self.may_discard():
            self.new_reply(team=team)

    def on_saved(self, reply: p.SavedReply) -> None:
        # The server sends the saved_reply_changed event before this ack: the list already shows it.
        self.editing = reply
        self.select(reply.id)
        self._load(reply.shortcut, reply.title, reply.text)
        self.status.setText(f"Saved /{reply.shortcut}.")

    def on_deleted(self, reply: p.SavedReply) -> None:
        self.new_reply(team=False)
        self.status.setText(f"Deleted /{reply.shortcut}.")

    def on_failed(self, exc: Exception) -> None:
        self.status.setText("")
        self.problems.setText(f"Not saved: {getattr(exc, 'message', None) or exc}")

    def on_list_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        reply = self.proxy.reply_at(self.list.currentIndex().row()) if selected.indexes() else None
        if reply is None or self._reverting:
            return
        previous = self.editing
        if (previous is None or previous.id != reply.id) and not self.may_discard():
            self._reverting = True  # back to what is being edited, whose changes stay
            try:
                if previous is None:
                    self.list.clearSelection()
                else:
                    self.select(previous.id)
            finally:
                self._reverting = False
            return
        self.editing = reply
        self._load(reply.shortcut, reply.title, reply.text)
        self.status.setText("")

    def on_bridge_saved_replies_changed(self) -> None:
        """The list was reset: keep the reply being edited selected, or say it is gone."""
        me = self.store.me
        self.new_team_button.setVisible(sr.can_edit(None, me))
        editing = self.editing
        if editing is None:
            return
        current = self.store.saved_replies.get(editing.id)
        if current is None:
            self.new_reply(team=False)
            self.status.setText(f"/{editing.shortcut} was deleted (on another device or by a manager).")
            return
        self.select(current.id)
        unchanged = (self.shortcut.text(), self.title.text(), self.text.toPlainText()) == (
            editing.shortcut, editing.title, editing.text,
        )  # fmt: skip
        self.editing = current
        if unchanged:  # no local edits to lose: show what the server has now
            self._load(current.shortcut, current.title, current.text)

    def on_fields_changed(self) -> None:
        text = self.text.toPlainText()
        conversation_free = sr.expand(text, sr.values_for(SAMPLE_VISITOR, self.store.me))
        self.preview.setText(conversation_free.text if text.strip() else "")
        unknown = sr.unknown_tokens(text)
        self.problems.setText(
            f"Unknown variable {', '.join(unknown)}: use one of the buttons below the text."
            if unknown
            else ""
        )

    # ------------------------------------------------------------------ internals

    def _team(self) -> bool:
        return self.new_team if self.editing is None else sr.is_team(self.editing)

    def _editable(self) -> bool:
        me = self.store.me
        if self.editing is None:
            return sr.can_edit(None, me) if self.new_team else me is not None
        return sr.can_edit(self.editing, me)

    def _load(self, shortcut: str, title: str, text: str) -> None:
        self.shortcut.setText(shortcut)
        self.title.setText(title)
        self.text.setPlainText(text)
        editable = self._editable()
        for widget in (
            self.shortcut,
            self.title,
            self.text,
            self.save_button,
            *self.variable_buttons.values(),
        ):
            widget.setEnabled(editable)
        self.delete_button.setEnabled(editable and self.editing is not None)
        scope = "Team reply: every agent sees it" if self._team() else "Personal reply: only you see it"
        if self.editing is None:
            scope = "New " + scope[0].lower() + scope[1:]
        if not editable:
            scope += " (only managers change team replies)"
        self.scope.setText(scope)
        self.problems.setText("")
        self.on_fields_changed()
