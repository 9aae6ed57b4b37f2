"""Queries shared by the write connection (sees the open batch) and the read-only committed view."""

from __future__ import annotations

import msgspec

from agent_app.protocol import Agent, Conversation, Message, Visitor
from chat_server.storage.base import AgentRecord, SqlConnection, VisitorFacts

_agent = msgspec.json.Decoder(Agent)
_conversation = msgspec.json.Decoder(Conversation)
_message = msgspec.json.Decoder(Message)
_visitor = msgspec.json.Decoder(Visitor)
_facts = msgspec.json.Decoder(VisitorFacts)
# The data of the latest conversation of visitor ``v`` (a scalar subquery both dialects speak).
_LATEST_OF_V = (
    "(SELECT c.data FROM conversations c WHERE c.visitor_id = v.id "
    "ORDER BY c.created_at DESC, c.rowid DESC LIMIT 1)"
)


class Reads:
    # SQLite's agents.email is COLLATE NOCASE (case-insensitive as it is); PostgreSQL compares lower().
    _EMAIL_MATCH = "email=?"

    def __init__(self, conn: SqlConnection) -> None:
        self.conn = conn

    def get_agent(self, agent_id: str) -> Agent | None:
        row = self.conn.execute("SELECT data FROM agents WHERE id=?", (agent_id,)).fetchone()
        return _agent.decode(row[0]) if row else None

    def agent_by_email(self, email: str) -> AgentRecord | None:
        row = self.conn.execute(
            f"SELECT data, password_hash FROM agents WHERE {self._EMAIL_MATCH}", (email.strip(),)
        ).fetchone()
        return AgentRecord(_agent.decode(row[0]), row[1]) if row else None

    def list_agents(self) -> list[Agent]:
        return [_agent.decode(r[0]) for r in self.conn.execute("SELECT data FROM agents ORDER BY email")]

    def token_agent(self, token_hash: str) -> str | None:
        row = self.conn.execute(
            "SELECT agent_id FROM tokens WHERE hash=? AND revoked_at IS NULL", (token_hash,)
        ).fetchone()
        return str(row[0]) if row else None

    def visitor_by_token(self, token_hash: str) -> Visitor | None:
        row = self.conn.execute("SELECT data FROM visitors WHERE token_hash=?", (token_hash,)).fetchone()
        return _visitor.decode(row[0]) if row else None

    def get_visitor(self, visitor_id: str) -> Visitor | None:
        row = self.conn.execute("SELECT data FROM visitors WHERE id=?", (visitor_id,)).fetchone()
        return _visitor.decode(row[0]) if row else None

    def visitor_facts(self, visitor_id: str) -> VisitorFacts | None:
        row = self.conn.execute("SELECT data FROM visitor_facts WHERE visitor_id=?", (visitor_id,)).fetchone()
        return _facts.decode(row[0]) if row else None

    def _with_visitor(self, blob: bytes, visitor_blob: bytes) -> Conversation:
        conversation = _conversation.decode(blob)
        conversation.visitor = _visitor.decode(visitor_blob)
        return conversation

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self.conn.execute(
            "SELECT c.data, v.data FROM conversations c JOIN visitors v ON v.id = c.visitor_id WHERE c.id=?",
            (conversation_id,),
        ).fetchone()
        return self._with_visitor(row[0], row[1]) if row else None

    def latest_conversation(self, visitor_id: str) -> Conversation | None:
        row = self.conn.execute(
            "SELECT c.data, v.data FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
            "WHERE c.visitor_id=? ORDER BY c.created_at DESC, c.rowid DESC LIMIT 1",
            (visitor_id,),
        ).fetchone()
        return self._with_visitor(row[0], row[1]) if row else None

    def visitor_and_latest(self, visitor_id: str) -> tuple[Visitor | None, Conversation | None]:
        """get_visitor and latest_conversation in one query (one round trip on PostgreSQL)."""
        row = self.conn.execute(
            f"SELECT v.data, {_LATEST_OF_V} FROM visitors v WHERE v.id=?",
            (visitor_id,),
        ).fetchone()
        return (None, None) if row is None else _visitor_and_conversation(row[0], row[1])

    def conversations(self, closed_since: float) -> list[Conversation]:
        """All open conversations and those closed since ``closed_since``, oldest first."""
        rows = self.conn.execute(
            "SELECT c.data, v.data FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
            "WHERE c.status='open' OR c.closed_at>=? ORDER BY c.created_at",
            (closed_since,),
        )
        return [self._with_visitor(a, b) for a, b in rows]

    def messages(
        self, conversation_id: str, before: float | None, limit: int, include_private: bool
    ) -> tuple[list[Message], bool]:
        sql = "SELECT data FROM messages WHERE conversation_id=?"
        args: list[object] = [conversation_id]
        if before is not None:
            sql += " AND created_at<?"
            args.append(before)
        if not include_private:
            sql += " AND private=0"
        sql += " ORDER BY created_at DESC, n DESC LIMIT ?"
        args.append(limit + 1)
        rows = self.conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        return [_message.decode(r[0]) for r in reversed(rows[:limit])], more

    def recent_messages(self, conversation_id: str, limit: int, include_private: bool) -> list[Message]:
        return self.messages(conversation_id, None, limit, include_private)[0]

    def events_after(self, agent_id: str, after_seq: int, limit: int) -> list[tuple[int, bytes]] | None:
        rows = self.conn.execute(
            "SELECT seq, frame FROM events WHERE agent_id=? AND seq>? ORDER BY seq LIMIT ?",
            (agent_id, after_seq, limit + 1),
        ).fetchall()
        if len(rows) > limit:
            return None
        if rows and rows[0][0] != after_seq + 1:
            return None  # the oldest missed events were pruned
        return [(int(s), bytes(f)) for s, f in rows]

    def batch_reads(
        self, keys: list[tuple[str, str]], visitor_ids: list[str]
    ) -> tuple[dict[tuple[str, str], bytes], dict[str, tuple[Visitor, Conversation | None]]]:
        """The stored results of those of ``keys`` (principal, command id) that ran, and visitor_and_latest
        of the ``visitor_ids`` that exist: one query (one round trip) per 100 of each."""
        results: dict[tuple[str, str], bytes] = {}
        visitors: dict[str, tuple[Visitor, Conversation | None]] = {}
        for start in range(0, max(len(keys), len(visitor_ids)), 100):
            chunk, ids = keys[start : start + 100], visitor_ids[start : start + 100]
            parts: list[str] = []
            params: list[object] = []
            if chunk:
                match = " OR ".join(["(principal=? AND command_id=?)"] * len(chunk))
                parts.append(f"SELECT 0, principal, command_id, response, NULL FROM commands WHERE {match}")
                params += [value for key in chunk for value in key]
            if ids:
                parts.append(
                    f"SELECT 1, v.id, '', v.data, {_LATEST_OF_V} FROM visitors v "
                    f"WHERE v.id IN ({', '.join('?' * len(ids))})"
                )
                params += ids
            for kind, a, b, data, latest in self.conn.execute(" UNION ALL ".join(parts), params):
                if kind == 0:
                    results[(str(a), str(b))] = bytes(data)
                    continue
                visitors[str(a)] = _visitor_and_conversation(data, latest)
        return results, visitors

    def command_result(self, principal: str, command_id: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT response FROM commands WHERE principal=? AND command_id=?", (principal, command_id)
        ).fetchone()
        return bytes(row[0]) if row else None


def _visitor_and_conversation(data: bytes, latest: bytes | None) -> tuple[Visitor, Conversation | None]:
    """A visitor row and the data of its latest conversation (None: it has none), decoded together."""
    visitor = _visitor.decode(data)
    if latest is None:
        return visitor, None
    conversation = _conversation.decode(latest)
    conversation.visitor = visitor
    return visitor, conversation
