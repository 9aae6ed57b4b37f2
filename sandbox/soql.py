"""A small, honest SOQL/SOSL subset: a real tokenizer (quotes, escapes), recursive-descent parser, evaluator.

SOQL: SELECT f, Rel.f | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; cond uses = != <> < <= > >= LIKE, [NOT] IN (...), AND, OR, NOT and parentheses.
Dates and datetimes compare by instant; date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n and
NEXT_N_DAYS:n are whole UTC days relative to the parse-time "now".
SOSL: FIND {term} [IN ALL|NAME|EMAIL|PHONE FIELDS] RETURNING Obj(fields [WHERE] [ORDER BY] [LIMIT]), ...
[LIMIT n].
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "IN",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "TRUE",
    "FALSE",
    "NULL",
    "FIND",
    "RETURNING",
    "FIELDS",
}
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_SOSL_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")


class QueryError(Exception):
    """A query the real API would reject; code is MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Token:
    kind: str  # IDENT, STRING, NUMBER, DATE, OP, EOF
    text: str
    pos: int
    value: Any = None
    like: re.Pattern[str] | None = None  # for STRING: the LIKE pattern, honouring \% and \_


def _malformed(soql: str, pos: int, detail: str) -> QueryError:
    # Same layout as the real message: the query, a caret, the row/column, the complaint.
    return QueryError("MALFORMED_QUERY", f"\n{soql}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{detail}")


def tokenize(soql: str, start: int = 0) -> list[Token]:
    """Split SOQL into tokens; string literals are unescaped and carry their LIKE regex."""
    tokens: list[Token] = []
    i, n = start, len(soql)
    while i < n:
        c = soql[i]
        if c.isspace():
            i += 1
        elif c == "'":
            j, chars, regex = i + 1, [], []
            while True:
                if j >= n:
                    raise _malformed(soql, i, f"line 1:{i} no viable alternative at character <EOF>")
                ch = soql[j]
                if ch == "'":
                    break
                if ch == "\\":
                    if j + 1 >= n:
                        raise _malformed(soql, j, "unterminated escape")
                    esc = soql[j + 1]
                    if esc in _ESCAPES:
                        chars.append(_ESCAPES[esc])
                        regex.append(re.escape(_ESCAPES[esc]))
                        j += 2
                    elif esc in "%_":
                        chars.append(esc)
                        regex.append(re.escape(esc))
                        j += 2
                    elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", soql[j + 2 : j + 6]):
                        ch2 = chr(int(soql[j + 2 : j + 6], 16))
                        chars.append(ch2)
                        regex.append(re.escape(ch2))
                        j += 6
                    else:
                        raise _malformed(
                            soql, j, f"Invalid string literal '{soql[i : j + 2]}'. Illegal escape sequence"
                        )
                    continue
                chars.append(ch)
                regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
                j += 1
            tokens.append(
                Token("STRING", soql[i : j + 1], i, "".join(chars), re.compile("".join(regex), re.I | re.S))
            )
            i = j + 1
        elif m := re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?").match(soql, i):
            tokens.append(Token("DATE", m.group(), i, m.group()))
            i = m.end()
        elif m := _DATE_LITERAL.match(soql, i):
            tokens.append(Token("DATELIT", m.group(), i, m.group().upper()))
            i = m.end()
        elif m := re.compile(r"-?\d+(\.\d+)?").match(soql, i):
            text = m.group()
            tokens.append(Token("NUMBER", text, i, float(text) if "." in text else int(text)))
            i = m.end()
        elif m := re.compile(r"[A-Za-z_][A-Za-z0-9_.]*").match(soql, i):
            tokens.append(Token("IDENT", m.group(), i))
            i = m.end()
        elif m := re.compile(r"!=|<>|<=|>=|[=<>(),]").match(soql, i):
            tokens.append(Token("OP", "!=" if m.group() == "<>" else m.group(), i))
            i = m.end()
        else:
            raise _malformed(soql, i, f"line 1:{i} no viable alternative at character '{c}'")
    tokens.append(Token("EOF", "", n))
    return tokens


@dataclass
class Select:
    """A parsed SELECT (also used for one SOSL RETURNING object)."""

    sobject: str
    fields: list[str]
    count: bool = False
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0


class _Parser:
    now: datetime | None = None  # for date literals; parse time when not given

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text, self.tokens, self.i = text, tokens, 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.text.upper() in words

    def next(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            self.fail()
        self.i += 1

    def expect_op(self, op: str) -> None:
        if self.tok.kind != "OP" or self.tok.text != op:
            self.fail()
        self.i += 1

    def fail(self) -> None:
        t = self.tok
        detail = "unexpected token: <EOF>" if t.kind == "EOF" else f"unexpected token: '{t.text}'"
        raise _malformed(self.text, t.pos, detail)

    def ident(self) -> str:
        if self.tok.kind != "IDENT" or self.tok.text.upper() in KEYWORDS - {"FIRST", "LAST"}:
            self.fail()
        return self.next().text

    def field_list(self) -> tuple[list[str], bool]:
        if self.is_kw("COUNT"):
            self.i += 1
            self.expect_op("(")
            self.expect_op(")")
            return [], True
        fields = [self.ident()]
        while self.tok.kind == "OP" and self.tok.text == ",":
            self.i += 1
            fields.append(self.ident())
        return fields, False

    def tail(self, q: Select, stop: Callable[[], bool]) -> Select:
        if self.is_kw("WHERE"):
            self.i += 1
            q.where = self.or_expr()
        if self.is_kw("ORDER"):
            self.i += 1
            self.expect_kw("BY")
            while True:
                name = self.ident()
                desc = False
                if self.is_kw("ASC", "DESC"):
                    desc = self.next().text.upper() == "DESC"
                nulls_last = desc
                if self.is_kw("NULLS"):
                    self.i += 1
                    if not self.is_kw("FIRST", "LAST"):
                        self.fail()
                    nulls_last = self.next().text.upper() == "LAST"
                q.order.append((name, desc, nulls_last))
                if self.tok.kind == "OP" and self.tok.text == ",":
                    self.i += 1
                    continue
                break
        if self.is_kw("LIMIT"):
            self.i += 1
            if self.tok.kind != "NUMBER" or not isinstance(self.tok.value, int):
                self.fail()
            q.limit = self.next().value
        if self.is_kw("OFFSET"):
            self.i += 1
            if self.tok.kind != "NUMBER":
                self.fail()
            q.offset = int(self.next().value)
        if not stop():
            self.fail()
        return q

    def or_expr(self) -> Any:
        left = self.and_expr()
        while self.is_kw("OR"):
            self.i += 1
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self) -> Any:
        left = self.not_expr()
        while self.is_kw("AND"):
            self.i += 1
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self) -> Any:
        if self.is_kw("NOT"):
            self.i += 1
            return ("not", self.not_expr())
        if self.tok.kind == "OP" and self.tok.text == "(":
            self.i += 1
            inner = self.or_expr()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self) -> Any:
        name = self.ident()
        if self.is_kw("LIKE"):
            self.i += 1
            if self.tok.kind != "STRING":
                self.fail()
            return ("like", name, self.next().like)
        negate = False
        if self.is_kw("NOT"):
            self.i += 1
            negate = True
            if not self.is_kw("IN"):
                self.fail()
        if self.is_kw("IN"):
            self.i += 1
            self.expect_op("(")
            values = [self.literal()]
            while self.tok.kind == "OP" and self.tok.text == ",":
                self.i += 1
                values.append(self.literal())
            self.expect_op(")")
            return ("in", name, values, negate)
        if self.tok.kind != "OP" or self.tok.text not in ("=", "!=", "<", "<=", ">", ">="):
            self.fail()
        op = self.next().text
        return ("cmp", name, op, self.literal())

    def literal(self) -> Any:
        t = self.tok
        if t.kind == "DATE":
            self.i += 1
            return Instant(t.value, _instant(t.value))
        if t.kind == "DATELIT":
            self.i += 1
            return _date_range(t.value, self.now or datetime.now(UTC))
        if t.kind in ("STRING", "NUMBER"):
            self.i += 1
            return t.value
        if self.is_kw("TRUE", "FALSE", "NULL"):
            self.i += 1
            return {"TRUE": True, "FALSE": False, "NULL": None}[t.text.upper()]
        self.fail()
        return None


def parse_soql(soql: str, now: datetime | None = None) -> Select:
    """Parse a SOQL statement (subset described in the module docstring)."""
    p = _Parser(soql, tokenize(soql))
    p.now = now
    p.expect_kw("SELECT")
    fields, count = p.field_list()
    p.expect_kw("FROM")
    q = Select(sobject=p.ident(), fields=fields, count=count)
    return p.tail(q, lambda: p.tok.kind == "EOF")


@dataclass
class Search:
    """A parsed SOSL statement."""

    terms: list[list[tuple[re.Pattern[str], bool]]]  # OR of AND groups of (word, negated)
    scope: str
    returning: list[Select]
    limit: int | None


def _parse_find_term(raw: str) -> list[list[tuple[re.Pattern[str], bool]]]:
    # Words and "phrases"; unescaped * and ? are wildcards; a backslash makes the next char literal.
    # AND, OR and NOT are operators in any letter case (as in Salesforce) unless quoted.
    words: list[tuple[str, bool]] = []  # (regex, was quoted)
    i, buf, quoted, had_quote = 0, "", False, False

    def flush() -> None:
        nonlocal buf, had_quote
        if buf:
            words.append((buf, had_quote))
        buf, had_quote = "", False

    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            buf += re.escape(raw[i + 1])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            had_quote = True
        elif c.isspace() and not quoted:
            flush()
        elif c == "*":
            buf += r"\S*"
        elif c == "?":
            buf += r"\S"
        elif c in _SOSL_RESERVED and not quoted:
            raise QueryError(
                "MALFORMED_SEARCH",
                f"Reserved character '{c}' in the search term must be escaped with a backslash",
            )
        else:
            buf += re.escape(c)
        i += 1
    flush()
    groups: list[list[tuple[re.Pattern[str], bool]]] = [[]]
    pending: str | None = None  # an operator waiting for its right-hand term
    negate = False
    for text, was_quoted in words:
        op = None if was_quoted else text.upper()
        if op in ("AND", "OR", "NOT"):
            if op == "NOT" and pending in (None, "AND") and not negate and (groups[-1] or pending):
                negate, pending = True, "NOT"
            elif op != "NOT" and pending is None and groups[-1]:
                pending = op
                if op == "OR":
                    groups.append([])
            else:
                raise QueryError("MALFORMED_SEARCH", f"unexpected operator '{text}' in the search term")
            continue
        groups[-1].append((re.compile(text.replace(r"\ ", r"\s+"), re.I), negate))
        pending, negate = None, False
    if pending is not None:
        raise QueryError("MALFORMED_SEARCH", "the search term ends with an operator")
    groups = [g for g in groups if g]
    if not groups:
        raise QueryError("MALFORMED_SEARCH", "search term must be longer than one character")
    return groups


def parse_sosl(sosl: str) -> Search:
    """Parse a SOSL statement (subset described in the module docstring)."""
    m = re.match(r"\s*FIND\s*\{", sosl, re.I)
    if not m:
        raise QueryError(
            "MALFORMED_SEARCH", "No search term found. The search term must be enclosed in braces."
        )
    i, raw = m.end(), ""
    while i < len(sosl) and sosl[i] != "}":
        if sosl[i] == "\\" and i + 1 < len(sosl):
            raw += sosl[i : i + 2]
            i += 2
            continue
        raw += sosl[i]
        i += 1
    if i >= len(sosl):
        raise QueryError(
            "MALFORMED_SEARCH", "No search term found. The search term must be enclosed in braces."
        )
    p = _Parser(sosl, tokenize(sosl, i + 1))
    scope = "ALL"
    if p.is_kw("IN"):
        p.i += 1
        if not p.is_kw("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR"):
            p.fail()
        scope = p.next().text.upper()
        p.expect_kw("FIELDS")
    returning: list[Select] = []
    if p.is_kw("RETURNING"):
        p.i += 1
        while True:
            q = Select(sobject=p.ident(), fields=["Id"])
            if p.tok.kind == "OP" and p.tok.text == "(":
                p.i += 1
                q.fields, _ = p.field_list()
                p.tail(q, lambda: p.tok.kind == "OP" and p.tok.text == ")")
                p.i += 1
            returning.append(q)
            if p.tok.kind == "OP" and p.tok.text == ",":
                p.i += 1
                continue
            break
    limit = None
    if p.is_kw("LIMIT"):
        p.i += 1
        limit = int(p.next().value)
    if p.tok.kind != "EOF":
        p.fail()
    return Search(_parse_find_term(raw), scope, returning, limit)


Getter = Callable[[dict[str, Any], str], Any]


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def matches(expr: Any, record: dict[str, Any], get: Getter) -> bool:
    """Evaluate a WHERE tree; string comparisons are case-insensitive like SOQL's."""
    if expr is None:
        return True
    kind = expr[0]
    if kind == "and":
        return matches(expr[1], record, get) and matches(expr[2], record, get)
    if kind == "or":
        return matches(expr[1], record, get) or matches(expr[2], record, get)
    if kind == "not":
        return not matches(expr[1], record, get)
    value = get(record, expr[1])
    if kind == "like":
        return isinstance(value, str) and expr[2].fullmatch(value) is not None
    if kind == "in":
        found = _norm(value) in [_norm(v.text if isinstance(v, Instant) else v) for v in expr[2]]
        return found is not bool(expr[3])
    op, lit = expr[2], expr[3]
    if isinstance(lit, DateRange):
        at = _instant(value)
        if at is None:
            return bool(op == "!=")
        inside = lit.start <= at < lit.end
        return {
            "=": inside,
            "!=": not inside,
            "<": at < lit.start,
            "<=": at < lit.end,
            ">": at >= lit.end,
            ">=": at >= lit.start,
        }[op]
    if isinstance(lit, Instant):
        at = _instant(value)
        if at is None or lit.at is None:
            lit = lit.text  # not a date field: compare as text, as before
        else:
            value, lit = at, lit.at
    a, b = _norm(value), _norm(lit)
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    except TypeError:
        return False


_DATE_LITERAL = re.compile(r"(?i)(TODAY|YESTERDAY|TOMORROW|(LAST|NEXT)_N_DAYS:\d+)\b")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


@dataclass(frozen=True)
class Instant:
    """A date or datetime literal: its text and the moment it names (midnight UTC for a date)."""

    text: str
    at: datetime | None


@dataclass(frozen=True)
class DateRange:
    """A relative date literal (TODAY, LAST_N_DAYS:7 ...) as the UTC interval [start, end)."""

    start: datetime
    end: datetime


def _instant(value: Any) -> datetime | None:
    """The moment a date/datetime value names: 2025-01-06, 2025-01-06T09:00:00.000+0000, ...Z, +02:00."""
    if not isinstance(value, str):
        return None
    m = _DATETIME.match(value.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s, tz = m.groups()
    at = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        at -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return at


def _date_range(literal: str, now: datetime) -> DateRange:
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    if literal == "TODAY":
        return DateRange(today, today + day)
    if literal == "YESTERDAY":
        return DateRange(today - day, today)
    if literal == "TOMORROW":
        return DateRange(today + day, today + 2 * day)
    n = int(literal.rpartition(":")[2])
    # As in the SOQL guide: LAST_N_DAYS:n is the past n days and today; NEXT_N_DAYS:n the next n days
    # without today.
    if literal.startswith("LAST"):
        return DateRange(today - n * day, today + day)
    return DateRange(today + day, today + (n + 1) * day)


def order_records(
    records: list[dict[str, Any]], order: Iterable[tuple[str, bool, bool]], get: Getter
) -> None:
    """Sort in place by ORDER BY keys (stable, applied last key first)."""
    for name, desc, nulls_last in reversed(list(order)):
        present = [r for r in records if get(r, name) is not None]
        missing = [r for r in records if get(r, name) is None]
        present.sort(key=lambda r: _norm(get(r, name)), reverse=desc)
        records[:] = present + missing if nulls_last else missing + present


def term_matches(terms: list[list[tuple[re.Pattern[str], bool]]], texts: list[str]) -> bool:
    """True when, for some OR-group, every word occurs (and every NOT word doesn't) in the field values."""
    return any(all(any(p.search(t) for t in texts) != neg for p, neg in group) for group in terms)
