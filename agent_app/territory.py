"""Territory table (CSV export of the team's spreadsheet): ordered rules, first match wins. Stdlib only.

Columns (header row required, any order, extra columns ignored): ``rule, country, region, segment,
sdr_email, pool``. ``country`` and ``region`` are comma-separated codes or ``*``; ``segment`` is ``*``,
``smb`` (<100 employees), ``mid`` (100-999), ``ent`` (>=1000), ``N-M`` or ``N+``; at least one of
``sdr_email``/``pool`` must be set. Blank lines and lines starting with ``#`` are skipped.
Used by the client panel and by the server's routing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

SEGMENTS: dict[str, tuple[int, int | None]] = {"smb": (0, 99), "mid": (100, 999), "ent": (1000, None)}
REQUIRED_COLUMNS = ("rule", "country", "region", "segment", "sdr_email", "pool")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")


class TerritoryError(ValueError):
    """The table has problems; ``errors`` lists every one as "line N: ..."."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """One parsed row."""

    name: str
    countries: frozenset[str] | None  # None = any
    regions: frozenset[str] | None
    min_employees: int | None
    max_employees: int | None
    sdr_email: str | None
    pool: str | None
    line: int

    def matches(self, country: str | None, region: str | None, employees: int | None) -> bool:
        """Unknown visitor data only matches wildcard columns."""
        if self.countries is not None and (country or "").upper() not in self.countries:
            return False
        if self.regions is not None and (region or "").upper() not in self.regions:
            return False
        if self.min_employees is None and self.max_employees is None:
            return True
        if employees is None:
            return False
        if self.min_employees is not None and employees < self.min_employees:
            return False
        return self.max_employees is None or employees <= self.max_employees


@dataclass(frozen=True)
class Match:
    """Who a visitor's company belongs to."""

    rule: str
    sdr_email: str | None
    pool: str | None
    line: int


def _codes(value: str) -> frozenset[str] | None:
    value = value.strip()
    if value in ("", "*"):
        return None
    return frozenset(v.strip().upper() for v in value.split(",") if v.strip())


def _segment(value: str) -> tuple[int | None, int | None]:
    value = value.strip().lower()
    if value in ("", "*"):
        return None, None
    if value in SEGMENTS:
        return SEGMENTS[value]
    if m := re.fullmatch(r"(\d+)\s*-\s*(\d+)", value):
        low, high = int(m.group(1)), int(m.group(2))
        if low > high:
            raise ValueError(f"segment range '{value}' is backwards")
        return low, high
    if m := re.fullmatch(r"(\d+)\s*\+", value):
        return int(m.group(1)), None
    raise ValueError(f"unknown segment '{value}' (use *, smb, mid, ent, N-M or N+)")


class TerritoryTable:
    """Ordered rules; ``align`` returns the first that matches."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    @classmethod
    def parse(cls, text: str) -> TerritoryTable:
        """Parse CSV text; raises TerritoryError listing every malformed row with its line number."""
        reader = csv.reader(io.StringIO(text))
        errors: list[str] = []
        header: list[str] | None = None
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise TerritoryError([f"line {line}: missing column(s) {', '.join(missing)}"])
                continue
            if len(row) != len(header):
                errors.append(f"line {line}: expected {len(header)} columns, found {len(row)}")
                continue
            cell = dict(zip(header, (c.strip() for c in row), strict=True))
            try:
                rules.append(cls._rule(cell, line, names))
            except ValueError as exc:
                errors.append(f"line {line}: {exc}")
        if header is None:
            errors.append("line 1: empty table (no header row)")
        elif not rules and not errors:
            errors.append(f"line {reader.line_num}: no rules")
        if errors:
            raise TerritoryError(errors)
        return cls(rules)

    @staticmethod
    def _rule(cell: dict[str, str], line: int, names: dict[str, int]) -> Rule:
        name = cell["rule"]
        if not name:
            raise ValueError("rule name is empty")
        if name in names:
            raise ValueError(f"rule '{name}' already defined on line {names[name]}")
        low, high = _segment(cell["segment"])
        email = cell["sdr_email"] or None
        if email is not None and not _EMAIL.match(email):
            raise ValueError(f"invalid sdr_email '{email}'")
        pool = cell["pool"] or None
        if email is None and pool is None:
            raise ValueError("needs an sdr_email or a pool")
        countries = _codes(cell["country"])
        if countries is not None and any(not re.fullmatch(r"[A-Z]{2}", c) for c in countries):
            raise ValueError(f"country must be ISO codes like US, DE or *, not '{cell['country']}'")
        names[name] = line
        return Rule(name, countries, _codes(cell["region"]), low, high, email, pool, line)

    @classmethod
    def load(cls, path: str | Path) -> TerritoryTable:
        """Parse a CSV file (UTF-8, optional BOM as spreadsheet exports write it)."""
        return cls.parse(Path(path).read_text(encoding="utf-8-sig"))

    def align(self, country: str | None, region: str | None, employees: int | None) -> Match | None:
        """First matching rule, or None when the table has no catch-all row."""
        for rule in self.rules:
            if rule.matches(country, region, employees):
                return Match(rule.name, rule.sdr_email, rule.pool, rule.line)
        return None
