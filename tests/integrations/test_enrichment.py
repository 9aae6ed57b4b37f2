"""Enrichment providers against the sandbox (incl. 202 queued and 429), the lookup cache, the panel lookup."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from agent_app.integrations import (
    ClearbitProvider,
    CrmService,
    DataFoxProvider,
    EnrichmentService,
    LookupCache,
    LookupResult,
    LookupStatus,
    VisitorLookup,
    normalize_domain,
)
from agent_app.integrations.lookup import paused_text
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FakeEnrichment
from sandbox.httpserver import Response

from .conftest import Sleeps


def clearbit(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps, **kw: object
) -> ClearbitProvider:
    return ClearbitProvider(http, DEFAULT_CLEARBIT_KEY, base_url=enrich.base_url, sleep=sleeps, **kw)  # type: ignore[arg-type]


async def test_clearbit_found(http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps) -> None:
    result = await clearbit(http, enrich, sleeps).find_by_domain("acme-robotics.com")
    p = result.profile
    assert result.status is LookupStatus.FOUND and p is not None
    assert (p.name, p.industry, p.employees, p.revenue_range, p.hq_country, p.hq_region) == (
        "Acme Robotics",
        "Industrial Automation",
        420,
        "$50M-$100M",
        "US",
        "CA",
    )
    assert p.funding_total_usd == 38000000 and p.logo_url == "https://logo.clearbit.com/acme-robotics.com"


async def test_clearbit_202_polls_then_found(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps
) -> None:
    result = await clearbit(http, enrich, sleeps, poll_interval_s=1.5).find_by_domain("fresh-startup.io")
    assert result.status is LookupStatus.FOUND and sleeps.delays == [1.5, 1.5]


async def test_clearbit_202_gives_up_as_pending(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps
) -> None:
    result = await clearbit(http, enrich, sleeps, max_polls=1).find_by_domain("newco-labs.com")
    assert result.status is LookupStatus.PENDING and not result.cacheable


async def test_clearbit_404_429_401(http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps) -> None:
    provider = clearbit(http, enrich, sleeps)
    missing = await provider.find_by_domain("no-such-company.example")
    assert (
        missing.status is LookupStatus.NOT_FOUND and missing.message == "Unknown domain" and missing.cacheable
    )
    enrich.rate_limit = 0
    limited = await provider.find_by_domain("globex.io")
    assert limited.status is LookupStatus.RATE_LIMITED and limited.retry_after_s and limited.retry_after_s > 0
    assert "Rate limit exceeded" in (limited.message or "")
    enrich.rate_limit = 600
    bad = await ClearbitProvider(http, "sk_wrong", base_url=enrich.base_url).find_by_domain("globex.io")
    assert bad.status is LookupStatus.UNAUTHORIZED and bad.message == "Invalid API key provided"


async def test_datafox_found_with_funding(http: httpx.AsyncClient, enrich: FakeEnrichment) -> None:
    provider = DataFoxProvider(http, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, base_url=enrich.base_url)
    result = await provider.find_by_domain("monarch-solutions.de")
    p = result.profile
    assert result.status is LookupStatus.FOUND and p is not None
    assert (p.name, p.employees, p.hq_country, p.funding_total_usd) == (
        "Monarch Solutions",
        310,
        "DE",
        12000000,
    )
    assert (await provider.find_by_domain("unknown.example")).status is LookupStatus.NOT_FOUND
    enrich.tokens.clear()  # token expired on the server: re-authenticates once
    assert (await provider.find_by_domain("globex.io")).status is LookupStatus.FOUND


async def test_datafox_bad_credentials(http: httpx.AsyncClient, enrich: FakeEnrichment) -> None:
    provider = DataFoxProvider(http, DEFAULT_CLIENT_ID, "wrong", base_url=enrich.base_url)
    assert (await provider.find_by_domain("globex.io")).status is LookupStatus.UNAUTHORIZED


def test_normalize_domain() -> None:
    assert normalize_domain("Jane@Acme-Robotics.com") == "acme-robotics.com"
    assert normalize_domain("https://www.globex.io:443/about") == "globex.io"
    assert normalize_domain("someone@gmail.com") is None
    assert normalize_domain("bücher.de") == "xn--bcher-kva.de"
    assert normalize_domain("localhost") is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_ttl_404_cached_errors_not(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps
) -> None:
    clock = Clock()
    service = EnrichmentService(
        clearbit(http, enrich, sleeps), LookupCache(ttl_s=100, negative_ttl_s=10, clock=clock), clock=clock
    )
    await service.lookup("a@globex.io")
    await service.lookup("b@globex.io")
    assert enrich.calls.count("/v2/companies/find") == 1
    clock.now += 101
    await service.lookup("globex.io")
    assert enrich.calls.count("/v2/companies/find") == 2
    # 404 is cached, for the shorter negative TTL
    await service.lookup("x@nowhere.example")
    await service.lookup("x@nowhere.example")
    assert enrich.calls.count("/v2/companies/find") == 3
    clock.now += 11
    await service.lookup("x@nowhere.example")
    assert enrich.calls.count("/v2/companies/find") == 4
    # rate-limit errors are not cached (once the pause they start is over, the provider is asked again)
    enrich.rate_limit = 0
    limited = await service.lookup("initech.com")
    assert limited.status is LookupStatus.RATE_LIMITED and limited.retry_after_s
    enrich.rate_limit = 10**6
    clock.now += limited.retry_after_s + 1
    assert (await service.lookup("initech.com")).status is LookupStatus.FOUND


async def test_cache_single_flight_and_cancellation() -> None:
    cache: LookupCache[str] = LookupCache()
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return "value"

    a = asyncio.create_task(cache.get("k", slow))
    b = asyncio.create_task(cache.get("k", slow))
    await started.wait()
    a.cancel()  # one waiter leaves: the shared fetch goes on for the other
    release.set()
    assert await b == "value" and calls == 1 and cache.peek("k") == "value"
    with pytest.raises(asyncio.CancelledError):
        await a
    # every waiter cancelled: fetch cancelled, nothing cached
    release.clear()
    c = asyncio.create_task(cache.get("k2", slow))
    await asyncio.sleep(0.01)
    c.cancel()
    with pytest.raises(asyncio.CancelledError):
        await c
    await asyncio.sleep(0)
    assert cache.peek("k2") is None and len(cache) == 1


async def test_cache_exception_not_cached() -> None:
    cache: LookupCache[str] = LookupCache()

    async def boom() -> str:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get("k", boom)
    assert cache.peek("k") is None


async def test_visitor_lookup_end_to_end(
    crm: CrmService, http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps
) -> None:
    lookup = VisitorLookup(crm, EnrichmentService(clearbit(http, enrich, sleeps)))
    insight = await lookup.run("peter.gibbons@initech.com", "Initech")
    assert not insight.errors and insight.domain == "initech.com"
    assert insight.people and insight.people[0].owner_name == "Sam Chen"
    assert insight.duplicates and insight.duplicates.owned_by_others
    assert insight.company and isinstance(insight.company, LookupResult) and insight.company.profile


BAD_BODIES = [
    Response.html("<html><body><h1>502 Bad Gateway</h1></body></html>", 502),
    Response.json([{"message": "upstream failed"}], 500),
    Response(503, b"", {}),
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=["html-502", "json-array-500", "empty-503"])
@pytest.mark.parametrize("where", ["/1.0/companies", "/1.0/oauth2/token"])
async def test_datafox_non_json_error_bodies_are_typed_errors(
    http: httpx.AsyncClient, enrich: FakeEnrichment, body: Response, where: str
) -> None:
    provider = DataFoxProvider(http, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, base_url=enrich.base_url)
    enrich.inject(where, body)
    result = await provider.find_by_domain("globex.io")
    assert result.status in (LookupStatus.ERROR, LookupStatus.UNAUTHORIZED) and not result.cacheable
    assert result.http_status == body.status and str(body.status) in (result.message or "")
    assert (await provider.find_by_domain("globex.io")).status is LookupStatus.FOUND


@pytest.mark.parametrize("where", ["/1.0/companies", "/1.0/companies/"])
async def test_datafox_200_with_a_non_object_body_is_an_error(
    http: httpx.AsyncClient, enrich: FakeEnrichment, where: str
) -> None:
    provider = DataFoxProvider(http, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, base_url=enrich.base_url)
    await provider.find_by_domain("globex.io")  # signed in, so the fault hits the lookup itself
    enrich.inject(where, Response.json(["not", "an", "object"]), times=3)
    result = await provider.find_by_domain("globex.io")
    assert result.status is LookupStatus.ERROR and "unexpected" in (result.message or "")


@pytest.mark.parametrize("body", [*BAD_BODIES, Response.json(["x"], 200)])
async def test_clearbit_non_object_bodies_are_typed_errors(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps, body: Response
) -> None:
    enrich.inject("/v2/companies/find", body)
    result = await clearbit(http, enrich, sleeps).find_by_domain("globex.io")
    assert result.status is LookupStatus.ERROR and result.http_status == body.status


async def test_bad_enrichment_body_does_not_fail_the_panel_lookup(
    crm: CrmService, http: httpx.AsyncClient, enrich: FakeEnrichment
) -> None:
    provider = DataFoxProvider(http, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, base_url=enrich.base_url)
    enrich.inject("/1.0/", Response.json([{"message": "upstream failed"}], 500), times=5)
    insight = await VisitorLookup(crm, EnrichmentService(provider)).run("jane.doe@acme-robotics.com")
    assert insight.people and insight.company is not None
    assert insight.company.status is LookupStatus.ERROR and not insight.errors


class WallClock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_429_pauses_the_provider_until_retry_after(
    http: httpx.AsyncClient, enrich: FakeEnrichment, sleeps: Sleeps
) -> None:
    clock = WallClock()
    service = EnrichmentService(clearbit(http, enrich, sleeps), clock=clock)
    enrich.inject(
        "/v2/companies/find",
        Response.json({"error": {"type": "rate_limit", "message": "slow down"}}, 429, {"Retry-After": "90"}),
    )
    first = await service.lookup("globex.io")
    assert first.status is LookupStatus.RATE_LIMITED and first.paused_until == clock.now + 90
    calls = len(enrich.calls)
    clock.now += 60
    paused = await service.lookup("initech.com")  # another domain, same provider: still paused
    assert paused.status is LookupStatus.RATE_LIMITED and len(enrich.calls) == calls
    assert paused.paused_until == first.paused_until and paused.retry_after_s == 30
    clock.now += 31
    assert (await service.lookup("initech.com")).status is LookupStatus.FOUND
    assert len(enrich.calls) == calls + 1


def test_paused_text_in_the_readers_zone() -> None:
    from datetime import timedelta, timezone

    result = LookupResult(LookupStatus.RATE_LIMITED, paused_until=1_790_000_000.0)  # 2026-09-21 14:13 UTC
    assert paused_text(result, timezone(timedelta(hours=-5))) == (
        "Company research paused until 09:13 UTC-05:00 (rate limit)"
    )
