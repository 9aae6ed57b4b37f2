"""SQLite schema and connection settings (WAL; why synchronous=NORMAL is enough is explained below)."""

from __future__ import annotations

import sqlite3

# WAL + synchronous=NORMAL: a commit appends to the WAL with write(2) and returns; the WAL is fsynced at
# checkpoints. Data written by a committed transaction is in the OS page cache, so it survives kill -9 of
# the server process (the promise we make: nothing acked is lost when the process dies). It does not
# survive power loss of the machine between checkpoints; set synchronous=FULL (SDR_SERVER_... not exposed,
# one line here) if that matters more than the ~10x commit cost.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-32000",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    device TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_agent ON tokens(agent_id);
CREATE TABLE IF NOT EXISTS visitors (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    visitor_id TEXT NOT NULL REFERENCES visitors(id),
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL,
    data BLOB NOT NULL
);
-- What agents reported from the CRM about a visitor (update_visitor): server-side only, never sent to
-- the visitor; territory alignment ranks it above enrichment and the visitor's own answers.
CREATE TABLE IF NOT EXISTS visitor_facts (
    visitor_id TEXT PRIMARY KEY REFERENCES visitors(id),
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_visitor ON conversations(visitor_id, created_at);
CREATE INDEX IF NOT EXISTS conversations_status ON conversations(status, closed_at);
CREATE TABLE IF NOT EXISTS messages (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    created_at REAL NOT NULL,
    private INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, created_at, n);
CREATE TABLE IF NOT EXISTS events (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    principal TEXT NOT NULL,
    command_id TEXT NOT NULL,
    at REAL NOT NULL,
    response BLOB NOT NULL,
    PRIMARY KEY (principal, command_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS commands_at ON commands(at);
"""


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/SAVEPOINT/COMMIT ourselves (group commit needs that control).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn
