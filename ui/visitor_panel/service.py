"""What the visitor panel does, without Qt: lookups, new leads, owner change, transcript and CQL writes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from agent_app import protocol as p
from agent_app.integrations import (
    AccountMatch,
    DuplicateReport,
    IntegrationError,
    Integrations,
    LookupResult,
    PersonMatch,
    VisitorInsight,
    normalize_domain,
    other_duplicates,
)
from agent_app.integrations.transcript import build_transcript, transcript_subject
from agent_app.store import Store

MAX_LOGO_BYTES = 256 * 1024
LOGO_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class Requester(Protocol):
    """The part of agent_app.session.Session the panel uses."""

    async def request(self, command: p.AgentCommand) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PanelResult:
    """One lookup for the panel: the integrations' insight plus the Accounts for the Salesforce card.

    ``duplicates`` are the possible duplicates that are not already on the Salesforce card
    (``other_duplicates``): the panel lists these, never ``insight.duplicates``."""

    insight: VisitorInsight
    accounts: list[AccountMatch]
    errors: dict[str, IntegrationError] = field(default_factory=dict)
    duplicates: DuplicateReport | None = None


@dataclass
class Link:
    """The Salesforce records a conversation is linked to (found by email or created from the panel)."""

    lead_id: str = ""
    who_id: str = ""  # Lead or Contact that receives the transcript Task
    lead_name: str = ""


class PanelService:
    """One per app run; the panel calls one method per user action through the TaskRunner."""

    def __init__(self, integrations: Integrations | None, session: Requester, store: Store) -> None:
        self.integrations, self.session, self.store = integrations, session, store
        self.links: dict[str, Link] = {}
        self.logged: dict[str, str] = {}  # conversation id -> Task id
        self.reported: dict[str, tuple[str, str]] = {}  # conversation id -> (record id, name) sent

    @property
    def available(self) -> bool:
        return self.integrations is not None

    def _need(self) -> Integrations:
        if self.integrations is None:
            raise IntegrationError("Salesforce is not configured (see Settings)")
        return self.integrations

    async def lookup(self, conversation_id: str, email: str, company: str) -> PanelResult:
        """People, duplicates, company data and accounts at once; errors are collected."""
        it = self._need()
        domain = normalize_domain(email) if email else None
        errors: dict[str, IntegrationError] = {}

        async def accounts() -> list[AccountMatch]:
            try:
                return await it.crm.find_accounts(domain, company or None)
            except IntegrationError as exc:
                errors["accounts"] = exc
                return []

        if email:
            # Company research runs on its own (lookup_company): its 202 polling must not hold this back.
            insight, found = await asyncio.gather(
                it.lookup.run(email, company or None, with_company=False), accounts()
            )
        else:
            dups: DuplicateReport | None = None
            try:
                dups = await it.crm.check_duplicates(company=company)
            except IntegrationError as exc:
                errors["duplicates"] = exc
            insight = VisitorInsight("", None, [], dups, None, dict(errors))
            found = await accounts()
        people = insight.people or []
        link = self.links.setdefault(conversation_id, Link())
        lead = next((m for m in people if m.sobject == "Lead" and not m.owned_by_other), None)
        lead = lead or next((m for m in people if m.sobject == "Lead"), None)
        if lead and not link.lead_id:
            link.lead_id, link.lead_name = lead.record_id, lead.name
        if people and not link.who_id:
            link.who_id = (lead or people[0]).record_id
        known = [m.record_id for m in people] + [a.record_id for a in found] + [link.lead_id, link.who_id]
        dups = other_duplicates(insight.duplicates, [k for k in known if k])
        return PanelResult(insight, found, {**insight.errors, **errors}, dups)

    async def lookup_company(self, email: str) -> LookupResult | None:
        """Company research for a work email; None when research is off or the email is personal."""
        it = self._need()
        if it.enrichment is None or not email or normalize_domain(email) is None:
            return None
        return await it.enrichment.lookup(email)

    def matched_name(self, conversation_id: str, people: list[PersonMatch]) -> p.UpdateVisitor | None:
        """Name an unnamed visitor after the Lead/Contact their email matched (once per record).

        A name the visitor gave is kept: only a record the SDR created or picked overrides it."""
        conv = self.store.conversations.get(conversation_id)
        link = self.links.get(conversation_id)
        person = next((m for m in people if link and m.record_id == link.who_id), None)
        if conv is None or person is None or not person.name or conv.visitor.name.strip():
            return None
        return self.visitor_update(
            conversation_id, person.record_id, f"Salesforce {person.sobject.lower()}", name=person.name,
            company=None if conv.visitor.company.strip() else person.company,
        )  # fmt: skip

    def visitor_update(
        self,
        conversation_id: str,
        record_id: str,
        source: str,
        *,
        name: str | None = None,
        email: str | None = None,
        company: str | None = None,
    ) -> p.UpdateVisitor | None:
        """The UpdateVisitor telling the chat server what the CRM knows (None when already sent)."""
        if (record_id, name or "") == self.reported.get(conversation_id):
            return None
        self.reported[conversation_id] = (record_id, name or "")
        return p.UpdateVisitor(
            id=uuid.uuid4().hex,
            conversation_id=conversation_id,
            name=name or None,
            email=email or None,
            company=company or None,
            source=source,
        )

    async def report_visitor(self, update: p.UpdateVisitor) -> None:
        """Send it; the server stores the facts, re-aligns the chat and broadcasts (queue, header, panel)."""
        await self.session.request(update)

    def owner_change_blocker(self, conversation_id: str, salesforce_problem: str) -> str:
        """Why "Change Salesforce owner…" cannot be used for this chat right now ("" when it can)."""
        if not self.available:
            return "Salesforce is not configured (Settings > Salesforce)."
        if salesforce_problem:
            return salesforce_problem
        if not self.links.get(conversation_id, Link()).lead_id:
            return "No Salesforce lead is linked to this chat: create or match one first."
        return ""

    async def fetch_logo(self, url: str) -> bytes | None:
        """The logo image, at most MAX_LOGO_BYTES; None when absent, too big or unreachable."""
        http = self.integrations.http if self.integrations else None
        if http is None or not url.startswith(("http://", "https://")):
            return None
        data = bytearray()
        try:
            async with http.stream("GET", url, timeout=LOGO_TIMEOUT, follow_redirects=True) as r:
                if r.status_code != 200 or not r.headers.get("content-type", "").startswith("image/"):
                    return None
                async for chunk in r.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_LOGO_BYTES:
                        return None
        except httpx.HTTPError:
            return None
        return bytes(data)

    async def sign_in(self, open_browser: Any, login_hint: str = "") -> None:
        await self._need().auth.sign_in(open_browser, login_hint=login_hint or None)

    async def create_lead(
        self, conversation_id: str, fields: dict[str, Any], allow_duplicates: bool = False
    ) -> str:
        """Create the Lead (DuplicatesDetected propagates) and link the conversation to it."""
        lead_id = await self._need().crm.create_lead(fields, allow_duplicates=allow_duplicates)
        name = " ".join(x for x in (fields.get("FirstName"), fields.get("LastName")) if x)
        self.use_existing(conversation_id, lead_id, "Lead", name)
        return lead_id

    def use_existing(self, conversation_id: str, record_id: str, sobject: str, name: str = "") -> None:
        link = self.links.setdefault(conversation_id, Link())
        if sobject == "Lead":
            link.lead_id, link.lead_name = record_id, name
        link.who_id = record_id

    async def active_users(self) -> list[dict[str, Any]]:
        return await self._need().crm.active_users()

    async def change_owner(self, conversation_id: str, user: dict[str, Any], note: str) -> str:
        """Change the Lead's Salesforce owner to ``user``, then note it in the conversation (the chat's
        assignee does not change: that is the participants dialog's "Hand off to").

        Returns what happened; a CommandError from the chat server propagates (the owner did change)."""
        lead_id = self.links.get(conversation_id, Link()).lead_id
        if not lead_id:
            raise IntegrationError("No lead is linked to this chat: create or pick one first")
        await self._need().crm.change_owner(lead_id, str(user["Id"]))
        email = str(user.get("Email") or "").lower()
        agent = next((a for a in self.store.agents.values() if a.email.lower() == email), None)
        name = str(user.get("Name") or email)
        if agent is None:
            return f"Lead owner is now {name} (they have no chat account to note it for)"
        await self.session.request(
            p.RecordHandoff(
                id=uuid.uuid4().hex,
                conversation_id=conversation_id,
                to_agent_id=agent.id,
                note=note,
                crm_record=f"Lead {lead_id}",
            )
        )
        return f"Lead owner is now {name}; noted in the chat"

    async def log_transcript(self, conversation_id: str) -> str | None:
        """Log the chat as a completed Task on the linked Lead/Contact, at most once; None if none linked."""
        if conversation_id in self.logged:
            return self.logged[conversation_id]
        conv = self.store.conversations.get(conversation_id)
        it = self._need()
        if conv is None:
            return None
        link = self.links.setdefault(conversation_id, Link())
        if not link.who_id and conv.visitor.email:
            people = await it.crm.find_person(conv.visitor.email)
            if people:
                link.who_id = people[0].record_id
        if not link.who_id:
            return None
        text = build_transcript(conv, self.store.transcripts.get(conversation_id, []))
        when = datetime.fromtimestamp(conv.closed_at or conv.updated_at or conv.created_at or 0, UTC)
        task_id = await it.crm.log_transcript(
            conversation_id, link.who_id, transcript_subject(conv), text, when.date()
        )
        self.logged[conversation_id] = task_id
        return task_id

    async def write_cql(self, conversation_id: str, level: int) -> bool:
        """Write the CQL to the linked Lead; False when no lead is linked."""
        lead_id = self.links.get(conversation_id, Link()).lead_id
        if not lead_id:
            return False
        await self._need().crm.write_cql(lead_id, level)
        return True
