"""The panel's one call: from a visitor's email (and company) to CRM records, duplicates and enrichment."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from agent_app.integrations.cache import LookupCache
from agent_app.integrations.crm import CrmService, DuplicateReport, PersonMatch
from agent_app.integrations.enrichment import (
    CompanyEnrichmentProvider,
    LookupResult,
    LookupStatus,
    normalize_domain,
)
from agent_app.integrations.errors import IntegrationError
from agent_app.timezones import zone_label


@dataclass(frozen=True)
class VisitorInsight:
    """Everything the panel shows; a part that failed is None with its error kept, the rest still shows."""

    email: str
    domain: str | None
    people: list[PersonMatch] | None
    duplicates: DuplicateReport | None
    company: LookupResult | None
    errors: dict[str, IntegrationError]


class EnrichmentService:
    """Provider + cache: found and not-found answers are cached per domain, errors and 202s are not.

    After a 429 the provider is paused until its Retry-After (default a minute): lookups answer
    RATE_LIMITED with ``paused_until`` at once instead of spending more of the quota."""

    DEFAULT_PAUSE_S = 60.0

    def __init__(
        self,
        provider: CompanyEnrichmentProvider,
        cache: LookupCache[LookupResult] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.cache: LookupCache[LookupResult] = cache if cache is not None else LookupCache()
        self.clock = clock
        self.paused_until: float | None = None

    async def lookup(self, domain_or_email: str) -> LookupResult:
        """Company profile for a domain, URL or work email (free-mail addresses give NOT_FOUND at once)."""
        domain = normalize_domain(domain_or_email)
        if domain is None:
            return LookupResult(LookupStatus.NOT_FOUND, message="no company domain (free-mail or invalid)")
        now = self.clock()
        if self.paused_until is not None and now < self.paused_until:
            return LookupResult(
                LookupStatus.RATE_LIMITED,
                retry_after_s=self.paused_until - now,
                http_status=429,
                message="rate limit reached; paused",
                paused_until=self.paused_until,
            )
        result = await self.cache.get(
            domain,
            lambda: self.provider.find_by_domain(domain),
            cacheable=lambda r: r.cacheable,
            negative=lambda r: r.status is LookupStatus.NOT_FOUND,
        )
        if result.status is LookupStatus.RATE_LIMITED:
            wait = result.retry_after_s if result.retry_after_s is not None else self.DEFAULT_PAUSE_S
            self.paused_until = max(self.paused_until or 0.0, self.clock() + max(1.0, wait))
            result = replace(result, paused_until=self.paused_until)
        return result


def paused_text(result: LookupResult, zone: dt.tzinfo) -> str | None:
    """ "Company research paused until 14:05 CST (rate limit)" for a paused provider, else None."""
    if result.paused_until is None:
        return None
    when = dt.datetime.fromtimestamp(result.paused_until, zone)
    return f"Company research paused until {when:%H:%M} {zone_label(when)} (rate limit)"


class VisitorLookup:
    """Runs the CRM, duplicate and enrichment lookups concurrently. Cancel the awaiting task to abandon it."""

    def __init__(self, crm: CrmService, enrichment: EnrichmentService | None = None) -> None:
        self.crm, self.enrichment = crm, enrichment

    async def run(
        self, email: str, company: str | None = None, *, with_company: bool = True
    ) -> VisitorInsight:
        """Look the visitor up everywhere at once; IntegrationErrors are collected, not raised.

        ``with_company=False`` leaves enrichment out (``company`` is None) for callers that show it on its
        own, since a queued (202) enrichment lookup can take seconds."""
        domain = normalize_domain(email)
        errors: dict[str, IntegrationError] = {}

        async def guarded[T](name: str, coro: asyncio.Future[T] | asyncio.Task[T] | object) -> T | None:
            try:
                return await coro  # type: ignore[no-any-return,misc]
            except IntegrationError as exc:
                errors[name] = exc
                return None

        async def none() -> None:
            return None

        people, dups, company_result = await asyncio.gather(
            guarded("people", self.crm.find_person(email)),
            guarded("duplicates", self.crm.check_duplicates(email=email, company=company, domain=domain)),
            guarded(
                "company",
                self.enrichment.lookup(email) if self.enrichment and domain and with_company else none(),
            ),
        )
        return VisitorInsight(email, domain, people, dups, company_result, errors)


def other_duplicates(report: DuplicateReport | None, known: Iterable[str]) -> DuplicateReport | None:
    """The one rule that keeps the panel's two Salesforce lists from contradicting each other.

    ``known`` are the record ids already shown as *this visitor's* records (the Lead/Contact with their
    email, their company's Accounts, the lead linked to the chat): those are matches, not "possible
    duplicates" of the visitor, so they are left out here and a colleague's ownership is flagged on the
    record itself. What remains are the other records that might be the same person or company.
    """
    if report is None:
        return None
    ids = set(known)
    return replace(report, hits=[h for h in report.hits if h.record_id not in ids])
