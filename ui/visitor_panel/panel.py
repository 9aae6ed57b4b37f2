"""The visitor side panel: who is chatting, their company, Salesforce records, duplicates, territory."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QScrollArea, QVBoxLayout, QWidget

from agent_app import protocol as p
from agent_app.alignment import alignment
from agent_app.integrations import (
    AuthError,
    Integrations,
    LookupResult,
    LookupStatus,
    TransportError,
    normalize_domain,
)
from agent_app.integrations.lookup import paused_text
from agent_app.timezones import reader_zone
from ui.bridge import StoreBridge
from ui.style import named, repolish
from ui.tasks import TaskRunner
from ui.visitor_panel.actions import PanelActions
from ui.visitor_panel.cards import Card, CompanyCard, RowsView, TerritoryCard, VisitorCard, plain
from ui.visitor_panel.rows import duplicate_rows, page_rows, previous_rows, record_rows
from ui.visitor_panel.service import PanelResult, PanelService, Requester

if TYPE_CHECKING:
    from agent_app.settings import Settings


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    return button


class VisitorPanel(PanelActions, QScrollArea):
    """Shows the selected conversation's visitor; every lookup runs through the TaskRunner.

    Signals:
        results_shown(str): the CRM and company results of this conversation are on screen.
        lead_created(str, str): conversation id, new Lead id.
        transcript_logged(str, str): conversation id, Task id.
        conversation_link_clicked(str): a previous conversation was clicked.
    """

    results_shown = Signal(str)
    lead_created = Signal(str, str)
    transcript_logged = Signal(str, str)
    conversation_link_clicked = Signal(str)

    def __init__(
        self,
        bridge: StoreBridge,
        integrations: Integrations | None,
        runner: TaskRunner,
        session: Requester,
        settings: Settings | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("visitorPanel")
        self.bridge, self.store, self.runner, self.settings = bridge, bridge.store, runner, settings
        self.integrations = integrations
        self.service = PanelService(integrations, session, bridge.store)
        self.cid = ""
        self._asked: tuple[str, str] | None = None
        self._lookup: asyncio.Task[Any] | None = None  # Salesforce: records, accounts, duplicates
        self._company_lookup: asyncio.Task[Any] | None = None  # enrichment, shown on its own
        self._waiting: set[str] = set()  # parts of the open chat's lookup not shown yet
        self._status = {c.id: c.status for c in self.store.conversations.values()}
        self._cql = {c.id: c.cql for c in self.store.conversations.values()}
        self.dialog: QWidget | None = None
        self.salesforce_problem = ""  # why Salesforce cannot be used for the open chat ("" when it can)
        self._build()
        self._connect_signals()
        self.show_conversation(None)

    def _build(self) -> None:
        self.setWidgetResizable(True)
        # Cards wrap to the panel's width; a sideways scrollbar only ever showed a few clipped pixels.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = named(QWidget(), "visitorPanelBody")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(10)
        self.empty = plain("Select a conversation to see who you are talking to.", "panelEmpty")
        self.status = plain("", "panelStatus")
        self.connect_button = _button("Connect Salesforce", "connectSalesforce")
        self.retry_button = _button("Retry", "retryLookup")
        self.visitor = VisitorCard()
        self.company = CompanyCard()
        self.salesforce = Card("Salesforce")
        self.sf_state = plain("", "muted")
        self.records = RowsView("crmRecords")
        self.salesforce.layout_.addWidget(self.sf_state)
        self.salesforce.layout_.addWidget(self.records)
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addWidget(self.retry_button)
        row.addStretch(1)
        self.salesforce.layout_.addLayout(row)
        self.duplicates = Card("Possible duplicates")
        self.dup_state = plain("", "muted")
        self.dup_list = RowsView("duplicateHits")
        self.duplicates.layout_.addWidget(self.dup_state)
        self.duplicates.layout_.addWidget(self.dup_list)
        self.territory = TerritoryCard()
        self.actions_card = Card("Actions")
        # Two rows, so the panel's narrowest width still shows every button whole (one row of three was
        # wider than the panel and clipped the cards below it).
        buttons = QGridLayout()
        self.create_button = _button("Create lead", "createLead")
        # It changes the Lead's owner in Salesforce (the chat's hand-off is in the participants menu).
        self.owner_button = _button("Change Salesforce owner…", "changeOwner")
        self.log_button = _button("Log chat", "logTranscript")
        buttons.addWidget(self.create_button, 0, 0)
        buttons.addWidget(self.log_button, 0, 1)
        buttons.addWidget(self.owner_button, 1, 0, 1, 2)
        buttons.setColumnStretch(2, 1)
        self.actions_card.layout_.addLayout(buttons)
        self.action_note = plain("", "actionNote")
        self.actions_card.layout_.addWidget(self.action_note)
        # What an SDR acts on first (actions, duplicates, territory) sits above the fold.
        for w in (self.empty, self.status, self.actions_card, self.visitor, self.duplicates, self.territory):
            lay.addWidget(w)
        lay.addWidget(self.salesforce)
        lay.addWidget(self.company)
        lay.addWidget(self.visitor.activity)
        lay.addStretch(1)
        self.setWidget(body)

    def _connect_signals(self) -> None:
        self.bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        self.bridge.conversation_removed.connect(self.on_bridge_conversation_removed)
        self.bridge.reset.connect(self.on_bridge_reset)
        self.company.retry_clicked.connect(self.on_company_retry_clicked)
        self.retry_button.clicked.connect(self.on_company_retry_clicked)
        self.connect_button.clicked.connect(self.on_connect_clicked)
        for view in (self.records, self.dup_list):
            view.link_clicked.connect(self.on_records_link_clicked)
        self.visitor.previous.row_clicked.connect(self.conversation_link_clicked)
        self.create_button.clicked.connect(self.on_create_clicked)
        self.owner_button.clicked.connect(self.on_owner_clicked)
        self.log_button.clicked.connect(self.on_log_clicked)

    # ------------------------------------------------------------------ showing a conversation

    def set_conversation(self, conversation: p.Conversation | None) -> None:
        """MainWindow's side-panel API (it calls this on open and on updates)."""
        self.show_conversation(conversation.id if conversation else None)

    def show_conversation(self, conversation_id: str | None) -> None:
        conv = self.store.conversations.get(conversation_id or "")
        if conv is not None and conv.id == self.cid:
            self._refresh(conv)
            return
        for task in (self._lookup, self._company_lookup):
            if task is not None:
                task.cancel()  # the old visitor's answers must never land in the new view
        self.cid, self._asked, self._lookup, self._company_lookup = (
            (conv.id if conv else ""),
            None,
            None,
            None,
        )
        self._waiting = set()
        self.dialog = None
        self.salesforce_problem = ""
        self.action_note.clear()
        self.empty.setVisible(conv is None)
        for w in (
            self.visitor,
            self.visitor.activity,
            self.company,
            self.salesforce,
            self.duplicates,
            self.territory,
            self.actions_card,
        ):
            w.setVisible(conv is not None)
        self.status.hide()
        if conv is not None:
            self._refresh(conv)
        # Another chat starts at the top: the place in the previous visitor's panel means nothing here.
        self.verticalScrollBar().setValue(0)

    def _refresh(self, conv: p.Conversation) -> None:
        v = conv.visitor
        self.visitor.show_visitor(v, page_rows(v), previous_rows(self.store, conv))
        asked = (v.email.strip().lower(), v.company.strip())
        if asked != self._asked:
            self._asked = asked
            self._start_lookup(conv)
        link = self.service.links.get(conv.id)
        self.update_owner_button()
        self.log_button.setEnabled(self.service.available and bool(v.email or (link and link.who_id)))
        self.create_button.setEnabled(self.service.available)
        self._show_alignment(conv)

    def update_owner_button(self) -> None:
        """Enabled only when Salesforce is usable and a Lead is linked; the tooltip says why not."""
        why = self.service.owner_change_blocker(self.cid, self.salesforce_problem)
        self.owner_button.setEnabled(not why)
        link = self.service.links.get(self.cid)
        lead = (link.lead_name or link.lead_id) if link else ""
        self.owner_button.setToolTip(why or f"Make another Salesforce user the owner of Lead {lead}")

    def _start_lookup(self, conv: p.Conversation) -> None:
        v = conv.visitor
        self.salesforce_problem = ""
        self.connect_button.hide()
        self.retry_button.hide()
        if not self.service.available:
            self.sf_state.setText("Salesforce is not configured (Settings > Salesforce).")
            self.company.show_message("Company research is not configured.", error=False)
            self.dup_state.setText("Duplicate check needs Salesforce.")
            return
        if not (v.email or v.company):
            self.sf_state.setText("Waiting for an email or company to look up.")
            self.records.set_rows([])
            self.dup_list.set_rows([])
            self.dup_state.setText("Runs as soon as an email or company is known.")
            self.company.show_message("No email or company yet.", error=False)
            return
        self.company.show_loading()
        self.sf_state.setText("Searching Salesforce…")
        self.dup_state.setText("Checking for duplicates…")
        cid = conv.id
        # Two tasks so each card fills in as soon as its answer arrives: a queued (202) company lookup
        # can take seconds, Salesforce usually a fraction of one.
        self._waiting = {"salesforce", "company"}
        self._lookup = self.runner.run(
            self.service.lookup(cid, v.email.strip(), v.company.strip()),
            what="Visitor lookup",
            key=("panel", "lookup"),
            on_success=lambda result: self._on_lookup_done(cid, result),
            on_error=lambda exc: self._on_lookup_failed(cid, exc),
        )
        self._company_lookup = self.runner.run(
            self.service.lookup_company(v.email.strip()),
            what="Company research",
            key=("panel", "company"),
            on_success=lambda company: self._on_company_done(cid, company),
            on_error=lambda exc: self._on_company_failed(cid, exc),
        )

    def _part_shown(self, cid: str, part: str) -> None:
        """``results_shown`` once every part of this chat's lookup is on screen."""
        if part in self._waiting:
            self._waiting.discard(part)
            if not self._waiting:
                self.results_shown.emit(cid)

    def _on_lookup_failed(self, cid: str, exc: Exception) -> None:
        if cid != self.cid:
            return
        self.sf_state.setText(f"Lookup failed: {exc}")
        self.dup_state.setText("")
        self.retry_button.show()
        self.salesforce_problem = f"The Salesforce lookup failed ({exc}): retry it first."
        self.update_owner_button()
        self._part_shown(cid, "salesforce")

    def _on_company_failed(self, cid: str, exc: Exception) -> None:
        if cid != self.cid:
            return
        self.company.show_message(f"Company lookup failed: {exc}", error=True)
        self._part_shown(cid, "company")

    def _on_company_done(self, cid: str, company: LookupResult | None) -> None:
        if cid != self.cid:
            return
        conv = self.store.conversations.get(cid)
        self._show_company(company, conv.visitor.email if conv else "")
        self._part_shown(cid, "company")

    def _on_lookup_done(self, cid: str, result: PanelResult) -> None:
        if cid != self.cid:
            return
        insight, errors = result.insight, result.errors
        sf_error = errors.get("people") or errors.get("duplicates") or errors.get("accounts")
        rows = record_rows(insight.people or [], result.accounts)
        self.records.set_rows(rows)
        colleagues = sum(1 for m in insight.people or [] if m.owned_by_other)
        if isinstance(sf_error, AuthError):
            self.sf_state.setText("Not signed in to Salesforce.")
            self.salesforce_problem = "Connect Salesforce first (you are not signed in)."
            self.connect_button.show()
        elif isinstance(sf_error, TransportError):
            self.sf_state.setText(f"Salesforce is unreachable. {sf_error}")
            self.salesforce_problem = "Salesforce is unreachable: retry the lookup first."
            self.retry_button.show()
        elif sf_error is not None:
            self.sf_state.setText(str(sf_error))
            self.salesforce_problem = f"Salesforce lookup failed: {sf_error}"
            self.retry_button.show()
        elif colleagues:
            self.sf_state.setText(
                "This visitor is already in Salesforce, owned by a colleague: talk to them before creating "
                "a lead."
            )
        else:
            self.sf_state.setText("" if rows else "No lead, contact or account matches this visitor.")
        self.sf_state.setVisible(bool(self.sf_state.text()))
        repolish(self.sf_state, error=sf_error is not None, warning=sf_error is None and colleagues > 0)
        # Only records that are not already on the Salesforce card (agent_app other_duplicates).
        dups = duplicate_rows(result.duplicates)
        self.dup_list.set_rows(dups)
        others = sum(1 for r in dups if r.warning)
        if result.duplicates is None:
            if isinstance(sf_error, AuthError):
                self.dup_state.setText("Connect Salesforce to check for duplicates.")
            else:
                self.dup_state.setText("Duplicate check failed." if sf_error else "")
        elif not dups:
            self.dup_state.setText("No other possible duplicates.")
        else:
            colleague = f", {others} owned by a colleague" if others else ""
            self.dup_state.setText(f"{len(dups)} other possible duplicate(s){colleague}.")
        repolish(self.dup_state, warning=others > 0)
        usage = self.integrations.salesforce.api_usage if self.integrations else None
        if usage is not None and usage.high:
            self.status.setText(f"Salesforce API usage is high: {usage.used:,} of {usage.limit:,} today.")
            repolish(self.status, level="warning")
            self.status.show()
        self.update_owner_button()
        update = self.service.matched_name(cid, insight.people or [])
        if update is not None:
            self.report_visitor(update)
        self._part_shown(cid, "salesforce")

    def _show_company(self, company: LookupResult | None, email: str) -> None:
        if company is None:
            self.company.show_message(
                "No company data (personal email or research not configured).", error=False
            )
        elif company.status is LookupStatus.FOUND and company.profile is not None:
            self.company.show_profile(company.profile)
            if company.profile.logo_url:
                cid = self.cid
                self.runner.run(
                    self.service.fetch_logo(company.profile.logo_url),
                    what="Company logo",
                    key=("panel", "logo"),
                    on_success=lambda data: self.company.set_logo(data) if cid == self.cid else None,
                    on_error=lambda exc: None,
                )
        elif company.status is LookupStatus.NOT_FOUND:
            domain = normalize_domain(email) or "this visitor"
            self.company.show_message(f"No company data for {domain}.", error=False)
        elif (paused := paused_text(company, reader_zone(self.store.me))) is not None:
            # Not an error the SDR can fix by retrying: it comes back by itself at that time.
            self.company.show_message(paused, error=False)
        else:
            why = company.message or company.status.value.replace("_", " ")
            self.company.show_message(f"Company lookup failed: {why}", error=True)

    def _show_alignment(self, conv: p.Conversation) -> None:
        """The territory card says what the server's territory table decided (Conversation.routing)."""
        me = self.store.me
        a = alignment(conv, self.store.agents, me.id if me else "")
        self.territory.show_text(a.headline(), a.provenance, mine=a.mine)
