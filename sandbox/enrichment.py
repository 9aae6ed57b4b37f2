"""Stand-in company enrichment: DataFox API v1.0 shapes and Clearbit v2 shapes, on one server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from sandbox.httpserver import Request, Response, Router, serving

DEFAULT_CLIENT_ID = "demo-datafox"
DEFAULT_CLIENT_SECRET = "demo-datafox-secret"
DEFAULT_CLEARBIT_KEY = "sk_demo_clearbit"


def load_companies() -> list[dict[str, Any]]:
    """The ~30 seeded companies (sandbox/data/companies.json)."""
    return list(json.loads(resources.files("sandbox").joinpath("data/companies.json").read_text()))


class FakeEnrichment:
    """Serves /1.0/* (DataFox) and /v2/companies/find, /v1/domains/find (Clearbit) from the same seed."""

    def __init__(
        self,
        *,
        rate_limit: int = 600,
        window_s: float = 60.0,
        latency_ms: float = 0.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.companies = {c["domain"]: c for c in load_companies()}
        self.by_datafox_id = {c["datafox_id"]: c for c in self.companies.values()}
        self.queued = {d: c["queued_lookups"] for d, c in self.companies.items() if c["queued_lookups"]}
        self.rate_limit = rate_limit
        self.window_s = window_s
        self.latency_ms = latency_ms
        self.clock = clock
        self.clients = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.api_keys = {DEFAULT_CLEARBIT_KEY}
        self.tokens: set[str] = set()
        self.calls: list[str] = []  # paths of every company call, for tests
        # Canned answers for paths starting with a prefix (gateway pages, odd bodies), used once each.
        self.faults: list[tuple[str, Response]] = []
        self._window_start = clock()
        self._window_count = 0
        self.base_url = ""
        self.router = Router()
        r = self.router
        r.add("POST", "/1.0/oauth2/token", self._df_token)
        r.add("GET", "/1.0/companies", self._df_search)
        r.add("GET", r"/1.0/companies/(?P<id>[0-9a-f]{24})", self._df_company)
        r.add("GET", r"/1.0/companies/(?P<id>[0-9a-f]{24})/details", self._df_details)
        r.add("GET", r"/1.0/companies/(?P<id>[0-9a-f]{24})/funding-rounds", self._df_funding)
        r.add("GET", "/v2/companies/find", self._cb_find)
        r.add("GET", "/v1/domains/find", self._cb_name_to_domain)

    def inject(self, path_prefix: str, response: Response, times: int = 1) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with ``response`` (e.g. an HTML 502)."""
        self.faults.extend((path_prefix, response) for _ in range(times))

    async def handle(self, request: Request) -> Response:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = next((f for f in self.faults if request.path.startswith(f[0])), None)
        if fault is not None:
            self.faults.remove(fault)
            return fault[1]
        if not request.path.endswith("/oauth2/token"):
            self.calls.append(request.path)
            limited = self._rate_limited(request.path.startswith("/v"))
            if limited is not None:
                return limited
        return await self.router.dispatch(request)

    def _rate_limited(self, clearbit: bool) -> Response | None:
        now = self.clock()
        if now - self._window_start >= self.window_s:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count <= self.rate_limit:
            return None
        reset = max(1, int(self.window_s - (now - self._window_start)))
        headers = {
            "Retry-After": str(reset),
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + reset),
        }
        if clearbit:
            msg = (
                f"Rate limit exceeded. Limit is {self.rate_limit} requests per minute. "
                f"Rate limit will be reset in {reset} seconds."
            )
            return Response.json({"error": {"type": "rate_limit", "message": msg}}, 429, headers)
        return Response.json(
            {"object_type": "error", "status": 429, "message": "Too many requests"}, 429, headers
        )

    # -- DataFox v1.0 ----------------------------------------------------------------------------------------
    async def _df_token(self, req: Request) -> Response:
        form = req.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return Response.json(
                {
                    "object_type": "error",
                    "error": "unsupported_grant_type",
                    "message": "grant_type must be client_credentials",
                },
                400,
            )
        if client_id is None or self.clients.get(client_id) != secret:
            return Response.json(
                {
                    "object_type": "error",
                    "error": "invalid_client",
                    "message": "Client authentication failed",
                },
                401,
            )
        token = secrets.token_hex(20)
        self.tokens.add(token)
        return Response.json(
            {"access_token": token, "token_type": "bearer", "expires_in": 3600, "scope": "full"}
        )

    def _df_auth(self, req: Request) -> Response | None:
        if req.headers.get("authorization", "").removeprefix("Bearer ") in self.tokens:
            return None
        return Response.json(
            {"object_type": "error", "status": 401, "message": "Invalid or expired access token"}, 401
        )

    @staticmethod
    def _df_basic(c: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": c["datafox_id"],
            "object_type": "company",
            "name": c["name"],
            "slug": c["domain"].split(".")[0],
            "url": c["domain"],
            "location": f"{c['city']}, {c['state']}"
            if c["country"] == "US"
            else f"{c['city']}, {c['country_name']}",
            "icon_url": f"//datafox-data.s3.amazonaws.com/favicons/{c['datafox_id']}.ico",
        }

    async def _df_search(self, req: Request) -> Response:
        if (denied := self._df_auth(req)) is not None:
            return denied
        url = (req.arg("url") or "").lower().removeprefix("www.")
        name = (req.arg("name") or "").lower()
        hits = [
            c for d, c in self.companies.items() if (url and d == url) or (name and name in c["name"].lower())
        ]
        return Response.json({"total_count": len(hits), "entries": [self._df_basic(c) for c in hits]})

    def _df_find(self, req: Request) -> dict[str, Any] | Response:
        if (denied := self._df_auth(req)) is not None:
            return denied
        c = self.by_datafox_id.get(req.params["id"])
        if c is None:
            return Response.json({"object_type": "error", "status": 404, "message": "Company not found"}, 404)
        return c

    async def _df_company(self, req: Request) -> Response:
        c = self._df_find(req)
        return c if isinstance(c, Response) else Response.json(self._df_basic(c))

    async def _df_details(self, req: Request) -> Response:
        c = self._df_find(req)
        if isinstance(c, Response):
            return c
        body = self._df_basic(c) | {
            "status": "Private",
            "ceo_name": None,
            "street1": None,
            "street2": None,
            "city": c["city"],
            "state": c["state"],
            "country": c["country"],
            "zipcode": None,
            "top_keywords": c["tags"],
            "revenue_estimate": c["annual_revenue"],
            "number_of_employees": c["employees"],
            "founded_year": c["founded_year"],
            "short_description": c["description"],
            "description": c["description"],
            "logo_url": f"https://logos.datafox.example/{c['domain']}.png",
            "industries": [c["industry"]],
        }
        return Response.json(body)

    async def _df_funding(self, req: Request) -> Response:
        c = self._df_find(req)
        if isinstance(c, Response):
            return c
        rounds = []
        if c["raised"]:
            half = c["raised"] // 2
            rounds = [
                {"object_type": "funding_round", "round": "Series A", "amount": half, "date": "2019-03-01"},
                {
                    "object_type": "funding_round",
                    "round": "Series B",
                    "amount": c["raised"] - half,
                    "date": "2021-09-15",
                },
            ]
        return Response.json({"total_count": len(rounds), "entries": rounds})

    # -- Clearbit v2 ---------------------------------------------------------------------------------------
    def _cb_auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ")
        if auth.startswith("Basic "):
            key = base64.b64decode(auth[6:]).decode().partition(":")[0]
        if not auth:
            return Response.json(
                {
                    "error": {
                        "type": "auth_required",
                        "message": "Authentication is required for "
                        "this action. Sign up at https://clearbit.com",
                    }
                },
                401,
            )
        if key not in self.api_keys:
            return Response.json(
                {"error": {"type": "invalid_api_key", "message": "Invalid API key provided"}}, 401
            )
        return None

    async def _cb_find(self, req: Request) -> Response:
        if (denied := self._cb_auth(req)) is not None:
            return denied
        domain = (req.arg("domain") or "").lower()
        if not domain or "." not in domain:
            return Response.json({"error": {"type": "domain_invalid", "message": "Invalid domain."}}, 422)
        c = self.companies.get(domain)
        if c is None:
            return Response.json({"error": {"type": "unknown_record", "message": "Unknown domain"}}, 404)
        if self.queued.get(domain, 0) > 0:
            # Not warm yet: like the real API, answer 202 and let the caller come back.
            self.queued[domain] -= 1
            return Response.json({"error": {"type": "queued", "message": "Lookup queued, retry later"}}, 202)
        return Response.json(self._cb_company(c))

    @staticmethod
    def _cb_company(c: dict[str, Any]) -> dict[str, Any]:
        emp = c["employees"]
        band = next(
            b
            for lim, b in (
                (10, "1-10"),
                (50, "11-50"),
                (250, "51-250"),
                (1000, "251-1K"),
                (5000, "1K-5K"),
                (10000, "5K-10K"),
                (50000, "10K-50K"),
                (10**9, "50K+"),
            )
            if emp <= lim
        )
        return {
            "id": c["clearbit_id"],
            "name": c["name"],
            "legalName": c["legal_name"],
            "domain": c["domain"],
            "domainAliases": [],
            "site": {"phoneNumbers": [], "emailAddresses": [f"sales@{c['domain']}"]},
            "category": {
                "sector": c["sector"],
                "industryGroup": None,
                "industry": c["industry"],
                "subIndustry": c["industry"],
                "sicCode": None,
                "naicsCode": None,
            },
            "tags": c["tags"],
            "description": c["description"],
            "foundedYear": c["founded_year"],
            "location": f"{c['city']}, {c['state']}, {c['country_name']}",
            "timeZone": None,
            "utcOffset": None,
            "geo": {
                "streetNumber": None,
                "streetName": None,
                "subPremise": None,
                "city": c["city"],
                "postalCode": None,
                "state": c["state"],
                "stateCode": c["state"],
                "country": c["country_name"],
                "countryCode": c["country"],
                "lat": None,
                "lng": None,
            },
            "logo": f"https://logo.clearbit.com/{c['domain']}",
            "facebook": {"handle": None},
            "linkedin": {"handle": f"company/{c['domain'].split('.')[0]}"},
            "twitter": {"handle": None},
            "crunchbase": {"handle": None},
            "emailProvider": False,
            "type": "private",
            "ticker": None,
            "identifiers": {"usEIN": None},
            "phone": None,
            "metrics": {
                "alexaUsRank": None,
                "alexaGlobalRank": None,
                "employees": emp,
                "employeesRange": band,
                "marketCap": None,
                "raised": c["raised"],
                "annualRevenue": c["annual_revenue"],
                "estimatedAnnualRevenue": c["revenue_range"],
                "fiscalYearEnd": None,
            },
            "indexedAt": "2025-04-01T06:47:29.859Z",
            "tech": ["salesforce"],
            "parent": {"domain": None},
        }

    async def _cb_name_to_domain(self, req: Request) -> Response:
        if (denied := self._cb_auth(req)) is not None:
            return denied
        name = (req.arg("name") or "").lower()
        c = next((c for c in self.companies.values() if c["name"].lower() == name), None)
        if c is None:
            return Response.json({"error": {"type": "unknown_record", "message": "Unknown name"}}, 404)
        return Response.json(
            {"name": c["name"], "domain": c["domain"], "logo": f"https://logo.clearbit.com/{c['domain']}"}
        )


@contextlib.asynccontextmanager
async def start_enrichment(port: int = 0, **options: Any) -> AsyncIterator[FakeEnrichment]:
    """Run the fake DataFox/Clearbit on 127.0.0.1:port for the block; `.base_url` is its URL."""
    async with serving(FakeEnrichment(**options), port) as fake:
        yield fake
