"""The bot playbook: a TOML file (docs/playbook.md) with the pages it runs on, a greeting, preliminary
questions with validation, CQL rules, routing pools and the SLA clock's settings.

``load_playbook(path)`` parses and validates it; every problem is reported with the file, the table and
the key it is in (and the line for TOML syntax errors), all at once, as one :class:`PlaybookError`.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from agent_app.protocol import CQL_LEVELS

DEFAULT_PATH: Final = Path(__file__).with_name("playbook.toml")

QuestionKind = Literal["text", "email", "team_size", "company", "name"]
QUESTION_KINDS: Final = ("text", "email", "team_size", "company", "name")
FallbackMode = Literal["territory", "pool", "off"]
FALLBACK_MODES: Final = ("territory", "pool", "off")

# Free-mail providers: an address there says nothing about the company (and routes nowhere).
DEFAULT_PERSONAL_DOMAINS: Final = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "zoho.com",
    "qq.com",
    "163.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
)

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
_UNIT = r"(?:people|employees|users|seats|reps|persons)"
_NUMBER = r"\d{1,3}(?:[,.\s]\d{3})+|\d+"
_TEAM_SIZE = re.compile(
    rf"^(?:about|around|~|roughly)?\s*({_NUMBER})\s*(k)?\s*(\+|or more|plus)?\s*{_UNIT}?$",
    re.I,
)
_TEAM_RANGE = re.compile(
    rf"^({_NUMBER})\s*(k)?\s*(?:-|\u2013|\u2014|to)\s*({_NUMBER})\s*(k)?\s*{_UNIT}?$",
    re.I,
)


class PlaybookError(ValueError):
    """The playbook can't be used; ``problems`` lists every reason, each naming where it is."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: "
            + (
                "; ".join(problems)
                if len(problems) == 1
                else f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)
            )
        )


# ---------------------------------------------------------------- answers: validation and normalisation


def normalize_email(text: str) -> str | None:
    """The address in ``text`` (lower-cased domain), or None when it isn't a plausible email address."""
    candidate = text.strip().strip("<>.,;").strip()
    if candidate.lower().startswith("mailto:"):
        candidate = candidate[7:]
    if len(candidate) > 254 or not _EMAIL.match(candidate):
        return None
    local, _, domain = candidate.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower() if "@" in email else ""


def _int(number: str, thousands: str | None) -> int:
    value = int(re.sub(r"[,.\s]", "", number))
    return value * 1000 if thousands else value


def parse_team_size(text: str) -> tuple[int, int | None] | None:
    """``"120"`` -> (120, 120); ``"50-200"`` -> (50, 200); ``"500+"`` -> (500, None); ``"2k"`` -> (2000, 2000)

    None when it is neither a number nor a range (the bot asks again)."""
    text = text.strip().rstrip(".")
    match = _TEAM_RANGE.match(text)
    if match:
        low, high = _int(match[1], match[2]), _int(match[3], match[4] or match[2])
        if low > high:
            low, high = high, low
        return (low, high) if high > 0 else None
    match = _TEAM_SIZE.match(text)
    if match:
        value = _int(match[1], match[2])
        if value <= 0:
            return None
        return (value, None) if match[3] else (value, value)
    return None


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class PagePattern:
    """``/pricing`` (that path, and below it: ``/pricing/teams``), ``/features*`` (fnmatch on the path),
    ``https://www.example.com/sales*`` (host and path), or ``re:^/(en|de)/pricing$`` (a regex on the path)."""

    pattern: str
    _regex: re.Pattern[str]
    _host: str = ""

    @classmethod
    def parse(cls, pattern: str) -> PagePattern:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError("a page pattern must be a non-empty string")
        pattern = pattern.strip()
        if pattern.startswith("re:"):
            try:
                return cls(pattern, re.compile(pattern[3:]))
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        host = ""
        path = pattern
        if "://" in pattern:
            parts = urlsplit(pattern)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{pattern!r}: a full URL pattern needs http(s)://host/path")
            host, path = parts.netloc.lower(), parts.path or "/"
        if not path.startswith("/"):
            raise ValueError(
                f"{pattern!r}: a page pattern is a path starting with '/', a URL, or 're:<regex>'"
            )
        if any(c in path for c in " \t\n?#"):
            raise ValueError(f"{pattern!r}: spaces, '?' and '#' don't belong in a page pattern")
        if "[" in path and "]" not in path:
            raise ValueError(f"{pattern!r}: unbalanced '['")
        if not any(c in path for c in "*["):
            # a plain path matches itself and what is below it, with or without a trailing slash
            base = path.rstrip("/") or "/"
            regex = re.compile(re.escape(base) + (r"(/.*)?$" if base != "/" else r"$"))
        else:
            regex = re.compile(fnmatch.translate(path))
        return cls(pattern, regex, host)

    def matches(self, url: str) -> bool:
        parts = urlsplit(url if "://" in url else "http://_" + (url if url.startswith("/") else "/" + url))
        if self._host and not fnmatch.fnmatch(parts.netloc.lower(), self._host):
            return False
        path = parts.path or "/"
        return bool(self._regex.match(path))


@dataclass(frozen=True)
class Question:
    key: str  # where the answer goes in Visitor.answers
    text: str
    kind: QuestionKind = "text"
    retry: str = ""  # said when the answer is invalid (email, team_size)
    first_message: bool = False  # the visitor's opening message answers it ("what brings you here")
    max_attempts: int = 3  # after this many invalid answers the bot moves on


@dataclass(frozen=True)
class Condition:
    """All set fields must hold (AND). Team size uses the lower bound of a range answer."""

    page: tuple[PagePattern, ...] = ()  # any of them (the page the conversation started on, or current)
    team_size_at_least: int | None = None
    team_size_below: int | None = None
    personal_email: bool | None = None
    email_domain: tuple[str, ...] = ()
    answer_contains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> any word (casefold)
    country: tuple[str, ...] = ()


@dataclass(frozen=True)
class CqlRule:
    name: str
    when: Condition
    cql: int


@dataclass(frozen=True)
class SlaSettings:
    first_response_seconds: float = 30.0
    warning_seconds: float = 20.0  # SlaWarning this long after the clock starts
    offer_meeting_seconds: float = 60.0  # without a human reply, the visitor is offered a meeting
    # Unresponsive fallback: a rep who hasn't answered ``fallback_after`` seconds after getting the chat
    # loses it to the next available rep in the territory order ("territory": the rule's backups, then
    # its pool, then the fallback pool; "pool": the pools only; "off": nobody else is tried).
    fallback: FallbackMode = "territory"
    fallback_after: float = 30.0  # default: first_response_seconds (the breach)
    max_hops: int = 2  # reassignments per conversation; after the last one only the meeting offer is left


@dataclass(frozen=True)
class RoutingSettings:
    territories_csv: str = ""  # relative to the playbook file; "" = no territory table (pools only)
    fallback_pool: str = "default"
    # pool name -> agent emails. An agent whose Agent.territory equals a pool's name is in it too.
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)
    route_without_playbook: bool = True  # pages the playbook doesn't run on are routed at once
    # territory rule name -> agent emails tried in this order after the rule's SDR (unresponsive fallback)
    backups: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Playbook:
    name: str = "Default"
    bot_name: str = "Acme Assistant"
    pages: tuple[PagePattern, ...] = ()
    greeting: str = ""
    widget_prompt: str = "Hi there! 👋 How can we help?"
    thanks: str = "Thanks! Connecting you with the right person now…"
    away_message: str = (
        "{agent} is away right now — leave your email and they'll reach out within a business "
        "day. You can also pick a time on their calendar below."
    )
    away_no_calendar: str = (
        "{agent} is away right now — leave your email and they'll reach out within a business day."
    )
    ask_email_for_followup: str = "What's the best email to reach you at?"
    nobody_message: str = (
        "Everyone on the team is busy right now — pick a time below for a call, or leave your email and "
        "we'll reach out within a business day."
    )
    nobody_no_calendar: str = (
        "Everyone on the team is busy right now — leave your email and we'll reach out within a business day."
    )
    meeting_offer: str = (
        "Sorry for the wait! Would you like to book a call with {agent}? Pick a time below — or "
        "leave your email and we'll get back to you. You can keep chatting here too."
    )
    meeting_offer_no_calendar: str = (
        "Sorry for the wait! Leave your email and {agent} will get back to you within "
        "a business day — or keep chatting here, someone will pick up shortly."
    )
    questions: tuple[Question, ...] = ()
    rules: tuple[CqlRule, ...] = ()
    personal_domains: frozenset[str] = frozenset(DEFAULT_PERSONAL_DOMAINS)
    sla: SlaSettings = SlaSettings()
    routing: RoutingSettings = RoutingSettings()
    # Target accounts (the "On site now" view's segment): company domains ("globex.com") or names.
    target_accounts: tuple[str, ...] = ()
    source: str = "<memory>"

    def runs_on(self, url: str) -> bool:
        return any(p.matches(url) for p in self.pages)

    def is_personal(self, email: str) -> bool:
        return email_domain(email) in self.personal_domains

    def territories_path(self) -> Path | None:
        if not self.routing.territories_csv:
            return None
        path = Path(self.routing.territories_csv)
        if not path.is_absolute() and self.source not in ("<memory>", "<string>"):
            path = Path(self.source).parent / path
        return path


# ---------------------------------------------------------------- loading


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def str_(
        self, table: dict[str, Any], key: str, where: str, default: str = "", required: bool = False
    ) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.bad(where, f"'{key}' is required")
            return default
        if not isinstance(value, str):
            self.bad(where, f"'{key}' must be a string, not {type(value).__name__}")
            return default
        return value

    def num(self, table: dict[str, Any], key: str, where: str, default: float, minimum: float = 0) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(where, f"'{key}' must be a number")
            return default
        if value < minimum:
            self.bad(where, f"'{key}' must be at least {minimum}")
            return default
        return float(value)

    def strings(self, value: Any, where: str, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.bad(where, f"'{key}' must be a string or a list of strings")
        return ()

    def patterns(self, value: Any, where: str) -> tuple[PagePattern, ...]:
        result = []
        for raw in self.strings(value, where, "pages"):
            try:
                result.append(PagePattern.parse(raw))
            except ValueError as exc:
                self.bad(where, str(exc))
        return tuple(result)

    def unknown(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                self.bad(where, f"unknown key '{key}' (expected one of: {', '.join(sorted(allowed))})")


_QUESTION_KEYS = {"key", "text", "kind", "retry", "first_message", "max_attempts"}
_CONDITION_KEYS = {
    "page",
    "team_size_at_least",
    "team_size_below",
    "personal_email",
    "email_domain",
    "answer_contains",
    "country",
}
# Plain texts of the playbook (greeting, bot lines); the ones with an {agent} placeholder are checked.
_TEXT_KEYS = (
    "name",
    "bot_name",
    "greeting",
    "widget_prompt",
    "thanks",
    "away_message",
    "away_no_calendar",
    "ask_email_for_followup",
    "nobody_message",
    "nobody_no_calendar",
    "meeting_offer",
    "meeting_offer_no_calendar",
)
_AGENT_TEXT_KEYS = ("away_message", "away_no_calendar", "meeting_offer", "meeting_offer_no_calendar")
_TOP_KEYS = {
    *_TEXT_KEYS,
    "pages",
    "questions",
    "rules",
    "personal_domains",
    "extra_personal_domains",
    "sla",
    "routing",
    "target_accounts",
}


def _question(r: _Reader, raw: Any, i: int, seen: set[str]) -> Question | None:
    where = f"questions[{i}]"
    if not isinstance(raw, dict):
        r.bad(where, "must be a table ([[questions]])")
        return None
    r.unknown(raw, _QUESTION_KEYS, where)
    key = r.str_(raw, "key", where, required=True)
    text = r.str_(raw, "text", where, required=True)
    kind = r.str_(raw, "kind", where, default="text")
    if kind not in QUESTION_KINDS:
        r.bad(where, f"kind {kind!r} is not one of {', '.join(QUESTION_KINDS)}")
        kind = "text"
    if key and not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
        r.bad(where, f"key {key!r} must be lower-case letters, digits and '_'")
    if key in seen:
        r.bad(where, f"key {key!r} is used by an earlier question")
    seen.add(key)
    first = raw.get("first_message", False)
    if not isinstance(first, bool):
        r.bad(where, "'first_message' must be true or false")
        first = False
    attempts = int(r.num(raw, "max_attempts", where, 3, minimum=1))
    default_retry = {
        "email": "Hmm, that doesn't look like an email address. Could you check it? (e.g. jane@company.com)",
        "team_size": "Sorry, how many people are on your team? A number, or a range like 50-200.",
    }.get(kind, "")
    retry = r.str_(raw, "retry", where, default=default_retry)
    if not key or not text:
        return None
    return Question(key, text, kind, retry, first, attempts)  # type: ignore[arg-type]


def _condition(r: _Reader, raw: Any, where: str) -> Condition:
    if not isinstance(raw, dict):
        r.bad(where, "'when' must be a table, e.g. when = { team_size_at_least = 200, page = '/pricing' }")
        return Condition()
    r.unknown(raw, _CONDITION_KEYS, where)
    if not raw:
        r.bad(where, "'when' is empty: a rule needs at least one condition")

    def opt_int(key: str) -> int | None:
        if key not in raw:
            return None
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            r.bad(where, f"'{key}' must be a whole number >= 0")
            return None
        return value

    personal = raw.get("personal_email")
    if personal is not None and not isinstance(personal, bool):
        r.bad(where, "'personal_email' must be true or false")
        personal = None
    contains: dict[str, tuple[str, ...]] = {}
    raw_contains = raw.get("answer_contains", {})
    if not isinstance(raw_contains, dict):
        r.bad(where, "'answer_contains' must be a table: { reason = ['demo', 'pricing'] }")
    else:
        for key, words in raw_contains.items():
            contains[key] = tuple(w.casefold() for w in r.strings(words, where, f"answer_contains.{key}"))
    return Condition(
        page=r.patterns(raw["page"], where) if "page" in raw else (),
        team_size_at_least=opt_int("team_size_at_least"),
        team_size_below=opt_int("team_size_below"),
        personal_email=personal,
        email_domain=tuple(d.lower() for d in r.strings(raw["email_domain"], where, "email_domain"))
        if "email_domain" in raw
        else (),
        answer_contains=contains,
        country=tuple(c.upper() for c in r.strings(raw["country"], where, "country"))
        if "country" in raw
        else (),
    )


def _rule(r: _Reader, raw: Any, i: int, answer_keys: set[str]) -> CqlRule | None:
    where = f"rules[{i}]"
    if not isinstance(raw, dict):
        r.bad(where, "must be a table ([[rules]])")
        return None
    r.unknown(raw, {"name", "when", "cql"}, where)
    name = r.str_(raw, "name", where, required=True)
    where = f"rules[{i}] ({name})" if name else where
    cql = raw.get("cql")
    if isinstance(cql, bool) or cql not in CQL_LEVELS:
        r.bad(where, f"'cql' must be one of {', '.join(map(str, CQL_LEVELS))} (0 = red line, 3 = MQL)")
        cql = None
    when = _condition(r, raw.get("when"), where)
    for key in when.answer_contains:
        if key not in answer_keys:
            r.bad(where, f"answer_contains names {key!r}, which no question asks")
    if cql is None or not name:
        return None
    return CqlRule(name, when, int(cql))


def parse_playbook(data: dict[str, Any], source: str = "<memory>") -> Playbook:
    r = _Reader(source)
    r.unknown(data, _TOP_KEYS, "top level")
    pages = r.patterns(data.get("pages", []), "pages")
    if "pages" not in data:
        r.bad(
            "top level", "'pages' is required (the URL patterns the bot runs on, e.g. ['/pricing', '/sales'])"
        )
    questions: list[Question] = []
    raw_questions = data.get("questions", [])
    if not isinstance(raw_questions, list):
        r.bad("questions", "must be an array of tables ([[questions]])")
        raw_questions = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_questions):
        q = _question(r, raw, i, seen)
        if q is not None:
            questions.append(q)
    if sum(q.first_message for q in questions) > 1:
        r.bad("questions", "only one question can be answered by the first message")
    rules: list[CqlRule] = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        r.bad("rules", "must be an array of tables ([[rules]])")
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(r, raw, i, seen)
        if rule is not None:
            rules.append(rule)

    personal = set(DEFAULT_PERSONAL_DOMAINS)
    if "personal_domains" in data:
        personal = set(r.strings(data["personal_domains"], "top level", "personal_domains"))
    personal |= set(r.strings(data.get("extra_personal_domains", []), "top level", "extra_personal_domains"))

    sla_raw = data.get("sla", {})
    if not isinstance(sla_raw, dict):
        r.bad("sla", "must be a table")
        sla_raw = {}
    r.unknown(
        sla_raw,
        {"first_response_seconds", "warning_seconds", "offer_meeting_seconds", "fallback", "fallback_after",
         "max_hops"},
        "sla",
    )  # fmt: skip
    first = r.num(sla_raw, "first_response_seconds", "sla", 30.0, minimum=1)
    warning = r.num(sla_raw, "warning_seconds", "sla", min(20.0, first * 2 / 3), minimum=0)
    offer = r.num(sla_raw, "offer_meeting_seconds", "sla", max(60.0, first), minimum=1)
    if warning >= first:
        r.bad("sla", f"warning_seconds ({warning:g}) must be less than first_response_seconds ({first:g})")
    if offer < first:
        r.bad(
            "sla",
            f"offer_meeting_seconds ({offer:g}) must not be less than first_response_seconds ({first:g})",
        )
    fallback = r.str_(sla_raw, "fallback", "sla", default="territory")
    if fallback not in FALLBACK_MODES:
        r.bad("sla", f"'fallback' must be one of {', '.join(FALLBACK_MODES)}, not {fallback!r}")
        fallback = "territory"
    fallback_after = r.num(sla_raw, "fallback_after", "sla", first, minimum=1)
    max_hops = r.num(sla_raw, "max_hops", "sla", 2, minimum=0)
    if max_hops != int(max_hops) or max_hops > 20:
        r.bad("sla", "'max_hops' must be a whole number from 0 to 20")
        max_hops = 2

    routing_raw = data.get("routing", {})
    if not isinstance(routing_raw, dict):
        r.bad("routing", "must be a table")
        routing_raw = {}
    r.unknown(
        routing_raw,
        {"territories_csv", "fallback_pool", "pools", "route_without_playbook", "backups"},
        "routing",
    )
    pools: dict[str, tuple[str, ...]] = {}
    raw_pools = routing_raw.get("pools", {})
    if not isinstance(raw_pools, dict):
        r.bad("routing.pools", "must be a table: name = ['a@x.com', ...]")
    else:
        for name, emails in raw_pools.items():
            pools[name] = tuple(e.strip().lower() for e in r.strings(emails, "routing.pools", name))
    backups: dict[str, tuple[str, ...]] = {}
    raw_backups = routing_raw.get("backups", {})
    if not isinstance(raw_backups, dict):
        r.bad("routing.backups", "must be a table: rule-name = ['a@x.com', ...]")
    else:
        for name, emails in raw_backups.items():
            backups[name] = tuple(e.strip().lower() for e in r.strings(emails, "routing.backups", name))
    route_without = routing_raw.get("route_without_playbook", True)
    if not isinstance(route_without, bool):
        r.bad("routing", "'route_without_playbook' must be true or false")
        route_without = True

    raw_targets = r.strings(data.get("target_accounts", []), "top level", "target_accounts")
    targets = tuple(t.strip().lower() for t in raw_targets if t.strip())
    texts = {key: r.str_(data, key, "top level", default=getattr(Playbook, key)) for key in _TEXT_KEYS}
    for key in _AGENT_TEXT_KEYS:
        try:
            texts[key].format(agent="X")
        except (KeyError, IndexError, ValueError) as exc:
            r.bad("top level", f"'{key}' may only use the placeholder {{agent}} ({exc!r})")
    if r.problems:
        raise PlaybookError(source, r.problems)
    return Playbook(
        **texts,
        pages=pages,
        questions=tuple(questions),
        rules=tuple(rules),
        personal_domains=frozenset(d.lower() for d in personal),
        sla=SlaSettings(first, warning, offer, fallback, fallback_after, int(max_hops)),  # type: ignore[arg-type]
        routing=RoutingSettings(
            territories_csv=r.str_(routing_raw, "territories_csv", "routing"),
            fallback_pool=r.str_(routing_raw, "fallback_pool", "routing", default="default"),
            pools=pools,
            route_without_playbook=route_without,
            backups=backups,
        ),
        target_accounts=targets,
        source=source,
    )


def loads_playbook(text: str, source: str = "<string>") -> Playbook:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(source, [f"not valid TOML: {exc}"]) from None
    return parse_playbook(data, source)


def load_playbook(path: str | Path | None = None) -> Playbook:
    """The playbook at ``path`` (default: chat_server/playbook.toml). Raises :class:`PlaybookError`."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(str(path), [f"can't read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise PlaybookError(str(path), [f"not UTF-8 text: {exc}"]) from None
    return loads_playbook(text, str(path))
