"""Thin async Salesforce REST client: refresh on 401, bounded jittered retries, API usage, query/CRUD."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent_app.integrations.errors import (
    RequestLimitExceeded,
    SalesforceError,
    ServiceUnavailable,
    SessionExpired,
    TransportError,
    error_from_response,
)
from agent_app.integrations.sf_auth import SalesforceAuth, Session

DEFAULT_API_VERSION = "62.0"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_USAGE = re.compile(r"(?:^|[^-])api-usage=(\d+)/(\d+)")
# Codes worth retrying: the concurrency flavour of REQUEST_LIMIT_EXCEEDED and row locks clear up quickly
# (the daily flavour is excluded in request()).
_RETRY_CODES = {"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}


@dataclass(frozen=True)
class ApiUsage:
    """The org's 24-hour API usage from the Sforce-Limit-Info header."""

    used: int
    limit: int

    @property
    def fraction(self) -> float:
        """Share of the daily limit already used (0..1+)."""
        return self.used / self.limit if self.limit else 0.0

    @property
    def high(self) -> bool:
        """True from 80% on: time to warn the user and slow down optional lookups."""
        return self.fraction >= 0.8


@dataclass
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff; `sleep` and `rand` are injectable for tests."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based); a server's Retry-After wins, capped."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return self.rand() * min(self.max_delay, self.base_delay * 2.0**attempt)


class SalesforceClient:
    """REST calls against the signed-in org. One shared httpx.AsyncClient is injected, never created here."""

    def __init__(
        self,
        auth: SalesforceAuth,
        http: httpx.AsyncClient,
        *,
        api_version: str = DEFAULT_API_VERSION,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        client_name: str = "SDRAgentDesk",
    ) -> None:
        self.auth = auth
        self.api_version = api_version.removeprefix("v")
        self.retry = retry or RetryPolicy()
        self._http = http
        self._timeout = timeout
        self._client_name = client_name
        self.api_usage: ApiUsage | None = None

    @property
    def data_path(self) -> str:
        """E.g. /services/data/v62.0."""
        return f"/services/data/v{self.api_version}"

    async def session(self) -> Session:
        """The current session (may refresh)."""
        return await self.auth.session()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call; `path` is absolute (/services/...) or relative to the data API root."""
        if not path.startswith("/"):
            path = f"{self.data_path}/{path}"
        refreshed = False
        attempt = 0
        while True:
            session = await self.auth.session()
            all_headers = {
                "Authorization": f"Bearer {session.access_token}",
                "Accept": "application/json",
                "Sforce-Call-Options": f"client={self._client_name}",
                **(headers or {}),
            }
            url = session.instance_url.rstrip("/") + path
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, headers=all_headers, timeout=self._timeout
                )
            except httpx.ConnectError as exc:
                # Nothing was sent, so even a POST is safe to repeat.
                if attempt < self.retry.max_retries:
                    await self.retry.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise TransportError(f"Could not reach Salesforce at {session.instance_url}: {exc}") from exc
            except httpx.TimeoutException as exc:
                raise TransportError(f"Salesforce did not answer in time ({method} {path})") from exc
            except httpx.TransportError as exc:
                raise TransportError(f"Network error talking to Salesforce: {exc}") from exc
            self._note_usage(response)
            if response.status_code < 300:
                return response
            error = error_from_response(response.status_code, _json_or_text(response), path)
            if isinstance(error, SessionExpired) and not refreshed:
                refreshed = True
                await self.auth.refresh(session)
                continue
            retryable = response.status_code in (502, 503) or error.error_code in _RETRY_CODES
            if isinstance(error, RequestLimitExceeded) and error.daily:
                retryable = False
            if retryable and attempt < self.retry.max_retries:
                await self.retry.sleep(self.retry.delay(attempt, _retry_after(response)))
                attempt += 1
                continue
            if retryable and attempt and isinstance(error, RequestLimitExceeded | ServiceUnavailable):
                error.args = (f"{error} (gave up after {attempt + 1} attempts)",)
            raise error

    def _note_usage(self, response: httpx.Response) -> None:
        m = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.api_usage = ApiUsage(int(m.group(1)), int(m.group(2)))

    # -- resources -------------------------------------------------------------------------------------------
    async def query_pages(self, soql: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each batch of records, following nextRecordsUrl until done."""
        body = (await self.request("GET", "query", params={"q": soql})).json()
        yield list(body.get("records", []))
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = (await self.request("GET", str(body["nextRecordsUrl"]))).json()
            yield list(body.get("records", []))

    async def query(self, soql: str, *, max_records: int | None = None) -> list[dict[str, Any]]:
        """All records of a SOQL query (stops early at max_records)."""
        out: list[dict[str, Any]] = []
        async for page in self.query_pages(soql):
            out.extend(page)
            if max_records is not None and len(out) >= max_records:
                return out[:max_records]
        return out

    async def search(self, sosl: str) -> list[dict[str, Any]]:
        """SOSL search; handles both the {"searchRecords": [...]} and the old bare-array shapes."""
        body = (await self.request("GET", "search", params={"q": sosl})).json()
        if isinstance(body, dict):
            return list(body.get("searchRecords", []))
        return list(body or [])

    async def create(
        self, sobject: str, fields: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> str:
        """Insert a record and return its id."""
        body = (await self.request("POST", f"sobjects/{sobject}", json=fields, headers=headers)).json()
        if not body.get("success", True):
            raise SalesforceError(400, list(body.get("errors") or []))
        return str(body["id"])

    async def get(self, sobject: str, record_id: str, fields: list[str] | None = None) -> dict[str, Any]:
        """Retrieve a record (optionally only some fields)."""
        params = {"fields": ",".join(fields)} if fields else None
        return dict((await self.request("GET", f"sobjects/{sobject}/{record_id}", params=params)).json())

    async def update(
        self, sobject: str, record_id: str, fields: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> None:
        """PATCH some fields (204 on success)."""
        await self.request("PATCH", f"sobjects/{sobject}/{record_id}", json=fields, headers=headers)

    async def composite(
        self, subrequests: list[dict[str, Any]], *, all_or_none: bool = True
    ) -> list[dict[str, Any]]:
        """POST /composite; returns the compositeResponse list (each with httpStatusCode and body)."""
        body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
        return list((await self.request("POST", "composite", json=body)).json().get("compositeResponse", []))

    async def userinfo(self) -> dict[str, Any]:
        """OpenID userinfo of the signed-in user (name, email, user_id)."""
        return dict((await self.request("GET", "/services/oauth2/userinfo")).json())


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
