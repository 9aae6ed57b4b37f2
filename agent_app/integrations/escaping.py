"""Escaping for SOQL string literals, SOQL LIKE patterns and SOSL search terms."""

from __future__ import annotations

import re

# SOQL quoted-string escapes, from the SOQL guide's "Quoted String Escape Sequences".
_SOQL = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
# Characters SOSL reserves inside FIND {...}; each must be preceded by a backslash.
SOSL_RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")


def soql_quote(value: str | bool | int | float | None) -> str:
    """A SOQL literal: 'text' with escapes, true/false, null or a number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + "".join(_SOQL.get(ch, ch) for ch in value) + "'"


def soql_like(value: str, *, prefix: str = "", suffix: str = "") -> str:
    """A LIKE literal: the value matched literally (% and _ escaped), wrapped in the given wildcards."""
    inner = "".join(_SOQL.get(ch, "\\" + ch if ch in "%_" else ch) for ch in value)
    return "'" + prefix + inner + suffix + "'"


# Salesforce reads these words as operators in any letter case; quoted, they are searched for as words
# (SOSL guide, "Example Text Searches": FIND {"and" or "or"}).
SOSL_OPERATORS = frozenset({"and", "or", "not"})


def sosl_escape(term: str) -> str:
    """Escape a term for FIND {...}: reserved characters get a backslash and operator words are quoted,
    so the text matches literally."""
    parts = re.split(r"(\s+)", term)
    return "".join(
        f'"{part}"'
        if part.lower() in SOSL_OPERATORS
        else "".join("\\" + ch if ch in SOSL_RESERVED else ch for ch in part)
        for part in parts
    )


def soql_in(values: list[str]) -> str:
    """A parenthesised IN list of quoted literals."""
    return "(" + ", ".join(soql_quote(v) for v in values) + ")"
