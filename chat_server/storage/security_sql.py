"""SQLite queries for token idle expiry and the expiry of anonymous visitors (a mixin for SqliteStorage)."""

from __future__ import annotations

from chat_server.storage.base import SqlConnection

# When a token was last used, or made (portable: SQLite has no greatest(), PostgreSQL no scalar max()).
_LAST_USE = "CASE WHEN coalesce(last_used_at, 0) > created_at THEN last_used_at ELSE created_at END"


def ensure_security_schema(conn: SqlConnection) -> None:
    """Adds tokens.last_used_at to databases made before it existed (NULL: counts from created_at)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}
    if "last_used_at" not in columns:
        conn.execute("ALTER TABLE tokens ADD COLUMN last_used_at REAL")


class SecuritySql:
    """Mixed into SqliteStorage: ``conn`` is its write connection and ``_begin`` opens the batch."""

    conn: SqlConnection
    # A visitor's last visit, from the JSON blob (PostgreSQL's storage overrides this with its own spelling).
    _VISITOR_LAST_SEEN = "json_extract(CAST(v.data AS TEXT), '$.last_seen')"

    def _begin(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")

    def token_last_used(self, token_hash: str) -> float | None:
        """When a valid (not revoked) token was last used to connect, or made; None for no such token."""
        row = self.conn.execute(
            f"SELECT {_LAST_USE} FROM tokens WHERE hash=? AND revoked_at IS NULL",
            (token_hash,),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def touch_token(self, token_hash: str, at: float) -> None:
        self._begin()
        self.conn.execute("UPDATE tokens SET last_used_at=? WHERE hash=?", (at, token_hash))

    def expire_idle_tokens(self, idle_before: float, at: float) -> int:
        """Revokes tokens not used since ``idle_before``; returns how many."""
        self._begin()
        cur = self.conn.execute(
            f"UPDATE tokens SET revoked_at=? WHERE revoked_at IS NULL AND {_LAST_USE} < ?",
            (at, idle_before),
        )
        return cur.rowcount

    def delete_anonymous_visitors(self, seen_before: float, keep: set[str], limit: int = 10_000) -> int:
        """Deletes visitors with no conversation and no CRM facts whose last visit is older than
        ``seen_before`` (a widget opened, never used), except ``keep`` (connected now); returns how many."""
        rows = self.conn.execute(
            "SELECT v.id FROM visitors v "
            f"WHERE coalesce({self._VISITOR_LAST_SEEN}, 0) < ? "
            "AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.visitor_id = v.id) "
            "AND NOT EXISTS (SELECT 1 FROM visitor_facts f WHERE f.visitor_id = v.id) LIMIT ?",
            (seen_before, limit),
        ).fetchall()
        doomed = [(row[0],) for row in rows if row[0] not in keep]
        if doomed:
            self._begin()
            self.conn.executemany("DELETE FROM visitors WHERE id=?", doomed)
        return len(doomed)
