"""Time from "visitor gave an email" to CRM, duplicate and enrichment results (sandbox).

Usage: .venv/bin/python bench/panel_lookup.py [--visitors 200] [--concurrency 8] [--latency-ms 0]
The sandboxes run as subprocesses (`python -m sandbox ...`), so their CPU does not share our event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import keyring
from keyring.backend import KeyringBackend

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_app.integrations import (  # noqa: E402
    ActivityLog,
    ClearbitProvider,
    CrmService,
    EnrichmentService,
    OAuthConfig,
    SalesforceAuth,
    SalesforceClient,
    VisitorLookup,
)
from agent_app.secrets import SecretStore, qualname  # noqa: E402
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY, load_companies  # noqa: E402


class _MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def _start(service: str, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", service, "--port", "0", "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _visitors(n: int, seed: int = 7) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    companies = load_companies()
    out = []
    for i in range(n):
        c = rng.choice(companies)
        kind = rng.random()
        if kind < 0.15:
            out.append((f"visitor{i}@gmail.com", None))
        else:
            out.append((f"visitor{i}@{c['domain']}", c["name"] if kind < 0.7 else None))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _run(args: argparse.Namespace) -> None:
    keyring.set_keyring(_MemoryKeyring())
    sf_proc, sf_url = _start("salesforce", args.latency_ms)
    en_proc, en_url = _start("datafox", args.latency_ms)
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=5.0), limits=httpx.Limits(max_connections=50)
        ) as http:
            secrets = SecretStore(secure_backends={qualname(keyring.get_keyring())})
            auth = SalesforceAuth(OAuthConfig(sf_url, "Bench"), http, secrets)

            async def browser(url: str) -> None:
                await http.get(url, follow_redirects=True)

            await auth.sign_in(browser, login_hint="alex@demo.sdr")
            client = SalesforceClient(auth, http)
            with tempfile.TemporaryDirectory() as tmp:
                crm = CrmService(client, activity_log=ActivityLog(Path(tmp) / "a.sqlite3"))
                for label, conc in (("sequential", 1), (f"concurrency {args.concurrency}", args.concurrency)):
                    # Fresh enrichment cache per run so both runs see the same mix of hits and misses.
                    enrichment = EnrichmentService(
                        ClearbitProvider(http, DEFAULT_CLEARBIT_KEY, base_url=en_url, poll_interval_s=0.05)
                    )
                    lookup = VisitorLookup(crm, enrichment)
                    timings: list[float] = []
                    sem = asyncio.Semaphore(conc)

                    async def one(
                        email: str,
                        company: str | None,
                        lookup: VisitorLookup = lookup,
                        sem: asyncio.Semaphore = sem,
                        timings: list[float] = timings,
                    ) -> None:
                        async with sem:
                            t0 = time.perf_counter()
                            insight = await lookup.run(email, company)
                            timings.append((time.perf_counter() - t0) * 1000)
                            assert not insight.errors, insight.errors

                    t0 = time.perf_counter()
                    await asyncio.gather(*(one(e, c) for e, c in _visitors(args.visitors)))
                    wall = time.perf_counter() - t0
                    print(
                        f"{label:>16}: n={len(timings)} p50={statistics.median(timings):6.1f} ms "
                        f"p90={_pct(timings, 0.9):6.1f} ms p99={_pct(timings, 0.99):6.1f} ms "
                        f"max={max(timings):6.1f} ms  wall={wall:5.2f} s  api-usage={client.api_usage}"
                    )
    finally:
        for proc in (sf_proc, en_proc):
            proc.terminate()
            proc.wait(5)


def main() -> None:
    """Parse arguments and run both passes."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added by each sandbox per response")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
