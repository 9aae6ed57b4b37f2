"""Redis pub/sub as the alternative doorbell, measured like bench/pg_notify.py (same counts, same pacing),
so docs/architecture.md can compare them. Starts its own redis-server on a free port (Debian's package);
speaks RESP over asyncio streams (no client library: this is the only place we would use one).

    .venv/bin/python bench/redis_pubsub.py [--count 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import tempfile
import time


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> object:
    line = (await reader.readline()).rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2].decode()
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(int(rest))]
    raise ValueError(f"unexpected RESP reply {line!r}")


async def measure(port: int, count: int) -> None:
    sub_r, sub_w = await asyncio.open_connection("127.0.0.1", port)
    pub_r, pub_w = await asyncio.open_connection("127.0.0.1", port)
    sub_w.write(_command("SUBSCRIBE", "bench"))
    await _read_reply(sub_r)  # the subscribe confirmation
    latencies: list[float] = []

    async def listen(n: int) -> None:
        for _ in range(n):
            message = await _read_reply(sub_r)
            assert isinstance(message, list)
            latencies.append(time.perf_counter() - float(str(message[2])))

    async def publish() -> None:
        pub_w.write(_command("PUBLISH", "bench", repr(time.perf_counter())))
        await _read_reply(pub_r)  # wait for the answer, as an awaited NOTIFY does

    task = asyncio.create_task(listen(count))
    for _ in range(count):
        await publish()
        await asyncio.sleep(0.001)
    await task
    lat = sorted(latencies)
    p50, p99 = lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3
    print(f"latency publish -> subscriber, {count} messages at ~1/ms: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    latencies.clear()
    task = asyncio.create_task(listen(count))
    start = time.perf_counter()
    for _ in range(count):
        await publish()
    await task
    print(f"throughput, back to back: {count / (time.perf_counter() - start):.0f} messages/s (each awaited)")
    for writer in (sub_w, pub_w):
        writer.close()
        await writer.wait_closed()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):  # wait until it accepts connections
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            asyncio.run(measure(port, args.count))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
