"""packaging/server: the systemd unit passes systemd-analyze; its config file is what the server loads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chat_server import load_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "server" / "sdr-chat-server.service"
SERVER_TOML = ROOT / "packaging" / "server" / "server.toml"
VENV_PYTHON = "/opt/sdr-chat/venv/bin/python"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 (locked down) .. 10 (unprotected); "OK" is below 2


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: install the Debian package systemd (make deps)")
    return found


def installed_unit(tmp_path: Path) -> Path:
    """The unit as installed on this machine: ExecStart's interpreter must exist for `verify`, so it
    points at this test's Python (the only line changed)."""
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(VENV_PYTHON) == 1, "ExecStart should run the server's virtualenv Python"
    path = tmp_path / UNIT.name
    path.write_text(text.replace(VENV_PYTHON, sys.executable), encoding="utf-8")
    return path


def service_section() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text(encoding="utf-8").splitlines():  # keys repeat: not configparser
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_unit_verifies(tmp_path: Path) -> None:
    # Runs offline: systemd need not be PID 1 (containers), verify only loads and checks the unit.
    done = subprocess.run(
        [systemd_analyze(), "verify", str(installed_unit(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    # An unknown or misspelt option is only a warning with exit code 0: any output fails the test.
    assert done.returncode == 0 and not output, output


def test_unit_is_hardened(tmp_path: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(installed_unit(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_unit_runs_the_server_with_its_config_and_state() -> None:
    service = service_section()
    exec_start = service["ExecStart"][0]
    assert exec_start.startswith(f"{VENV_PYTHON} -m chat_server serve --config /etc/sdr-chat/server.toml")
    for key, value in {
        "DynamicUser": "yes", "StateDirectory": "sdr-chat", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "Restart": "on-failure",
    }.items():  # fmt: skip
        assert service.get(key) == [value], key
    assert "@system-service" in service["SystemCallFilter"]
    assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    # The database lives in the state directory: the only place the service may write.
    config = load_config(SERVER_TOML, env={})
    assert config.db_path.startswith("/var/lib/sdr-chat/")
    assert config.host == "127.0.0.1" and config.trusted_proxies  # only nginx talks to it, and is trusted


def test_server_toml_starts_the_server(tmp_path: Path) -> None:
    """The shipped settings file is accepted by `python -m chat_server` (database moved to tmp_path)."""
    done = subprocess.run(
        [sys.executable, "-m", "chat_server", "--config", str(SERVER_TOML), "--db",
         str(tmp_path / "chat.sqlite3"), "agents", "list"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
