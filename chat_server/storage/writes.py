"""The statements of a visitor message's hot path, named once: the SQL modules write them, and the
PostgreSQL dialect merges a batch's worth of each into one statement (pg.coalesce)."""

from __future__ import annotations

INSERT_CONVERSATION = (
    "INSERT INTO conversations (id, visitor_id, status, created_at, closed_at, data) VALUES (?,?,?,?,?,?)"
)
UPDATE_CONVERSATION = "UPDATE conversations SET status=?, closed_at=?, data=? WHERE id=?"
INSERT_MESSAGE = (
    "INSERT INTO messages (id, conversation_id, created_at, private, data) VALUES (?, ?, ?, ?, ?)"
)
INSERT_COMMAND = "INSERT INTO commands VALUES (?, ?, ?, ?)"
# PostgreSQL: all of a command's event rows in one statement (one array per column).
INSERT_EVENTS = (
    "INSERT INTO events (agent_id, seq, at, frame) "
    "SELECT * FROM unnest(?::text[], ?::bigint[], ?::float8[], ?::bytea[])"
)
# The cluster's frames for visitors connected to other processes (chat_server/cluster/schema.py).
INSERT_VISITOR_FRAME = "INSERT INTO visitor_frames (origin, visitor_id, frame, at) VALUES (?, ?, ?, ?)"
