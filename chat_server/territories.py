"""The territory table and enrichment adapters routing reads: the CSV table, and DataFox/Clearbit lookups."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent_app import territory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Company:
    """Firmographics used for routing (a DataFox/Clearbit record, or what an email domain tells)."""

    domain: str = ""
    name: str = ""
    employees: int | None = None
    country: str = ""
    region: str = ""
    source: str = ""  # "datafox", "clearbit", "email domain"


Enricher = Callable[[str], Awaitable[Company | None]]  # domain -> company (None: unknown)


@dataclass(frozen=True)
class TerritoryMatch:
    """The territory rule that matched: whose territory it is, its pool, its name and CSV line."""

    owner: str  # the SDR's email (or name) as written in the table; "" = the pool only
    pool: str
    rule: str
    line: int
    catch_all: bool = False  # keys on nothing (country, region and size all "*"): a fallback row


class TerritoryTable(Protocol):
    def match(self, country: str, region: str, employees: int | None) -> TerritoryMatch | None: ...


class StaticTable:
    """A territory table from plain rows (tests, and the fallback when agent_app.territory isn't there)."""

    def __init__(self, rows: Sequence[tuple[Callable[[str, str, int | None], bool], TerritoryMatch]]) -> None:
        self.rows = rows

    def match(self, country: str, region: str, employees: int | None) -> TerritoryMatch | None:
        for test, result in self.rows:
            if test(country, region, employees):
                return result
        return None


class AgentAppTable:
    """Adapter over ``agent_app.territory.TerritoryTable`` (the client's parser of the same CSV)."""

    def __init__(self, table: territory.TerritoryTable) -> None:
        self.table = table

    def match(self, country: str, region: str, employees: int | None) -> TerritoryMatch | None:
        found = self.table.align(country or None, region or None, employees)
        if found is None:
            return None
        rule = next((r for r in self.table.rules if r.line == found.line), None)
        catch_all = rule is not None and (
            rule.countries is None
            and rule.regions is None
            and rule.min_employees is None
            and rule.max_employees is None
        )
        return TerritoryMatch(
            owner=found.sdr_email or "",
            pool=found.pool or "",
            rule=found.rule,
            line=found.line,
            catch_all=catch_all,
        )


def load_table(path: str | Path) -> AgentAppTable:
    """Parses the territory CSV; raises ``agent_app.territory.TerritoryError`` listing bad lines by number."""
    return AgentAppTable(territory.TerritoryTable.load(path))


# ---------------------------------------------------------------- enrichment


def datafox_enricher(base_url: str, api_key: str = "", timeout: float = 3.0) -> Enricher:
    """The DataFox/Clearbit stand-in in sandbox/ (Clearbit's ``/v2/companies/find?domain=``) via httpx.

    Any failure (timeout, 404, 202 queued) is "unknown" -- routing then uses the email domain."""
    import httpx

    async def lookup(domain: str) -> Company | None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers) as client:
                response = await client.get("/v2/companies/find", params={"domain": domain})
        except httpx.HTTPError as exc:
            log.warning("enrichment lookup for %s failed: %s", domain, exc)
            return None
        if response.status_code != 200:
            return None
        data = response.json()
        geo = data.get("geo") or {}
        metrics = data.get("metrics") or {}
        employees = metrics.get("employees", data.get("employees", data.get("number_of_employees")))
        return Company(
            domain=domain,
            name=str(data.get("name") or ""),
            employees=int(employees) if isinstance(employees, int | float) else None,
            country=str(geo.get("countryCode") or data.get("country") or ""),
            region=str(geo.get("stateCode") or data.get("state") or ""),
            source="datafox",
        )

    return lookup
