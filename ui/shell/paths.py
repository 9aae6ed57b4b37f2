"""Per-user, per-profile locations (platformdirs): settings, window state, cache, logs, demo data."""

from __future__ import annotations

import getpass
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_ID = "io.github.sdr_agent_desk.SDRAgentDesk"  # .desktop file, AppStream id, Windows AUMID
APP_NAME = "sdr-agent-desk"  # folders (platformdirs), keychain service
QT_APP_NAME = "sdr_agent_desk"  # QCoreApplication.applicationName: no dots or dashes (setBadgeNumber
# builds the D-Bus path /com/canonical/unity/launcherentry/<name> from it)
DISPLAY_NAME = "SDR Agent Desk"
URL_SCHEME = "sdr-agent-desk"


@dataclass(frozen=True, slots=True)
class AppPaths:
    """Where one profile keeps its files. ``--data-dir`` puts everything under one folder (tests)."""

    profile: str
    config_dir: Path  # agent_app.settings JSON lives here
    data_dir: Path  # local cache and outbox databases, demo workspace data
    log_dir: Path
    state_file: Path  # QSettings (INI) with window state: kept apart from settings
    # Names the server in account folders instead of its URL: the demo's embedded server listens on a new
    # port every run but is the same workspace, so its cache, outbox and drafts must be found again.
    server_key: str = ""

    @classmethod
    def for_profile(cls, profile: str = "default", root: Path | None = None) -> AppPaths:
        if root is not None:
            base = Path(root)
            paths = cls(profile, base / "config", base / "data", base / "logs", base / "state" / "window.ini")
        else:
            sub = "" if profile == "default" else f"profiles/{profile}"
            config = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / sub
            data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / sub
            logs = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / sub
            state = Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / sub / "window.ini"
            paths = cls(profile, config, data, logs, state)
        for d in (paths.config_dir, paths.data_dir, paths.log_dir, paths.state_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        return paths

    def account_dir(self, server_url: str, email: str) -> Path:
        """Cache and outbox of one account on one server (never mixed between accounts)."""
        server = self.server_key or server_url
        digest = hashlib.sha256(f"{server}\n{email.lower()}".encode()).hexdigest()[:16]
        path = self.data_dir / "accounts" / digest
        path.mkdir(parents=True, exist_ok=True)
        return path

    def instance_key(self) -> str:
        """Name of the single-instance lock and socket: per OS user and per profile (and data dir)."""
        try:
            user = getpass.getuser()
        except OSError:  # no user name in the environment (containers)
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        where = hashlib.sha256(str(self.config_dir.resolve()).encode()).hexdigest()[:8]
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{APP_NAME}-{user}-{self.profile}-{where}")


def token_key(server_url: str, email: str) -> str:
    """Keychain entry name of an access token: one per server and account."""
    return f"token:{server_url.rstrip('/')}|{email.strip().lower()}"
