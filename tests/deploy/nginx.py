"""Runs packaging/server/nginx-sdr-chat.conf with a real nginx on loopback, as the current user."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "packaging" / "server" / "nginx-sdr-chat.conf"
WIDGET_DIR = ROOT / "chat_server" / "widget"
MIME_TYPES = Path("/etc/nginx/mime.types")
DEBIAN_CONF = Path("/etc/nginx/nginx.conf")  # as the nginx package installs it


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:  # `make deps` installs it: a missing nginx is a broken setup, not a reason to pass
        pytest.fail("nginx is missing: install the Debian package nginx (make deps)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _replace(text: str, pattern: str, replacement: str) -> str:
    """Every match of ``pattern`` (multiline); the site must still contain it, or the test would quietly
    run something else than the shipped file."""
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count, f"{SITE.name} no longer has a line matching {pattern!r}: update tests/deploy/nginx.py"
    return new


def render_site(
    upstreams: Sequence[int], http_port: int, https_port: int, cert: Path, key: Path, webroot: Path
) -> str:
    """The shipped site with what a test cannot use replaced: loopback ports instead of 80/443 on every
    address, these upstream ports, this certificate, the widget files of this checkout."""
    text = SITE.read_text(encoding="utf-8")
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)
    text = _replace(text, r"^\s*server 127\.0\.0\.1:\d+;.*\n", "@UPSTREAMS@")
    text = text.replace("@UPSTREAMS@", servers, 1).replace("@UPSTREAMS@", "")
    text = _replace(text, r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{http_port};")
    text = _replace(text, r"^(\s*)listen 443 ssl;", rf"\1listen 127.0.0.1:{https_port} ssl;")
    text = _replace(text, r"^\s*listen \[::\]:(80|443)( ssl)?;.*\n", "")  # IPv6 may be off in containers
    text = _replace(text, r"^(\s*)ssl_certificate \S+;", rf"\1ssl_certificate {cert};")
    text = _replace(text, r"^(\s*)ssl_certificate_key \S+;", rf"\1ssl_certificate_key {key};")
    text = _replace(text, r"^(\s*)root /opt/sdr-chat/widget;", rf"\1root {WIDGET_DIR};")
    return _replace(text, r"^(\s*)root /var/www/html;", rf"\1root {webroot};")


def main_conf(prefix: Path, site: Path) -> str:
    """The distribution's /etc/nginx/nginx.conf (Debian's: gzip, sendfile, its ssl_protocols...) with the
    site included instead of sites-enabled/, and every path it writes under ``prefix``. Without that file
    (another distribution), a minimal http block."""
    temp = {name: prefix / "temp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root nginx hands requests to unprivileged workers (www-data), which could not enter the test's
    # private temp folder; the production layout needs nothing of the kind.
    user = "user root root;" if os.geteuid() == 0 else ""
    temp_paths = "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
    include = f"{temp_paths}    include {site};"
    if not DEBIAN_CONF.exists():
        return (
            f"{user}\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    include {MIME_TYPES};\n    default_type application/octet-stream;\n"
            f"    access_log {prefix / 'access.log'};\n{include}\n}}\n"
        )
    text = DEBIAN_CONF.read_text(encoding="utf-8")
    for pattern, replacement in (
        (r"^user \S+;", user),
        (r"^worker_processes \S+;", "worker_processes 1;"),
        (r"^pid \S+;", f"pid {prefix / 'nginx.pid'};"),
        (r"^error_log \S+;", ""),  # -e on the command line
        (r"^\s*access_log \S+;", f"    access_log {prefix / 'access.log'};"),
        (r"^\s*include /etc/nginx/conf\.d/\*\.conf;", ""),  # this machine's other sites: not ours
        (r"^\s*include /etc/nginx/sites-enabled/\*;", include),
    ):
        text, count = re.subn(pattern, lambda _, r=replacement: r, text, count=1, flags=re.MULTILINE)
        assert count == 1, f"{DEBIAN_CONF} has no line matching {pattern!r}"
    return text


@dataclass
class Nginx:
    http_port: int
    https_port: int
    prefix: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def wss(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}"

    def log(self, name: str = "error.log") -> str:
        path = self.prefix / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _wait_listening(proc: subprocess.Popen[bytes], port: int, prefix: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = prefix / "error.log"
            error = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"nginx exited with {proc.returncode}: {error}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)  # polling a port with a deadline: nginx has no readiness signal for us
    raise AssertionError(f"nginx did not listen on {port} in time")


@contextlib.contextmanager
def running_nginx(prefix: Path, upstreams: Sequence[int], cert: Path, key: Path) -> Iterator[Nginx]:
    """nginx -p prefix -c nginx.conf -g 'daemon off;' in front of ``upstreams``; stopped at the end."""
    binary = nginx_binary()
    prefix.mkdir(parents=True, exist_ok=True)
    webroot = prefix / "acme"
    webroot.mkdir(exist_ok=True)
    for attempt in range(3):  # a port picked as free can be taken by another process before nginx binds
        http_port, https_port = free_port(), free_port()
        site = prefix / "sdr-chat.conf"
        site.write_text(render_site(upstreams, http_port, https_port, cert, key, webroot), encoding="utf-8")
        conf = prefix / "nginx.conf"
        conf.write_text(main_conf(prefix, site), encoding="utf-8")
        check = subprocess.run(
            [binary, "-t", "-q", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "check.log")],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr + (prefix / "check.log").read_text(errors="replace")
        command = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        proc = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_listening(proc, https_port, prefix, time.monotonic() + 15)
            _wait_listening(proc, http_port, prefix, time.monotonic() + 15)
        except RuntimeError:
            if attempt < 2 and "Address already in use" in (prefix / "error.log").read_text(errors="replace"):
                continue
            raise
        try:
            yield Nginx(http_port, https_port, prefix)
        finally:
            proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        return
