"""Database error classes of both storages, for code that must catch them whichever one runs."""

from __future__ import annotations

import sqlite3

import psycopg

# A UNIQUE (or other) constraint refused a write: e.g. a slot booked by a racing writer.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
# Anything the database said no to, or could not be reached for (CLI: one line, no traceback).
STORAGE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
