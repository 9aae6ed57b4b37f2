"""The panel's action slots (create lead, change owner, log chat, CQL, sign-in) and store reactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from agent_app import protocol as p
from agent_app.alignment import alignment
from agent_app.integrations import DuplicatesDetected
from ui.style import repolish
from ui.visitor_panel.dialogs import (
    ChangeOwnerDialog,
    CreateLeadDialog,
    DuplicatesDialog,
    lead_fields_for,
    match_name,
)

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QLabel, QPushButton, QWidget

    from agent_app.settings import Settings
    from agent_app.store import Store
    from ui.tasks import TaskRunner
    from ui.visitor_panel.service import PanelService


def _open_url(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


class PanelActions:
    """Mixed into VisitorPanel: each slot reads widget state, starts one service call, returns.

    The attributes below are VisitorPanel's; they are declared here so the mixin type-checks alone.
    """

    cid: str
    store: Store
    runner: TaskRunner
    service: PanelService
    settings: Settings | None
    dialog: QWidget | None
    salesforce_problem: str
    action_note: QLabel
    connect_button: QPushButton
    owner_button: QPushButton
    log_button: QPushButton
    create_button: QPushButton
    _status: dict[str, p.ConversationStatus]
    _cql: dict[str, int | None]
    if TYPE_CHECKING:
        lead_created: SignalInstance
        transcript_logged: SignalInstance

        def show_conversation(self, conversation_id: str | None) -> None: ...
        def _refresh(self, conv: p.Conversation) -> None: ...
        def _start_lookup(self, conv: p.Conversation) -> None: ...
        def update_owner_button(self) -> None: ...

    def _widget(self) -> QWidget:
        """The panel itself, as the parent for its dialogs."""
        return cast("QWidget", self)

    def note(self, text: str, *, error: bool = False) -> None:
        """A quiet one-line result under the action buttons."""
        self.action_note.setText(text)
        repolish(self.action_note, error=error)

    # ------------------------------------------------------------------ store

    def on_bridge_conversation_changed(self, conv: p.Conversation, created: bool) -> None:
        before, self._status[conv.id] = self._status.get(conv.id), conv.status
        closed_now = before is p.ConversationStatus.OPEN and conv.status is p.ConversationStatus.CLOSED
        auto = self.settings.get_bool("log_transcript_on_close") if self.settings is not None else True
        if closed_now and auto and self.service.available:
            self._log(conv.id, quiet=conv.id != self.cid)
        cql_before, self._cql[conv.id] = self._cql.get(conv.id, conv.cql), conv.cql
        link = self.service.links.get(conv.id)
        if conv.cql is not None and conv.cql != cql_before and link and link.lead_id:
            cid = conv.id
            self.runner.run(
                self.service.write_cql(cid, conv.cql),
                what="Save CQL to Salesforce",
                key=("panel", "cql", cid),
                on_success=lambda ok: (
                    self.note("CQL saved to the Salesforce lead.") if cid == self.cid else None
                ),
                on_error=lambda exc: (
                    self.note(f"CQL not saved to Salesforce: {exc}", error=True) if cid == self.cid else None
                ),
            )
        if conv.id == self.cid:
            self._refresh(conv)

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        if conversation_id == self.cid:
            self.show_conversation(None)

    def on_bridge_reset(self) -> None:
        self._status = {c.id: c.status for c in self.store.conversations.values()}
        self._cql = {c.id: c.cql for c in self.store.conversations.values()}
        self.show_conversation(self.cid if self.cid in self.store.conversations else None)

    # ------------------------------------------------------------------ Salesforce

    def on_records_link_clicked(self, url: str) -> None:
        _open_url(url)

    def on_company_retry_clicked(self) -> None:
        conv = self.store.conversations.get(self.cid)
        if conv is not None:
            self._start_lookup(conv)

    def on_connect_clicked(self) -> None:
        me = self.store.me
        self.runner.run(
            self.service.sign_in(_open_url, me.email if me else ""),
            what="Salesforce sign-in",
            busy=self.connect_button,
            on_success=lambda _: self.on_company_retry_clicked(),
            on_error=lambda exc: self.note(f"Salesforce sign-in failed: {exc}", error=True),
        )

    # ------------------------------------------------------------------ create lead

    def on_create_clicked(self) -> None:
        conv = self.store.conversations.get(self.cid)
        if conv is None:
            return
        dialog = CreateLeadDialog(lead_fields_for(conv.visitor), self._widget())
        cid = conv.id
        dialog.lead_submitted.connect(lambda fields: self._create_lead(cid, fields, False))
        self.dialog = dialog
        dialog.open()

    def _create_lead(self, cid: str, fields: dict[str, Any], allow: bool) -> None:
        self.note("Creating the lead…")
        self.runner.run(
            self.service.create_lead(cid, fields, allow),
            what="Create lead",
            key=("panel", "create", cid),
            busy=self.create_button,
            on_success=lambda lead_id: self._on_lead_created(cid, lead_id, fields),
            on_error=lambda exc: self._on_create_failed(cid, fields, exc),
        )

    def _on_lead_created(self, cid: str, lead_id: str, fields: dict[str, Any]) -> None:
        self.lead_created.emit(cid, lead_id)
        # The chat follows the CRM: the server stores the lead's name/email/company, re-aligns, broadcasts.
        name = " ".join(x for x in (fields.get("FirstName"), fields.get("LastName")) if x)
        email, company = fields.get("Email"), fields.get("Company")
        update = self.service.visitor_update(
            cid, lead_id, "Salesforce lead", name=name, email=email, company=company
        )
        if update is not None:
            self.report_visitor(update)
        if cid == self.cid:
            self.note("Lead created and linked to this chat.")
            self.update_owner_button()
            self.on_company_retry_clicked()

    def report_visitor(self, update: p.UpdateVisitor) -> None:
        """Tell the chat server what the CRM knows about this visitor (queue, header and panel follow)."""
        cid = update.conversation_id
        self.runner.run(
            self.service.report_visitor(update),
            what="Update the visitor from Salesforce",
            key=("panel", "visitor", cid),
            on_error=lambda exc: (
                self.note(f"The chat did not take the Salesforce name: {exc}", error=True)
                if cid == self.cid
                else None
            ),
        )

    def _on_create_failed(self, cid: str, fields: dict[str, Any], exc: Exception) -> None:
        if cid != self.cid:
            return
        if not isinstance(exc, DuplicatesDetected):
            self.note(f"Lead not created: {exc}", error=True)
            return
        self.note("Salesforce found possible duplicates.", error=True)
        dialog = DuplicatesDialog(exc, self._widget())
        dialog.save_anyway_chosen.connect(lambda: self._create_lead(cid, fields, True))
        dialog.use_existing_chosen.connect(
            lambda sobject, rid: self._on_use_existing(cid, sobject, rid, match_name(exc, rid))
        )
        self.dialog = dialog
        dialog.open()

    def _on_use_existing(self, cid: str, sobject: str, record_id: str, name: str = "") -> None:
        self.service.use_existing(cid, record_id, sobject, name)
        update = self.service.visitor_update(cid, record_id, f"Salesforce {sobject.lower()}", name=name)
        if update is not None:
            self.report_visitor(update)
        self.note(f"Linked this chat to the existing {sobject}.")
        self.update_owner_button()

    # ------------------------------------------------------------------ owner change and transcript

    def on_owner_clicked(self) -> None:
        cid = self.cid
        self.runner.run(
            self.service.active_users(),
            what="Load Salesforce users",
            key=("panel", "users"),
            busy=self.owner_button,
            on_success=lambda users: self._on_users_loaded(cid, users),
            on_error=lambda exc: self.note(f"Could not load users: {exc}", error=True),
        )

    def _on_users_loaded(self, cid: str, users: list[dict[str, Any]]) -> None:
        if cid != self.cid:
            return
        conv = self.store.conversations.get(cid)
        me = self.store.me
        aligned = alignment(conv, self.store.agents, me.id if me else "").agent if conv else None
        # The server's aligned SDR is preselected (a Salesforce user is matched to a teammate by email).
        dialog = ChangeOwnerDialog(users, aligned.email if aligned else "", self._widget())
        dialog.owner_submitted.connect(lambda user, note: self._change_owner(cid, user, note))
        self.dialog = dialog
        dialog.open()

    def _change_owner(self, cid: str, user: dict[str, Any], note: str) -> None:
        self.runner.run(
            self.service.change_owner(cid, user, note),
            what="Change the Salesforce owner",
            key=("panel", "owner", cid),
            on_success=lambda text: self.note(text) if cid == self.cid else None,
            on_error=lambda exc: self.note(f"Owner change: {exc}", error=True) if cid == self.cid else None,
        )

    def on_log_clicked(self) -> None:
        self._log(self.cid, quiet=False)

    def _log(self, cid: str, *, quiet: bool) -> None:
        def done(task_id: str | None) -> None:
            if task_id:
                self.transcript_logged.emit(cid, task_id)
            if cid == self.cid:
                self.note(
                    "Chat logged to Salesforce." if task_id else "No lead or contact to log this chat to."
                )

        self.runner.run(
            self.service.log_transcript(cid),
            what="Log chat to Salesforce",
            key=("panel", "log", cid),
            busy=None if quiet else self.log_button,
            on_success=done,
            on_error=lambda exc: (
                self.note(f"Chat not logged: {exc}", error=True) if cid == self.cid else None
            ),
        )
