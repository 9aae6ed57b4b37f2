"""SQLite table and queries for saved replies (a mixin for SqliteStorage, like MeetingsSql)."""

from __future__ import annotations

from agent_app.protocol import SavedReply
from chat_server.storage.base import SqlConnection

# CREATE ... IF NOT EXISTS runs at every start, so a database file from before saved replies existed
# gains the table (and nothing else changes) the first time a newer server opens it.
REPLIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS saved_replies (
    id TEXT PRIMARY KEY,
    owner_id TEXT,
    shortcut TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_at REAL NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS saved_replies_owner ON saved_replies(owner_id, shortcut);
"""

_COLUMNS = "id, owner_id, shortcut, title, text, updated_at, updated_by"


def ensure_replies_schema(conn: SqlConnection) -> None:
    conn.executescript(REPLIES_SCHEMA)


def _reply(row: tuple[str, str | None, str, str, str, float, str]) -> SavedReply:
    rid, owner, shortcut, title, text, updated_at, updated_by = row
    return SavedReply(
        id=rid, owner_id=owner, shortcut=shortcut, title=title, text=text, updated_at=updated_at,
        updated_by=updated_by,
    )  # fmt: skip


class RepliesSql:
    """Mixed into SqliteStorage: ``conn`` is its write connection (reads see the open batch too)."""

    conn: SqlConnection

    def _begin(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")

    def saved_replies_for(self, agent_id: str) -> list[SavedReply]:
        """The team's replies and ``agent_id``'s own, team first, each by shortcut."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM saved_replies WHERE owner_id IS NULL OR owner_id=? "
            "ORDER BY owner_id IS NOT NULL, shortcut, id",
            (agent_id,),
        )
        return [_reply(r) for r in rows]

    def get_saved_reply(self, reply_id: str) -> SavedReply | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM saved_replies WHERE id=?", (reply_id,)).fetchone()
        return _reply(row) if row else None

    def count_saved_replies(self, owner_id: str | None) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM saved_replies WHERE owner_id IS ?", (owner_id,)
        ).fetchone()
        return int(row[0])

    def saved_reply_by_shortcut(self, owner_id: str | None, shortcut: str) -> SavedReply | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM saved_replies WHERE owner_id IS ? AND shortcut=?", (owner_id, shortcut)
        ).fetchone()
        return _reply(row) if row else None

    def save_saved_reply(self, reply: SavedReply) -> None:
        self._begin()
        self.conn.execute(
            f"INSERT INTO saved_replies ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET shortcut=excluded.shortcut, title=excluded.title, "
            "text=excluded.text, updated_at=excluded.updated_at, updated_by=excluded.updated_by",
            (reply.id, reply.owner_id, reply.shortcut, reply.title, reply.text, reply.updated_at,
             reply.updated_by),
        )  # fmt: skip

    def delete_saved_reply(self, reply_id: str) -> None:
        self._begin()
        self.conn.execute("DELETE FROM saved_replies WHERE id=?", (reply_id,))

    def newest_seq(self, agent_id: str) -> int:
        """The newest seq of the agent's stream including the open batch (head_seq is committed only)."""
        row = self.conn.execute("SELECT max(seq) FROM events WHERE agent_id=?", (agent_id,)).fetchone()
        return int(row[0] or 0)
