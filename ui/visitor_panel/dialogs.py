"""Dialogs of the panel: create a Lead, resolve a duplicate-rule block, change the Lead's Salesforce owner."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.integrations import DuplicatesDetected
from ui.style import named
from ui.visitor_panel.cards import RowsView, plain
from ui.visitor_panel.rows import Row

LEAD_FIELDS = (
    ("FirstName", "First name"),
    ("LastName", "Last name"),
    ("Email", "Email"),
    ("Company", "Company"),
    ("Phone", "Phone"),
    ("LeadSource", "Lead source"),
)


def lead_fields_for(visitor: p.Visitor) -> dict[str, str]:
    """Prefill: the visitor's name split in two, email, company, phone, lead source "Chat"."""
    first, _, last = (
        visitor.name.strip().rpartition(" ")
        if " " in visitor.name.strip()
        else ("", "", visitor.name.strip())
    )
    return {
        "FirstName": first,
        "LastName": last,
        "Email": visitor.email,
        "Company": visitor.company,
        "Phone": visitor.phone,
        "LeadSource": "Chat",
    }


class CreateLeadDialog(QDialog):
    """Editable prefilled Lead; Salesforce requires LastName and Company."""

    lead_submitted = Signal(dict)

    def __init__(self, fields: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("createLeadDialog")
        self.setWindowTitle("Create lead in Salesforce")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        for name, label in LEAD_FIELDS:
            self.edits[name] = named(QLineEdit(fields.get(name, "")), f"lead{name}")
            form.addRow(label, self.edits[name])
        layout.addLayout(form)
        self.problem = plain("", "dialogError")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = buttons.addButton("Create lead", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> dict[str, str]:
        return {name: edit.text().strip() for name, edit in self.edits.items() if edit.text().strip()}

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()

    def on_buttons_accepted(self) -> None:
        fields = self.values()
        missing = [
            label for name, label in LEAD_FIELDS if name in ("LastName", "Company") and name not in fields
        ]
        if missing:
            self.show_problem(f"Required: {', '.join(missing)}")
            return
        self.lead_submitted.emit(fields)
        self.accept()


def _name(record: dict[str, Any]) -> str:
    return str(
        record.get("Name") or " ".join(str(record.get(k) or "") for k in ("FirstName", "LastName")).strip()
    )


def match_name(exc: DuplicatesDetected, record_id: str) -> str:
    """The name of a record a duplicate rule matched ("" when Salesforce did not send one)."""
    return next((_name(m.record) for m in exc.matches if m.record_id == record_id), "")


def _match_rows(exc: DuplicatesDetected) -> list[Row]:
    rows = []
    for m in exc.matches:
        rec = m.record
        name = _name(rec)
        detail = f"{m.confidence:.0f}% · rule {m.rule or exc.rule}" + (
            f" · {rec['Email']}" if rec.get("Email") else ""
        )
        rows.append(Row(f"{m.sobject}:{m.record_id}", f"{m.sobject}: {name or m.record_id}", detail))
    return rows


class DuplicatesDialog(QDialog):
    """A duplicate rule stopped the save: use an existing record, or save anyway when the rule allows."""

    use_existing_chosen = Signal(str, str)  # sobject, record id
    save_anyway_chosen = Signal()

    def __init__(self, exc: DuplicatesDetected, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("duplicatesDialog")
        self.setWindowTitle("Possible duplicate")
        self.exc = exc
        layout = QVBoxLayout(self)
        why = "You may save anyway." if exc.allow_save else "Your org's duplicate rule blocks saving."
        layout.addWidget(plain(f"Salesforce found matching records ({exc.rule or 'duplicate rule'}). {why}"))
        self.list = RowsView("duplicateMatches")
        self.list.set_rows(_match_rows(exc))
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_existing = named(QPushButton("Use existing"), "useExisting")
        self.use_existing.setEnabled(bool(exc.matches))
        self.save_anyway = named(QPushButton("Save anyway"), "saveAnyway")
        self.save_anyway.setEnabled(exc.allow_save)
        buttons.addButton(self.use_existing, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_anyway, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.use_existing.clicked.connect(self.on_use_existing_clicked)
        self.save_anyway.clicked.connect(self.on_save_anyway_clicked)
        layout.addWidget(buttons)

    def on_use_existing_clicked(self) -> None:
        first = self.exc.matches[0]
        self.use_existing_chosen.emit(first.sobject, first.record_id)
        self.accept()

    def on_save_anyway_clicked(self) -> None:
        self.save_anyway_chosen.emit()
        self.accept()


class ChangeOwnerDialog(QDialog):
    """Pick the Lead's new Salesforce owner (active users; the server's aligned SDR preselected) and a note
    for the chat. The chat's assignee does not change here (that is the participants dialog's hand-off)."""

    owner_submitted = Signal(dict, str)

    def __init__(
        self, users: list[dict[str, Any]], preselect_email: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("changeOwnerDialog")
        self.setWindowTitle("Change Salesforce owner")
        self.users = users
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.owner = named(QComboBox(), "newOwner")
        for user in users:
            self.owner.addItem(f"{user.get('Name')} ({user.get('Email')})")
        emails = [str(u.get("Email") or "").lower() for u in users]
        if preselect_email.lower() in emails:
            self.owner.setCurrentIndex(emails.index(preselect_email.lower()))
        self.note = named(QLineEdit(), "ownerNote")
        self.note.setPlaceholderText("Note for the new owner")
        form.addRow("New owner", self.owner)
        form.addRow("Note", self.note)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.change_button = buttons.addButton("Change owner", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def on_buttons_accepted(self) -> None:
        if self.users:
            self.owner_submitted.emit(self.users[self.owner.currentIndex()], self.note.text().strip())
        self.accept()
