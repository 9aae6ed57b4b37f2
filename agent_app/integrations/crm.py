"""What the visitor panel asks Salesforce: people, accounts, duplicates, new lead, owner, chat Task, CQL."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rapidfuzz import fuzz

from agent_app.integrations.activity_log import ActivityLog
from agent_app.integrations.escaping import soql_like, soql_quote, sosl_escape
from agent_app.integrations.sf_client import SalesforceClient

FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "yandex.ru",
        "mail.com",
        "zoho.com",
        "qq.com",
        "163.com",
    }
)
_LEGAL = {
    "inc",
    "llc",
    "ltd",
    "gmbh",
    "corp",
    "corporation",
    "co",
    "company",
    "sa",
    "ag",
    "plc",
    "bv",
    "pty",
    "kk",
    "ab",
    "limited",
    "srl",
    "ltda",
    "pvt",
}
MAX_DESCRIPTION = 32000  # Task.Description limit
FUZZY_THRESHOLD = 85.0


def normalize_company(name: str) -> str:
    """Lower-case, punctuation and legal suffixes removed: 'Initech, Inc.' -> 'initech'."""
    words = re.sub(r"[^\w ]", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _LEGAL)


def email_domain(email: str) -> str | None:
    """The company domain of an address, or None for free-mail providers."""
    domain = email.rpartition("@")[2].strip().lower()
    return None if not domain or domain in FREE_MAIL else domain


@dataclass(frozen=True)
class PersonMatch:
    """An existing Lead (not converted) or Contact for the visitor's email."""

    sobject: str
    record_id: str
    name: str
    email: str | None
    company: str | None
    status: str | None
    owner_id: str | None
    owner_name: str | None
    last_activity: str | None
    url: str
    owned_by_other: bool


@dataclass(frozen=True)
class AccountMatch:
    """An Account found by website domain or company name."""

    record_id: str
    name: str
    website: str | None
    owner_id: str | None
    owner_name: str | None
    url: str
    reason: str
    score: float


@dataclass(frozen=True)
class DuplicateHit:
    """One possible duplicate with why it matched (reasons) and how strongly (score 0-100)."""

    sobject: str
    record_id: str
    label: str
    reasons: tuple[str, ...]
    score: float
    owner_id: str | None
    owner_name: str | None
    url: str
    owned_by_other: bool

    @property
    def warning(self) -> str | None:
        """Shown next to the hit when a colleague owns it."""
        if not self.owned_by_other:
            return None
        return f"owned by {self.owner_name or self.owner_id}, talk to them before creating a lead"


@dataclass(frozen=True)
class DuplicateReport:
    """Result of check_duplicates, hits best first."""

    hits: list[DuplicateHit] = field(default_factory=list)

    @property
    def owned_by_others(self) -> list[DuplicateHit]:
        """Hits a colleague owns."""
        return [h for h in self.hits if h.owned_by_other]


class CrmService:
    """Salesforce operations for the panel; construct once per signed-in session."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        cql_field: str = "CQL_Level__c",
        activity_log: ActivityLog | None = None,
        lightning_urls: bool = False,
    ) -> None:
        self.client = client
        self.cql_field = cql_field
        self._activity_log = activity_log
        self._lightning = lightning_urls
        self._log_locks: dict[str, asyncio.Lock] = {}

    async def current_user_id(self) -> str:
        """Id of the signed-in user (from the OAuth identity URL)."""
        return (await self.client.session()).user_id

    async def record_url(self, sobject: str, record_id: str) -> str:
        """Link to open the record in the browser (classic instance_url/Id, or Lightning)."""
        base = (await self.client.session()).instance_url.rstrip("/")
        if self._lightning:
            return f"{base}/lightning/r/{sobject}/{record_id}/view"
        return f"{base}/{record_id}"

    # -- lookups -----------------------------------------------------------------------------------------
    async def find_person(self, email: str) -> list[PersonMatch]:
        """Open Leads and Contacts with exactly this email (SOQL '=' is case-insensitive)."""
        q = soql_quote(email.strip())
        leads_soql = (
            "SELECT Id, Name, Email, Company, Status, OwnerId, Owner.Name, LastActivityDate FROM Lead "
            f"WHERE Email = {q} AND IsConverted = false ORDER BY LastActivityDate DESC NULLS LAST"
        )
        contacts_soql = (
            "SELECT Id, Name, Email, Account.Name, OwnerId, Owner.Name, LastActivityDate FROM Contact "
            f"WHERE Email = {q} ORDER BY LastActivityDate DESC NULLS LAST"
        )
        me, leads, contacts = await asyncio.gather(
            self.current_user_id(), self.client.query(leads_soql), self.client.query(contacts_soql)
        )
        out = []
        for sobject, rec in [("Lead", r) for r in leads] + [("Contact", r) for r in contacts]:
            owner_id = rec.get("OwnerId")
            company = rec.get("Company") if sobject == "Lead" else (rec.get("Account") or {}).get("Name")
            out.append(
                PersonMatch(
                    sobject=sobject,
                    record_id=rec["Id"],
                    name=rec.get("Name") or "",
                    email=rec.get("Email"),
                    company=company,
                    status=rec.get("Status") if sobject == "Lead" else None,
                    owner_id=owner_id,
                    owner_name=(rec.get("Owner") or {}).get("Name"),
                    last_activity=rec.get("LastActivityDate"),
                    url=await self.record_url(sobject, rec["Id"]),
                    owned_by_other=bool(owner_id) and owner_id != me,
                )
            )
        return out

    async def find_accounts(self, domain: str | None, company: str | None) -> list[AccountMatch]:
        """Accounts whose Website contains the domain, plus fuzzy company-name matches, best first."""
        hits: dict[str, AccountMatch] = {}
        jobs = []
        if domain:
            jobs.append(
                self.client.query(
                    "SELECT Id, Name, Website, OwnerId, Owner.Name FROM Account WHERE Website LIKE "
                    f"{soql_like(domain, prefix='%', suffix='%')} LIMIT 20"
                )
            )
        if company and len(normalize_company(company)) >= 2:
            jobs.append(
                self._search_company(company, "Account(Id, Name, Website, OwnerId, Owner.Name LIMIT 20)")
            )
        results = await asyncio.gather(*jobs)
        for i, records in enumerate(results):
            by_domain = bool(domain) and i == 0
            for rec in records:
                if by_domain:
                    score, reason = 95.0, f"website matches {domain}"
                else:
                    score = _name_score(company or "", rec.get("Name") or "")
                    if score < FUZZY_THRESHOLD:
                        continue
                    reason = f"name similar to '{company}' ({score:.0f})"
                if rec["Id"] in hits and hits[rec["Id"]].score >= score:
                    continue
                hits[rec["Id"]] = AccountMatch(
                    rec["Id"],
                    rec.get("Name") or "",
                    rec.get("Website"),
                    rec.get("OwnerId"),
                    (rec.get("Owner") or {}).get("Name"),
                    await self.record_url("Account", rec["Id"]),
                    reason,
                    score,
                )
        return sorted(hits.values(), key=lambda a: -a.score)

    async def check_duplicates(
        self, *, email: str | None = None, company: str | None = None, domain: str | None = None
    ) -> DuplicateReport:
        """Everything that could be the same person or company: exact email, domain, fuzzy company name."""
        domain = (domain or (email_domain(email) if email else None) or "").lower() or None
        found: dict[str, tuple[str, dict[str, Any], list[str], float]] = {}

        def add(sobject: str, rec: dict[str, Any], reason: str, score: float) -> None:
            prev = found.get(rec["Id"])
            if prev is None:
                found[rec["Id"]] = (sobject, rec, [reason], score)
            elif reason not in prev[2]:
                found[rec["Id"]] = (sobject, rec, [*prev[2], reason], max(prev[3], score))

        async def by_email() -> None:
            q = soql_quote(email.strip()) if email else "''"
            leads, contacts = await asyncio.gather(
                self.client.query(
                    "SELECT Id, Name, Company, Email, OwnerId, Owner.Name FROM Lead "
                    f"WHERE Email = {q} AND IsConverted = false"
                ),
                self.client.query(
                    f"SELECT Id, Name, Email, OwnerId, Owner.Name FROM Contact WHERE Email = {q}"
                ),
            )
            for rec in leads:
                add("Lead", rec, "same email", 100.0)
            for rec in contacts:
                add("Contact", rec, "same email", 100.0)

        async def by_domain() -> None:
            like = soql_like(domain or "", prefix="%", suffix="%")
            at = soql_like("@" + (domain or ""), prefix="%")
            accounts, leads = await asyncio.gather(
                self.client.query(
                    f"SELECT Id, Name, Website, OwnerId, Owner.Name FROM Account WHERE Website LIKE "
                    f"{like} LIMIT 20"
                ),
                self.client.query(
                    "SELECT Id, Name, Company, Email, OwnerId, Owner.Name FROM Lead WHERE "
                    f"(Email LIKE {at} OR Website LIKE {like}) AND IsConverted = false LIMIT 50"
                ),
            )
            for rec in accounts:
                add("Account", rec, f"website domain {domain}", 95.0)
            for rec in leads:
                add("Lead", rec, f"same company domain {domain}", 85.0)

        async def by_name() -> None:
            records = await self._search_company(
                company or "",
                "Account(Id, Name, Website, OwnerId, Owner.Name LIMIT 20), "
                "Lead(Id, Name, Company, Email, OwnerId, Owner.Name WHERE IsConverted = false LIMIT 20)",
            )
            for rec in records:
                sobject = rec.get("attributes", {}).get("type", "")
                candidate = rec.get("Company") if sobject == "Lead" else rec.get("Name")
                score = _name_score(company or "", candidate or "")
                if score >= FUZZY_THRESHOLD:
                    add(sobject, rec, f"company name similar to '{company}' ({score:.0f})", score)

        jobs = []
        if email:
            jobs.append(by_email())
        if domain:
            jobs.append(by_domain())
        if company and len(normalize_company(company)) >= 2:
            jobs.append(by_name())
        me, *_ = await asyncio.gather(self.current_user_id(), *jobs)
        hits = []
        for rid, (sobject, rec, reasons, score) in found.items():
            owner_id = rec.get("OwnerId")
            label = rec.get("Name") or ""
            if sobject == "Lead" and rec.get("Company"):
                label = f"{label} ({rec['Company']})"
            hits.append(
                DuplicateHit(
                    sobject,
                    rid,
                    label,
                    tuple(reasons),
                    score,
                    owner_id,
                    (rec.get("Owner") or {}).get("Name"),
                    await self.record_url(sobject, rid),
                    bool(owner_id) and owner_id != me,
                )
            )
        hits.sort(key=lambda h: (-h.score, -len(h.reasons), h.label))
        return DuplicateReport(hits)

    async def _search_company(self, company: str, returning: str) -> list[dict[str, Any]]:
        words = [w for w in normalize_company(company).split() if len(w) >= 2]
        if not words:
            return []
        term = " OR ".join(sosl_escape(w) for w in words)
        return await self.client.search(f"FIND {{{term}}} IN NAME FIELDS RETURNING {returning}")

    # -- writes -------------------------------------------------------------------------------------------
    async def create_lead(self, fields: dict[str, Any], *, allow_duplicates: bool = False) -> str:
        """Create a Lead owned by the current user unless OwnerId is given.

        Raises DuplicatesDetected when a duplicate rule objects; if its ``allow_save`` is true, call again
        with ``allow_duplicates=True`` to save anyway.
        """
        fields = dict(fields)
        fields.setdefault("OwnerId", await self.current_user_id())
        # We set the owner deliberately; without this header assignment rules could overwrite it.
        headers = {"Sforce-Auto-Assign": "FALSE"}
        if allow_duplicates:
            headers["Sforce-Duplicate-Rule-Header"] = "allowSave=true; includeRecordDetails=true"
        return await self.client.create("Lead", fields, headers=headers)

    async def change_owner(self, lead_id: str, owner_id: str) -> None:
        """Hand a Lead to another rep; auto-assignment off so the rule can't take it back."""
        await self.client.update(
            "Lead", lead_id, {"OwnerId": owner_id}, headers={"Sforce-Auto-Assign": "FALSE"}
        )

    async def active_users(self) -> list[dict[str, Any]]:
        """Licensed active users (for choosing whom to hand a lead to)."""
        return await self.client.query(
            "SELECT Id, Name, Email FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Name"
        )

    async def write_cql(self, lead_id: str, level: int, *, field_name: str | None = None) -> None:
        """Store the CQL rating (0 = not qualified .. 3 = MQL) in the configured Lead field."""
        if not 0 <= level <= 3:
            raise ValueError(f"CQL level must be 0..3, not {level}")
        await self.client.update("Lead", lead_id, {field_name or self.cql_field: level})

    async def log_transcript(
        self, conversation_id: str, who_id: str, subject: str, transcript: str, activity_date: date
    ) -> str:
        """Log the chat as a completed Task on the Lead/Contact, once per conversation; returns its id."""
        lock = self._log_locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            if self._activity_log is not None:
                known = await self._activity_log.task_for(conversation_id)
                if known:
                    return known
            # The marker makes the Task findable even if the local record was lost (other machine, crash).
            marker = f"[chat:{conversation_id}]"
            existing = await self.client.query(
                f"SELECT Id FROM Task WHERE WhoId = {soql_quote(who_id)} AND Subject LIKE "
                f"{soql_like(marker, prefix='%', suffix='%')} LIMIT 1"
            )
            if existing:
                task_id = str(existing[0]["Id"])
            else:
                task_id = await self.client.create(
                    "Task",
                    {
                        "WhoId": who_id,
                        "Subject": f"{subject[: 254 - len(marker)]} {marker}",
                        "Description": transcript[:MAX_DESCRIPTION],
                        "ActivityDate": activity_date.isoformat(),
                        "Status": "Completed",
                        "Priority": "Normal",
                        "TaskSubtype": "Task",
                    },
                )
            if self._activity_log is not None:
                await self._activity_log.remember(conversation_id, task_id, who_id)
            return task_id


def _name_score(query: str, candidate: str) -> float:
    a, b = normalize_company(query), normalize_company(candidate)
    if not a or not b:
        return 0.0
    return float(max(fuzz.ratio(a, b), fuzz.token_set_ratio(a, b) * 0.97))
