"""Server configuration: defaults, overridden by a TOML file, then SDR_SERVER_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SDR_SERVER_"


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = let the OS pick; the server prints the URL it listens on
    db_path: str = "sdr_chat.sqlite3"
    # Origins allowed to open /visitor from a browser ("*" = any). The server's own origin is always
    # allowed (it serves the widget); requests without an Origin header (non-browser clients) too.
    allowed_origins: list[str] = field(default_factory=list)
    tls_cert: str = ""  # PEM files: set both to serve wss:// (better: terminate TLS in a proxy)
    tls_key: str = ""
    # Keepalive: a dead link is detected within ping_interval + ping_timeout (25 s < 30 s promised).
    ping_interval: float = 15.0
    ping_timeout: float = 10.0
    hello_timeout: float = 10.0
    # Replay: events are kept at least this long AND at least this many per agent.
    replay_window_seconds: float = 600.0
    replay_min_events: int = 1000
    replay_max_events: int = 20_000  # a bigger gap is cheaper as a snapshot
    command_retention_seconds: float = 24 * 3600.0
    # Group commit window: batches writes into one commit (2 ms: p99 190 -> 23 ms at 10k deliveries/s)
    commit_delay_ms: float = 2.0
    snapshot_closed_days: float = 7.0
    snapshot_messages_per_conversation: int = 50
    visitor_connections_per_ip: int = 20  # 0 = unlimited
    visitor_rate_messages: int = 10  # token bucket: this many messages ...
    visitor_rate_seconds: float = 10.0  # ... per this many seconds
    bad_frames_per_minute: int = 20  # more closes the connection with 4008
    agent_write_buffer_limit: int = 16 * 1024 * 1024  # a slower reader is dropped (it resumes by replay)
    log_level: str = "INFO"
    # Bot playbook, routing and SLA clock (docs/playbook.md): "" = chat_server/playbook.toml, "off" = no bot,
    # no routing, no SLA clock. territories_csv overrides the playbook's [routing] territories_csv.
    playbook: str = ""
    territories_csv: str = ""
    enrichment_url: str = ""  # DataFox/Clearbit stand-in base URL; "" = company data from the email domain
    enrichment_key: str = ""

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert else "ws"


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Config(), name)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        return [v.strip() for v in str(value).split(",") if v.strip()]
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


def load_config(
    path: str | Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Defaults < TOML file (top level or a [server] table) < SDR_SERVER_<NAME> env < explicit overrides."""
    values: dict[str, Any] = {}
    env = dict(os.environ) if env is None else env
    path = path or env.get(ENV_PREFIX + "CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("server", data)
        for key, value in data.items():
            if key not in _FIELDS:
                raise ValueError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return Config(**values)


def describe() -> str:
    """One line per setting, for --help."""
    return "\n".join(
        f"  {name:<28} {ENV_PREFIX}{name.upper():<36} default {getattr(Config(), name)!r}" for name in _FIELDS
    )
