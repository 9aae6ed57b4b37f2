"""A small, honest SOQL/SOSL subset: a real tokenizer (quotes, escapes), recursive-descent parser, evaluator.

SOQL: SELECT f, Rel.f | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; cond uses = != <> < <= > >= LIKE, [NOT] IN (...), AND, OR, NOT and parentheses.
SOSL: FIND {term} [IN ALL|NAME|EMAIL|PHONE FIELDS] RETURNING Obj(fields [WHERE] [ORDER BY] [LIMIT]), ...
[LIMIT n].
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
        if t.kind in ("STRING", "NUMBER", "DATE"):
            self.i += 1
            return t.value
        if self.is_kw("TRUE", "FALSE", "NULL"):
            self.i += 1
            return {"TRUE": True, "FALSE": False, "NULL": None}[t.text.upper()]
        self.fail()
        return None


def parse_soql(soql: str) -> Select:
    """Parse a SOQL statement (subset described in the module docstring)."""
    p = _Parser(soql, tokenize(soql))
    p.expect_kw("SELECT")
    fields, count = p.field_list()
    p.expect_kw("FROM")
    q = Select(sobject=p.ident(), fields=fields, count=count)
    return p.tail(q, lambda: p.tok.kind == "EOF")


@dataclass
class Search:
    """A parsed SOSL statement."""

    terms: list[list[re.Pattern[str]]]  # OR of AND groups
    scope: str
    returning: list[Select]
    limit: int | None


def _parse_find_term(raw: str) -> list[list[re.Pattern[str]]]:
    # Words and "phrases"; unescaped * and ? are wildcards; a backslash makes the next char literal.
    words: list[tuple[str, bool]] = []  # (regex, is_operator)
    i, buf, quoted = 0, "", False
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            buf += re.escape(raw[i + 1])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c.isspace() and not quoted:
            if buf:
                words.append((buf, False))
            buf = ""
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
    if buf:
        words.append((buf, False))
    groups: list[list[re.Pattern[str]]] = [[]]
    for text, _ in words:
        if text == "OR":
            groups.append([])
        elif text in ("AND",):
            continue
        else:
            groups[-1].append(re.compile(text.replace(r"\ ", r"\s+"), re.I))
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
        found = _norm(value) in [_norm(v) for v in expr[2]]
        return found is not bool(expr[3])
    op, lit = expr[2], expr[3]
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


def order_records(
    records: list[dict[str, Any]], order: Iterable[tuple[str, bool, bool]], get: Getter
) -> None:
    """Sort in place by ORDER BY keys (stable, applied last key first)."""
    for name, desc, nulls_last in reversed(list(order)):
        present = [r for r in records if get(r, name) is not None]
        missing = [r for r in records if get(r, name) is None]
        present.sort(key=lambda r: _norm(get(r, name)), reverse=desc)
        records[:] = present + missing if nulls_last else missing + present


def term_matches(terms: list[list[re.Pattern[str]]], texts: list[str]) -> bool:
    """True when every word of some OR-group occurs in one of the searched field values."""
    return any(all(any(p.search(t) for t in texts) for p in group) for group in terms)
