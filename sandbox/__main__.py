"""Command line: `python -m sandbox salesforce|datafox|visitors|workspace ...` runs one sandbox piece."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from sandbox.enrichment import (
    DEFAULT_CLEARBIT_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    start_enrichment,
)
from sandbox.salesforce import start_salesforce


async def _run(service: str, port: int, page_size: int, latency_ms: float) -> None:
    if service == "salesforce":
        async with start_salesforce(port=port, page_size=page_size, latency_ms=latency_ms) as sf:
            print(sf.base_url, flush=True)
            print(
                "# demo users: alex@demo.sdr sam@demo.sdr jordan@demo.sdr maria@demo.sdr casey@demo.sdr "
                "(pass login_hint to /services/oauth2/authorize)",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.Event().wait()
    else:
        async with start_enrichment(port=port, latency_ms=latency_ms) as fake:
            print(fake.base_url, flush=True)
            print(
                f"# DataFox client {DEFAULT_CLIENT_ID}/{DEFAULT_CLIENT_SECRET}; "
                f"Clearbit key {DEFAULT_CLEARBIT_KEY}",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("visitors", "workspace"):
        # Their own parsers: the simulator and the whole demo workspace have many more options.
        from sandbox import visitor_sim, workspace

        runner = visitor_sim.main if argv[0] == "visitors" else workspace.main
        raise SystemExit(runner(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("service", choices=["salesforce", "datafox", "clearbit", "enrichment"])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--page-size", type=int, default=2000, help="SOQL batch size (salesforce)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _run(
                "salesforce" if args.service == "salesforce" else "enrichment",
                args.port,
                args.page_size,
                args.latency_ms,
            )
        )


if __name__ == "__main__":
    main()
