"""Passwords (scrypt), tokens, sign-in throttling, browser Origin rules and the visitor-facing aliases."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# ---------------------------------------------------------------- passwords


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost. Memory is 128 * n * r bytes (n=2**17, r=8: 128 MiB) for each hash being computed."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        # OpenSSL refuses unless maxmem covers V (128*r*(n+2)) and B (128*r*p), plus a little slack.
        return 128 * self.r * (self.n + self.p + 2) + 1024 * 1024

    def weaker_than(self, other: ScryptParams) -> bool:
        return self.n < other.n or self.r < other.r or self.p < other.p

    def problem(self) -> str:
        """Why these parameters cannot be used ("" when they can)."""
        if self.n < 2 or self.n & (self.n - 1):
            return f"scrypt_n must be a power of two of at least 2, not {self.n}"
        if not 1 <= self.r <= 64 or not 1 <= self.p <= 16:
            return "scrypt_r must be 1..64 and scrypt_p 1..16"
        if self.maxmem > _MAX_MEMORY:
            return f"scrypt_n * scrypt_r needs {self.maxmem >> 20} MiB per hash; at most {_MAX_MEMORY >> 20}"
        return ""


# OWASP Password Storage Cheat Sheet: scrypt with N=2^17 (128 MiB), r=8, p=1 is the minimum configuration.
OWASP_MINIMUM = ScryptParams(2**17, 8, 1)
_MAX_MEMORY = 1024 * 1024 * 1024  # a corrupt or hostile stored hash must not make us allocate more
_DKLEN = 32


def hash_password(password: str, params: ScryptParams = OWASP_MINIMUM) -> str:
    """Slow on purpose (0.3-1 s, 128 MiB at the defaults): call it off the event loop."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=params.n, r=params.r, p=params.p, dklen=_DKLEN, maxmem=params.maxmem
    )
    return f"scrypt${params.n}${params.r}${params.p}${salt.hex()}${digest.hex()}"


def stored_params(stored: str) -> ScryptParams | None:
    """The parameters a stored hash was made with (None when it is not a scrypt hash of ours)."""
    try:
        scheme, n, r, p, _, _ = stored.split("$")
        return ScryptParams(int(n), int(r), int(p)) if scheme == "scrypt" else None
    except ValueError:
        return None


def needs_rehash(stored: str, params: ScryptParams) -> bool:
    """True when the stored hash is cheaper than ``params``: rehash it at the next good sign-in."""
    found = stored_params(stored)
    return found is None or found.weaker_than(params)


def verify_password(password: str, stored: str) -> bool:
    params = stored_params(stored)
    if params is None or params.problem():
        return False
    try:
        salt_hex, digest_hex = stored.split("$")[4:]
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt_hex), n=params.n, r=params.r, p=params.p,
            dklen=len(digest_hex) // 2, maxmem=params.maxmem,
        )  # fmt: skip
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


# ---------------------------------------------------------------- tokens and ids


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random values, so a fast hash is enough (no brute force is feasible)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(10)


def calendar_ref(agent_id: str) -> str:
    """What a visitor gets instead of an agent's internal id on a booking card (and sends back to book):
    stable per agent, so every card of one calendar matches, but not the id itself."""
    return "cal_" + hashlib.sha256(f"sdr-calendar:{agent_id}".encode()).hexdigest()[:20]


def agent_for_ref(ref: str, agent_ids: Iterable[str]) -> str:
    """The agent id behind a ``calendar_ref`` (or ``ref`` itself when it is not one)."""
    if ref.startswith("cal_"):
        for agent_id in agent_ids:
            if calendar_ref(agent_id) == ref:
                return agent_id
    return ref


# ---------------------------------------------------------------- sign-in throttling


def ip_key(ip: str) -> str:
    """IPv6 clients get a whole /64 (one subscriber's allocation); IPv4 addresses stand alone."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


@dataclass
class ThrottleRule:
    """``free`` failures pass; then each further attempt waits ``base * 2**k`` s after the last failure
    (k = failures beyond ``free`` - 1), at most ``cap`` s. The count is forgotten ``forget`` s after the last
    failure. A delay, never a lockout: whoever waits it out gets one more try."""

    free: int
    base: float
    cap: float
    forget: float

    def wait(self, entry: _Failures | None, now: float) -> float:
        if entry is None or entry.count < self.free:
            return 0.0
        delay: float = min(self.cap, self.base * 2.0 ** min(entry.count - self.free, 40))
        return max(0.0, entry.last + delay - now)


@dataclass
class SignInThrottle:
    """Password sign-ins per (account, IP), per IP (any account: password spraying) and per account (any
    IP: a distributed guesser). The per-account rule skips IPs this account signed in from before, so a
    flood from elsewhere never keeps the owner out; the per-(account, IP) and per-IP rules only slow down
    the address that guesses. Memory is bounded (least recently used entries are dropped)."""

    clock: Callable[[], float]
    pair: ThrottleRule = field(default_factory=lambda: ThrottleRule(5, 1.0, 60.0, 3600.0))
    per_ip: ThrottleRule = field(default_factory=lambda: ThrottleRule(20, 1.0, 60.0, 3600.0))
    per_account: ThrottleRule = field(default_factory=lambda: ThrottleRule(50, 1.0, 60.0, 3600.0))
    max_entries: int = 100_000
    known_ips_per_account: int = 16
    _failures: OrderedDict[tuple[str, str], _Failures] = field(default_factory=OrderedDict)
    _known: OrderedDict[str, OrderedDict[str, float]] = field(default_factory=OrderedDict)

    def _rules(self, account: str, ip: str) -> list[tuple[tuple[str, str], ThrottleRule]]:
        account, ip = account.strip().lower(), ip_key(ip)
        rules = [(("pair", f"{account}\n{ip}"), self.pair), (("ip", ip), self.per_ip)]
        if ip not in self._known.get(account, {}):
            rules.append((("account", account), self.per_account))
        return rules

    def _entry(self, key: tuple[str, str], rule: ThrottleRule, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > rule.forget:
            del self._failures[key]
            return None
        return entry

    def wait(self, account: str, ip: str) -> float:
        """Seconds before this account may try a password from this IP (0: now)."""
        now = self.clock()
        waits = [rule.wait(self._entry(key, rule, now), now) for key, rule in self._rules(account, ip)]
        return max(waits, default=0.0)

    def failed(self, account: str, ip: str) -> None:
        now = self.clock()
        for key, rule in self._rules(account, ip):
            entry = self._entry(key, rule, now) or _Failures()
            entry.count, entry.last = entry.count + 1, now
            self._failures[key] = entry
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def known(self, account: str, ip: str) -> bool:
        """True when this account signed in from this address (its /64) before."""
        return ip_key(ip) in self._known.get(account.strip().lower(), {})

    def succeeded(self, account: str, ip: str) -> None:
        """The pair starts afresh and the IP becomes known for the account (the per-IP count stays: an
        attacker must not reset it by signing in to an account of their own)."""
        account, key = account.strip().lower(), ip_key(ip)
        self._failures.pop(("pair", f"{account}\n{key}"), None)
        known = self._known.setdefault(account, OrderedDict())
        known[key] = self.clock()
        known.move_to_end(key)
        while len(known) > self.known_ips_per_account:
            known.popitem(last=False)
        self._known.move_to_end(account)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)


def retry_text(seconds: float) -> str:
    return f"too many sign-in attempts; try again in {max(1, math.ceil(seconds))} s"


# ---------------------------------------------------------------- browser origins


def origin_allowed(origin: str | None, allowed: Iterable[str], own: Iterable[str]) -> bool:
    """No Origin header: not a browser (Origin checks only defend browsers against cross-site use).
    A browser's Origin must be one of ``allowed`` ("*" = any) or the server's own public origins.
    ``Host`` is never trusted for this: with DNS rebinding an attacker's page gets any Host it likes."""
    if origin is None:
        return True
    allowed = list(allowed)
    normal = origin.strip().rstrip("/").lower()
    return "*" in allowed or normal in {o.strip().rstrip("/").lower() for o in [*allowed, *own]}


def own_origins(public: Iterable[str], host: str, port: int, tls: bool) -> list[str]:
    """The origins this server's own pages (the widget demo) are served from: the configured public
    origins, plus the listening address itself when it is a concrete one (never a wildcard)."""
    found = list(public)
    scheme = "https" if tls else "http"
    names = []
    if host in ("127.0.0.1", "::1", "localhost"):
        names = ["127.0.0.1", "[::1]", "localhost"]
    elif host not in ("", "0.0.0.0", "::"):
        names = [f"[{host}]" if ":" in host else host]
    default_port = 443 if tls else 80
    for name in names:
        found.append(f"{scheme}://{name}:{port}")
        if port == default_port:
            found.append(f"{scheme}://{name}")
    return found


def env_scrypt_n() -> int:
    """The default scrypt N: OWASP's minimum, unless SDR_SERVER_SCRYPT_N says otherwise (test suites and
    throw-away demos set it low; `python -m chat_server` reads the same variable through load_config)."""
    raw = os.environ.get("SDR_SERVER_SCRYPT_N", "")
    return int(raw) if raw.isdigit() else OWASP_MINIMUM.n
