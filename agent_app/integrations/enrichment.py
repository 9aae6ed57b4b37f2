"""Company enrichment: one provider interface, a DataFox v1.0 provider and a Clearbit-compatible provider."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from agent_app.integrations.crm import FREE_MAIL

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class LookupStatus(enum.Enum):
    """Outcome of one lookup; only FOUND and NOT_FOUND are cacheable."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    PENDING = "pending"  # Clearbit 202: queued, try again later
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    ERROR = "error"


@dataclass(frozen=True)
class CompanyProfile:
    """Normalised company data, whichever provider it came from."""

    provider: str
    provider_id: str | None
    name: str | None
    domain: str | None
    industry: str | None = None
    employees: int | None = None
    employees_range: str | None = None
    revenue_range: str | None = None
    annual_revenue_usd: int | None = None
    hq_city: str | None = None
    hq_region: str | None = None  # state/province code when known
    hq_country: str | None = None  # ISO 3166 alpha-2 when known
    location_text: str | None = None
    funding_total_usd: int | None = None
    founded_year: int | None = None
    description: str | None = None
    logo_url: str | None = None
    keywords: tuple[str, ...] = ()
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class LookupResult:
    """What a provider answered."""

    status: LookupStatus
    profile: CompanyProfile | None = None
    retry_after_s: float | None = None
    http_status: int | None = None
    message: str | None = None
    paused_until: float | None = None  # epoch seconds: the provider is left alone until then (after a 429)

    @property
    def cacheable(self) -> bool:
        """Found and "no such company" are facts worth keeping; errors and queued lookups are not."""
        return self.status in (LookupStatus.FOUND, LookupStatus.NOT_FOUND)


class CompanyEnrichmentProvider(Protocol):
    """Interface every enrichment vendor implements."""

    name: str

    async def find_by_domain(self, domain: str) -> LookupResult: ...


def normalize_domain(text: str) -> str | None:
    """Domain of an email, URL or host: lower-case, no scheme/www/path/port, IDNA; None for free mail."""
    text = text.strip().lower()
    if "@" in text and "://" not in text:
        text = text.rpartition("@")[2]
    host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.").rstrip(".")
    if "." not in host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return None if host in FREE_MAIL else host


def _err(exc: Exception) -> LookupResult:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return LookupResult(LookupStatus.ERROR, message=f"enrichment request {kind}: {exc}")


class _Unusable(Exception):
    """A provider answer we cannot use (gateway page, wrong JSON shape); carries the result to return."""

    def __init__(self, result: LookupResult) -> None:
        super().__init__(result.message)
        self.result = result


def _json(r: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (an HTML gateway page, an empty body)."""
    try:
        return r.json()
    except ValueError:
        return None


def _object(r: httpx.Response, provider: str) -> dict[str, Any]:
    """A successful answer's JSON object; anything else (an array, HTML) is an error, not a crash."""
    body = _json(r)
    if not isinstance(body, dict):
        kind = type(body).__name__ if body is not None else r.headers.get("Content-Type", "no JSON")
        raise _Unusable(
            LookupResult(
                LookupStatus.ERROR,
                http_status=r.status_code,
                message=f"{provider} answered HTTP {r.status_code} with an unexpected body ({kind})",
            )
        )
    return body


def _error_message(r: httpx.Response) -> str | None:
    """The provider's own message when the error body is a JSON object that has one."""
    body = _json(r)
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    if isinstance(error, list):
        error = error[0] if error else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else None


def _failure(r: httpx.Response, message: str | None) -> LookupResult:
    """A non-200 answer, the same way for every provider: 404 is a (cacheable) "no data", 429 says when to
    come back, 401/403 is a setup problem, anything else an error."""
    if r.status_code == 404:
        return LookupResult(LookupStatus.NOT_FOUND, http_status=404, message=message)
    if r.status_code == 429:
        return LookupResult(
            LookupStatus.RATE_LIMITED, http_status=429, retry_after_s=_retry_after(r), message=message
        )
    if r.status_code in (401, 403):
        return LookupResult(LookupStatus.UNAUTHORIZED, http_status=r.status_code, message=message)
    detail = f": {message}" if message else ""
    return LookupResult(
        LookupStatus.ERROR, http_status=r.status_code, message=f"HTTP {r.status_code}{detail}"
    )


def _retry_after(response: httpx.Response) -> float | None:
    if "Retry-After" in response.headers:
        try:
            return float(response.headers["Retry-After"])
        except ValueError:
            return None
    if "X-RateLimit-Reset" in response.headers:  # Clearbit: epoch seconds
        try:
            return max(0.0, float(response.headers["X-RateLimit-Reset"]) - time.time())
        except ValueError:
            return None
    return None


class ClearbitProvider:
    """Clearbit Company API v2 shape: GET /v2/companies/find?domain=..., 202 while a lookup is queued."""

    name = "clearbit"

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = "https://company.clearbit.com",
        max_polls: int = 3,
        poll_interval_s: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http, self._key, self._base = http, api_key, base_url.rstrip("/")
        self._max_polls, self._interval, self._sleep, self._timeout = (
            max_polls,
            poll_interval_s,
            sleep,
            timeout,
        )

    async def find_by_domain(self, domain: str) -> LookupResult:
        url = f"{self._base}/v2/companies/find"
        for attempt in range(self._max_polls + 1):
            try:
                r = await self._http.get(
                    url,
                    params={"domain": domain},
                    timeout=self._timeout,
                    headers={"Authorization": f"Bearer {self._key}"},
                )
            except httpx.HTTPError as exc:
                return _err(exc)
            if r.status_code == 202:
                # Queued: the real API finishes within seconds; poll a bounded number of times.
                if attempt < self._max_polls:
                    await self._sleep(self._interval)
                    continue
                return LookupResult(
                    LookupStatus.PENDING,
                    http_status=202,
                    retry_after_s=self._interval,
                    message="lookup queued at the provider; try again shortly",
                )
            return self._result(r)
        raise AssertionError("unreachable")

    def _result(self, r: httpx.Response) -> LookupResult:
        if r.status_code == 200:
            try:
                return LookupResult(
                    LookupStatus.FOUND, self._profile(_object(r, "Clearbit")), http_status=200
                )
            except _Unusable as exc:
                return exc.result
        return _failure(r, _error_message(r) or _text(r))

    @staticmethod
    def _profile(c: dict[str, Any]) -> CompanyProfile:
        metrics, geo, category = c.get("metrics") or {}, c.get("geo") or {}, c.get("category") or {}
        return CompanyProfile(
            provider="clearbit",
            provider_id=c.get("id"),
            name=c.get("name"),
            domain=c.get("domain"),
            industry=category.get("industry"),
            employees=metrics.get("employees"),
            employees_range=metrics.get("employeesRange"),
            revenue_range=metrics.get("estimatedAnnualRevenue"),
            annual_revenue_usd=metrics.get("annualRevenue"),
            hq_city=geo.get("city"),
            hq_region=geo.get("stateCode"),
            hq_country=geo.get("countryCode"),
            location_text=c.get("location"),
            funding_total_usd=metrics.get("raised"),
            founded_year=c.get("foundedYear"),
            description=c.get("description"),
            logo_url=c.get("logo"),
            keywords=tuple(c.get("tags") or ()),
        )


class DataFoxProvider:
    """DataFox API v1.0 as reconstructed from surviving clients (legacy; the real service is gone).

    Token: POST /1.0/oauth2/token (client_credentials); lookup: GET /1.0/companies?url=<host>, then
    /1.0/companies/{id}/details and /funding-rounds.
    """

    name = "datafox"

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = "https://api.datafox.co",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http, self._id, self._secret = http, client_id, client_secret
        self._base, self._timeout, self._clock = base_url.rstrip("/"), timeout, clock
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _access_token(self, force: bool = False) -> str:
        async with self._lock:
            if self._token and not force and self._clock() < self._token[1]:
                return self._token[0]
            r = await self._http.post(
                f"{self._base}/1.0/oauth2/token",
                auth=(self._id, self._secret),
                data={"grant_type": "client_credentials", "scope": "full"},
                timeout=self._timeout,
            )
            if r.status_code in (400, 401, 403):
                raise PermissionError(_error_message(r) or "DataFox sign-in failed")
            if r.status_code != 200:
                raise _Unusable(_failure(r, _error_message(r) or _text(r)))
            body = _object(r, "DataFox")
            if "access_token" not in body:
                raise _Unusable(
                    LookupResult(LookupStatus.ERROR, http_status=200, message="DataFox sent no access token")
                )
            # Renew a minute early so a token never expires mid-request.
            self._token = (
                str(body["access_token"]),
                self._clock() + float(body.get("expires_in", 3600)) - 60,
            )
            return self._token[0]

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        token = await self._access_token()
        r = await self._http.get(
            f"{self._base}{path}",
            params=params,
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code == 401:
            token = await self._access_token(force=True)
            r = await self._http.get(
                f"{self._base}{path}",
                params=params,
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {token}"},
            )
        return r

    async def find_by_domain(self, domain: str) -> LookupResult:
        try:
            r = await self._get("/1.0/companies", {"url": domain})
            if (bad := self._bad(r)) is not None:
                return bad
            entries = _object(r, "DataFox").get("entries") or []
            if not entries:
                return LookupResult(
                    LookupStatus.NOT_FOUND, http_status=r.status_code, message="Unknown domain"
                )
            first = entries[0] if isinstance(entries, list) else None
            if not isinstance(first, dict) or "id" not in first:
                raise _Unusable(
                    LookupResult(
                        LookupStatus.ERROR, http_status=200, message="DataFox sent an unexpected list"
                    )
                )
            company_id = str(first["id"])
            details, funding = await asyncio.gather(
                self._get(f"/1.0/companies/{company_id}/details"),
                self._get(f"/1.0/companies/{company_id}/funding-rounds"),
            )
            if (bad := self._bad(details)) is not None:
                return bad
            d = _object(details, "DataFox")
            rounds = _object(funding, "DataFox").get("entries") or [] if funding.status_code == 200 else []
            if not isinstance(rounds, list):
                rounds = []
            total = sum(int(x.get("amount") or 0) for x in rounds if isinstance(x, dict)) or None
        except PermissionError as exc:
            return LookupResult(LookupStatus.UNAUTHORIZED, http_status=401, message=str(exc))
        except _Unusable as exc:
            return exc.result
        except httpx.HTTPError as exc:
            return _err(exc)
        return LookupResult(
            LookupStatus.FOUND,
            CompanyProfile(
                provider="datafox",
                provider_id=d.get("id"),
                name=d.get("name"),
                domain=d.get("url"),
                industry=(d.get("industries") or [None])[0],
                employees=d.get("number_of_employees"),
                annual_revenue_usd=d.get("revenue_estimate"),
                hq_city=d.get("city"),
                hq_region=d.get("state"),
                hq_country=d.get("country"),
                location_text=d.get("location"),
                funding_total_usd=total,
                founded_year=d.get("founded_year"),
                description=d.get("short_description") or d.get("description"),
                logo_url=d.get("logo_url") or d.get("icon_url"),
                keywords=tuple(d.get("top_keywords") or ()),
            ),
            http_status=200,
        )

    @staticmethod
    def _bad(r: httpx.Response) -> LookupResult | None:
        if r.status_code == 200:
            return None
        return _failure(r, _error_message(r) or _text(r))


def _text(r: httpx.Response) -> str | None:
    """A short plain-text body as the message; an HTML page says nothing useful to an SDR."""
    if "html" in r.headers.get("Content-Type", "").lower():
        return None
    return r.text.strip()[:200] or None
