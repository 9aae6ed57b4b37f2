"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temp dir, reached on a Unix socket only.

One cluster per test session (started on first use, ~2 s), one fresh database per test, cloned from a
migrated template (CREATE DATABASE ... TEMPLATE: milliseconds). fsync stays on: the durability tests kill
the chat server and count what PostgreSQL kept.

initdb and postgres refuse to run as root. As root (the session and CI are), the cluster runs as the
"postgres" system user that Debian's postgresql package creates (`make deps` installs it), via runuser, in a
temp dir that user owns; as anyone else it runs as that user.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chat_server.storage.pg import PgConnection, migrate

TEMPLATE = "sdr_template"
_numbers = itertools.count(1)


def bindir() -> Path | None:
    """Where initdb and pg_ctl live: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(out.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


class PgCluster:
    def __init__(self) -> None:
        found = bindir()
        if found is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb): `make deps` installs Debian's postgresql"
            )
        self.bin = found
        self.dir = Path(tempfile.mkdtemp(prefix="sdr-pg-"))  # short: a socket path has ~100 bytes
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError: the postgresql package is not installed
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip  (--no-sync: initdb's own files; the server fsyncs)
        options = f"-k {self.dir} -c listen_addresses='' -c max_connections=200 -c shared_buffers=32MB"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self.running = True
        atexit.register(self.stop)  # also when the session ends in an unusual way
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        w = PgConnection(self.url(TEMPLATE))
        try:
            migrate(w)
        finally:
            w.close()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, text=True)
        if done.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def url(self, dbname: str) -> str:
        return f"host={self.dir} user=postgres dbname={dbname}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(_numbers)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if getattr(self, "running", False):
            self.running = False
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        cluster = PgCluster()
    except (RuntimeError, KeyError, OSError) as exc:
        pytest.fail(f"cannot start a PostgreSQL cluster for the tests: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """The conninfo of a fresh, migrated database of its own for this test (dropped afterwards)."""
    name = pg_cluster.new_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)
