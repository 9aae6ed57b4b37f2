"""Server configuration: defaults, overridden by a TOML file, then SDR_SERVER_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat_server.calendar import zone_problem
from chat_server.forwarded import parse_trusted
from chat_server.security import ScryptParams, env_scrypt_n

ENV_PREFIX = "SDR_SERVER_"


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = let the OS pick; the server prints the URL it listens on
    db_path: str = "sdr_chat.sqlite3"
    # "sqlite" (embedded, one server process: the default) or "postgres" (several processes, one database).
    storage: str = "sqlite"
    # libpq conninfo or URL of the PostgreSQL database, e.g. "postgresql://sdr@db.example.com/sdr"; the
    # password better in SDR_SERVER_DATABASE_URL or ~/.pgpass/PGPASSWORD than in a file. Never logged.
    database_url: str = field(default="", repr=False)
    # Origins allowed to open /visitor from a browser ("*" = any). The server's own origin is always
    # allowed (it serves the widget); requests without an Origin header (non-browser clients) too.
    allowed_origins: list[str] = field(default_factory=list)
    tls_cert: str = ""  # PEM files: set both to serve wss:// (better: terminate TLS in a proxy)
    tls_key: str = ""
    # Keepalive: a dead link is detected within ping_interval + ping_timeout (25 s < 30 s promised).
    ping_interval: float = 15.0
    ping_timeout: float = 10.0
    hello_timeout: float = 10.0  # absolute: counted from the connection, not from the last frame
    # Connections that have not said hello yet hold a socket for free: capped per IP and in total.
    unauthenticated_per_ip: int = 16  # 0 = unlimited
    unauthenticated_total: int = 256  # 0 = unlimited
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
    # Every other peer (visitors, connections before sign-in) gets far less: their frames are small.
    visitor_write_buffer_limit: int = 1024 * 1024
    # A peer whose queued output makes no progress for this long is closed with 1013 (the keepalive
    # cannot catch it: its ping waits behind the queue).
    slow_reader_seconds: float = 20.0
    log_level: str = "INFO"
    # Bot playbook, routing and SLA clock (docs/playbook.md): "" = chat_server/playbook.toml, "off" = no bot,
    # no routing, no SLA clock. territories_csv overrides the playbook's [routing] territories_csv.
    playbook: str = ""
    territories_csv: str = ""
    enrichment_url: str = ""  # DataFox/Clearbit stand-in base URL; "" = company data from the email domain
    enrichment_key: str = ""
    # An agent's zone when neither the profile nor the territory name gives one (calendar defaults).
    default_timezone: str = "America/New_York"
    # Browser origins allowed on /agent (the desk client sends none; a web page must be listed here).
    agent_allowed_origins: list[str] = field(default_factory=list)
    # The origins this server is reached at from browsers (e.g. https://chat.example.com behind a proxy):
    # its own pages may open /visitor. The Host header is not trusted for that (DNS rebinding).
    public_origins: list[str] = field(default_factory=list)
    # Reverse proxies (addresses or networks, e.g. ["127.0.0.1", "::1"] for nginx on the same host) whose
    # X-Forwarded-For is believed: per-IP limits and sign-in throttling then count the visitor's address,
    # not the proxy's. Empty = the TCP peer is the client (X-Forwarded-For is ignored: anyone can send it).
    trusted_proxies: list[str] = field(default_factory=list)
    # Password hashing (scrypt). Below OWASP's minimum (2**17, 8, 1) the server warns at start.
    scrypt_n: int = field(default_factory=env_scrypt_n)
    scrypt_r: int = 8
    scrypt_p: int = 1
    token_idle_days: float = 30.0  # a sign-in token unused this long stops working (0 = never)
    visitor_expiry_hours: float = 24.0  # anonymous visitors who never started a chat are deleted (0 = kept)
    # Meeting invites by email (chat_server/mailer.py): "" = no invites are mailed.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # "starttls", "tls" (implicit, port 465) or "none" (local relay only)
    smtp_username: str = ""
    smtp_password: str = ""  # better: SDR_SERVER_SMTP_PASSWORD in the environment than in the file
    smtp_from: str = ""  # envelope and From: address; "" = the rep's own address
    # Live visitors ("On site now", engage; docs/playbook.md "Live visitors"):
    engage_cooldown_minutes: float = 10.0  # at most one proactive chat per visitor in this many minutes
    live_grace_seconds: float = 10.0  # a visitor whose widget closed stays listed this long (page loads)
    calendar_refresh_seconds: float = 30.0  # connected calendars' busy times are at most ~2x this old
    # Google / Microsoft calendars (OAuth apps registered by the admin; docs/qualify.md "Connected calendar")
    google_client_id: str = ""
    google_client_secret: str = ""
    google_token_url: str = "https://oauth2.googleapis.com/token"
    microsoft_client_id: str = ""
    microsoft_client_secret: str = ""
    microsoft_token_url: str = "https://login.microsoftonline.com/common/oauth2/v2.0/token"

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert else "ws"

    @property
    def scrypt_params(self) -> ScryptParams:
        return ScryptParams(self.scrypt_n, self.scrypt_r, self.scrypt_p)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}

# One line of --help per setting (tests/server/test_tls_config.py fails for a setting without one).
HELP: dict[str, str] = {
    "host": "interface to listen on",
    "port": "TCP port; 0 lets the OS pick one (the URL is printed)",
    "db_path": "SQLite database file",
    "storage": "sqlite (embedded, the default) or postgres (set database_url)",
    "database_url": "PostgreSQL conninfo or URL for storage=postgres (password: prefer the environment)",
    "allowed_origins": "browser origins allowed on /visitor ('*' = any; comma-separated in the environment)",
    "tls_cert": "PEM certificate (chain): set with tls_key to serve wss://",
    "tls_key": "PEM private key of tls_cert",
    "ping_interval": "seconds between keepalive pings",
    "ping_timeout": "seconds to wait for a pong before dropping the connection",
    "hello_timeout": "seconds a new connection has to send its hello (from the connection, not per frame)",
    "unauthenticated_per_ip": "connections per IP address that have not said hello yet (0 = unlimited)",
    "unauthenticated_total": "connections in all that have not said hello yet (0 = unlimited)",
    "replay_window_seconds": "events are kept for resume at least this many seconds ...",
    "replay_min_events": "... and at least this many per agent",
    "replay_max_events": "a bigger resume gap gets a snapshot instead of a replay",
    "command_retention_seconds": "how long command results are kept for idempotent re-sends",
    "commit_delay_ms": "group-commit window in milliseconds",
    "snapshot_closed_days": "closed chats younger than this are in a snapshot",
    "snapshot_messages_per_conversation": "messages per conversation in a snapshot",
    "visitor_connections_per_ip": "open /visitor connections per IP address (0 = unlimited)",
    "visitor_rate_messages": "visitor rate limit: this many messages ...",
    "visitor_rate_seconds": "... per this many seconds",
    "bad_frames_per_minute": "more invalid frames than this close the connection (4008)",
    "agent_write_buffer_limit": "bytes queued for a slow agent connection before it is dropped",
    "visitor_write_buffer_limit": "bytes queued for visitors (and before sign-in) before one is dropped",
    "slow_reader_seconds": "a connection whose queued output makes no progress this long is closed (1013)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "playbook": "bot playbook TOML ('' = the built-in one, 'off' = no bot, routing or SLA clock)",
    "territories_csv": "territories CSV, overrides the playbook's [routing] territories_csv",
    "enrichment_url": "company-data service base URL ('' = company from the email domain)",
    "enrichment_key": "API key of the company-data service",
    "default_timezone": "IANA zone for agents whose profile and territory give none (new calendars)",
    "agent_allowed_origins": "browser origins allowed on /agent (the desk client sends none)",
    "public_origins": "origins browsers reach this server at, e.g. https://chat.example.com (own pages)",
    "trusted_proxies": "reverse proxies whose X-Forwarded-For names the client, e.g. 127.0.0.1 (nginx)",
    "scrypt_n": "scrypt cost N for password hashes (power of two; OWASP minimum 131072)",
    "scrypt_r": "scrypt block size r (OWASP minimum 8)",
    "scrypt_p": "scrypt parallelism p (OWASP minimum 1)",
    "token_idle_days": "a sign-in token unused for this many days must sign in again (0 = never expires)",
    "engage_cooldown_minutes": "at most one proactive chat (engage) per visitor in this many minutes",
    "live_grace_seconds": "a visitor whose widget closed stays 'on site now' this long (page loads)",
    "visitor_expiry_hours": "visitors who never started a chat are deleted after this many hours (0 = kept)",
    "smtp_host": "SMTP server for meeting invites ('' = invites are not mailed)",
    "smtp_port": "SMTP port (587 STARTTLS, 465 TLS, 25 relay)",
    "smtp_security": "starttls, tls (implicit) or none (a local relay only)",
    "smtp_username": "SMTP user name ('' = no authentication)",
    "smtp_password": "SMTP password (prefer the environment variable to the file)",
    "smtp_from": "From: address of invites ('' = the rep's own address)",
    "calendar_refresh_seconds": "seconds between re-reads of connected calendars' busy times",
    "google_client_id": "OAuth client id for Google calendars ('' = Google calendars cannot connect)",
    "google_client_secret": "OAuth client secret of the Google app (prefer the environment variable)",
    "google_token_url": "Google's OAuth token endpoint",
    "microsoft_client_id": "application (client) id for Microsoft 365 calendars ('' = cannot connect)",
    "microsoft_client_secret": "client secret of the Microsoft app ('' = public client, PKCE only)",
    "microsoft_token_url": "Microsoft identity platform token endpoint (tenant or /common/)",
}


def _type_name(default: Any) -> str:
    if isinstance(default, list):
        return "a list of strings"
    if isinstance(default, bool):
        return "true or false"
    return {int: "an integer", float: "a number", str: "a string"}[type(default)]


def _from_file(name: str, value: Any) -> Any:
    """A TOML value has a type: it must be the setting's (an integer is fine for a number)."""
    default = getattr(Config(), name)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"{name} must be {_type_name(default)}, not {value!r}")
    return list(value) if isinstance(value, list) else value


def _from_text(name: str, value: Any) -> Any:
    """An environment variable or command-line flag: text (or what argparse already converted)."""
    default = getattr(Config(), name)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        return [v.strip() for v in str(value).split(",") if v.strip()]
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {_type_name(default)}, not {value!r}") from None
    return str(value)


def load_config(
    path: str | Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Defaults < TOML file (top level or a [server] table) < SDR_SERVER_<NAME> env < explicit overrides.

    Raises OSError (unreadable file) or ValueError (bad TOML, unknown setting, wrong type), each
    naming the file or variable, for the CLI to print as one line."""
    values: dict[str, Any] = {}
    env = dict(os.environ) if env is None else env
    path = path or env.get(ENV_PREFIX + "CONFIG")
    if path:
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML: {exc}") from None
        if isinstance(data.get("server"), dict):
            # Settings go either in a [server] table or at the top level, not both: a top-level key next
            # to a [server] table would otherwise be ignored without a word.
            outside = [k for k in data if k != "server"]
            if outside:
                raise ValueError(f"{path}: unknown setting {outside[0]!r} outside the [server] table")
            data = data["server"]
        for key, value in data.items():
            if key not in _FIELDS:
                raise ValueError(f"{path}: unknown setting {key!r}")
            try:
                values[key] = _from_file(key, value)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            try:
                values[name] = _from_text(name, raw)
            except ValueError as exc:
                raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _from_text(key, value)
    config = Config(**values)
    if config.storage not in ("sqlite", "postgres"):
        raise ValueError(f"storage must be sqlite or postgres, not {config.storage!r}")
    if config.storage == "postgres" and not config.database_url:
        raise ValueError("storage is postgres but database_url is not set (SDR_SERVER_DATABASE_URL)")
    if config.tls_key and not config.tls_cert:
        raise ValueError("tls_key is set but tls_cert is not (set both to serve wss://)")
    parse_trusted(config.trusted_proxies)  # raises ValueError naming the bad entry
    if problem := zone_problem(config.default_timezone):
        raise ValueError(f"default_timezone: {problem}")
    if config.smtp_security not in ("starttls", "tls", "none"):
        raise ValueError(f"smtp_security must be starttls, tls or none, not {config.smtp_security!r}")
    if problem := config.scrypt_params.problem():
        raise ValueError(problem)
    return config


def describe() -> str:
    """Two lines per setting, for --help: name, environment variable, default; then what it does."""
    defaults = Config()
    return "\n".join(
        f"  {name:<28} {ENV_PREFIX}{name.upper():<36} default {getattr(defaults, name)!r}\n"
        f"      {HELP.get(name, '')}"
        for name in _FIELDS
    )
