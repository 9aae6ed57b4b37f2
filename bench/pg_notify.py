"""PostgreSQL LISTEN/NOTIFY as the cluster's doorbell: latency (commit -> listener wakes) and throughput.

    .venv/bin/python bench/pg_notify.py [--database-url URL] [--count 5000]

Without --database-url a throwaway server is started (tests/cluster/pgserver.py, fsync off)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from psycopg import AsyncConnection

ROOT = Path(__file__).resolve().parents[1]


async def measure(dsn: str, count: int) -> None:
    listener = await AsyncConnection.connect(dsn, autocommit=True)
    sender = await AsyncConnection.connect(dsn, autocommit=True)
    await listener.execute("LISTEN bench")
    latencies: list[float] = []
    done = asyncio.Event()

    async def listen() -> None:
        async for note in listener.notifies():
            latencies.append(time.perf_counter() - float(note.payload))
            if len(latencies) == count:
                done.set()
                return

    task = asyncio.create_task(listen())
    for _ in range(count):  # one at a time: each NOTIFY is its own transaction, like a group commit
        await sender.execute("SELECT pg_notify('bench', %s)", (repr(time.perf_counter()),))
        await asyncio.sleep(0.001)
    await asyncio.wait_for(done.wait(), 30)
    lat = sorted(latencies)
    p50, p99 = lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3
    print(f"latency commit -> listener, {count} notifications at ~1/ms: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    latencies.clear()
    done.clear()
    task = asyncio.create_task(listen())
    start = time.perf_counter()
    for _ in range(count):
        await sender.execute("SELECT pg_notify('bench', %s)", (repr(time.perf_counter()),))
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.perf_counter() - start
    print(f"throughput, back to back: {count / elapsed:.0f} notifications/s (each its own transaction)")
    await task
    await listener.close()
    await sender.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--count", type=int, default=5000)
    args = ap.parse_args()
    if args.database_url:
        asyncio.run(measure(args.database_url, args.count))
        return
    sys.path.insert(0, str(ROOT))
    from tests.cluster.pgserver import PgServer

    pg = PgServer()
    pg.start()
    try:
        asyncio.run(measure(pg.dsn, args.count))
    finally:
        pg.close()


if __name__ == "__main__":
    main()
