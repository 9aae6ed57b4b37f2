"""The bundle's size and cold start: a fresh process and a fresh HOME to a visible sign-in window."""

# .venv/bin/python bench/bundle_start.py [--runs 5] [--source]
#
# After `make package`. Each run starts dist/sdr-agent-desk/sdr-agent-desk under `env -i` with a new empty
# HOME and an empty PATH on a private Xvfb desktop (tests/journeys/desktop.py), and measures from just before
# the spawn to the moment the sign-in window is mapped (xdotool, polled every 20 ms), then its resident
# memory. The OS file cache is warm after the first run (dropping it would slow every other process here);
# the first run is reported apart. --source measures `.venv/bin/python main.py` the same way, to compare.

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.journeys.desktop import Desktop  # noqa: E402
from tests.package.bundle import DIST, SIGN_IN_TITLE, CleanUser, stop  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_start(desktop: Desktop, folder: Path, command: list[str]) -> tuple[float, float]:
    """Seconds from spawn to a visible sign-in window, and MB resident then."""
    user = CleanUser(desktop, folder)
    try:
        started = time.perf_counter()
        proc = user.launch("--server", "ws://127.0.0.1:9", command=command)
        deadline = started + 60
        while not user.windows(SIGN_IN_TITLE):
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"no sign-in window (exit {proc.returncode}):\n{user.output(1)[-2000:]}")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        return seconds, rss_mb(proc.pid)
    finally:
        for proc in user.runs:
            stop(proc)
        user.close()


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", action="store_true", help="also time `.venv/bin/python main.py`")
    args = parser.parse_args()
    bundle = DIST / "sdr-agent-desk"
    if not (bundle / "sdr-agent-desk").exists():
        raise SystemExit("no dist/sdr-agent-desk: run `make package` first")
    tarballs = sorted(DIST.glob("sdr-agent-desk-*-linux-*.tar.gz"))
    print(f"bundle dir   {du_mb(bundle):7.1f} MB  ({bundle})")
    for tarball in tarballs:
        print(f"tarball      {tarball.stat().st_size / 2**20:7.1f} MB  ({tarball.name})")

    commands = {"bundle": [str(bundle / "sdr-agent-desk")]}
    if args.source:
        commands["source"] = [str(ROOT / ".venv/bin/python"), str(ROOT / "main.py")]
    with tempfile.TemporaryDirectory(prefix="bundle-start-") as tmp:
        desktop = Desktop(Path(tmp) / "desktop")
        desktop.start()
        try:
            for name, command in commands.items():
                results = [one_start(desktop, Path(tmp) / f"{name}{i}", command) for i in range(args.runs)]
                times = [t for t, _ in results]
                rss, median = statistics.median(m for _, m in results), statistics.median(times)
                print(
                    f"{name:7} cold start to sign-in window: first {times[0]:.2f} s, median {median:.2f} s"
                    f" (min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs); RSS {rss:.0f} MB"
                )
        finally:
            desktop.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
