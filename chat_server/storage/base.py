"""The storage interface the service layer depends on; routing code never sees SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from agent_app.protocol import Agent, Conversation, Message, Visitor


class SqlCursor(Protocol):
    """What the SQL modules use of a cursor: sqlite3.Cursor and pg.PgCursor both fit."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """The sqlite3-like calls the shared SQL modules (reads, meetings, replies, security, sla) make, with
    ``?`` placeholders: a sqlite3.Connection, or pg.PgConnection which translates them for PostgreSQL."""

    def execute(self, sql: str, parameters: Any = (), /) -> SqlCursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> SqlCursor: ...

    def executescript(self, sql_script: str, /) -> SqlCursor: ...

    @property
    def in_transaction(self) -> bool: ...


@dataclass
class AgentRecord:
    agent: Agent
    password_hash: str


class VisitorFacts(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What agents reported from the CRM about a visitor (``update_visitor``): kept on the server only,
    with where it came from, so territory alignment can rank it and say so (``Routing.basis``)."""

    source: str = ""  # e.g. "Salesforce lead"; "" = typed in by the agent
    country: str = ""
    region: str = ""
    team_size: int | None = None
    company: str = ""
    by_id: str = ""
    at: float = 0.0


class CommittedView(Protocol):
    """Reads that see only committed data: what may be shown to a client before its next event."""

    def events_after(self, agent_id: str, after_seq: int, limit: int) -> list[tuple[int, bytes]] | None:
        """Events with seq > after_seq in order, or None when some of them were pruned already."""
        ...

    def conversations(self, closed_since: float) -> list[Conversation]: ...

    def latest_conversation(self, visitor_id: str) -> Conversation | None: ...

    def visitor_and_latest(self, visitor_id: str) -> tuple[Visitor | None, Conversation | None]: ...

    def visitor_facts(self, visitor_id: str) -> VisitorFacts | None: ...

    def recent_messages(self, conversation_id: str, limit: int, include_private: bool) -> list[Message]: ...

    def list_agents(self) -> list[Agent]: ...


class Storage(Protocol):
    """Writes happen in one shared transaction per batch: ``savepoint()`` scopes one command (rolled back
    alone on error), ``commit()`` returns once the batch is durable, ``after_commit`` callbacks (event
    deliveries) run in order right after the commit, before any ack."""

    epoch: str

    def savepoint(self) -> AbstractContextManager[None]: ...

    async def write_ready(self) -> None:
        """Awaited before a savepoint where possible: waits for the write batch to be open without blocking
        the loop (PostgreSQL: another process may hold the writer lock). Optional: savepoint() opens it
        too, blocking."""
        ...

    async def command_ready(self, principal: str, command_id: str, visitor_id: str = "") -> bytes | None:
        """write_ready for an idempotent command, then its stored result (None: it has not run); with
        ``visitor_id``, that visitor's visitor_and_latest is read in the same query."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...

    def commit(self) -> Awaitable[None]: ...

    def commit_now(self) -> None: ...

    def committed(self) -> CommittedView: ...

    def close(self) -> None: ...

    # agents and tokens
    def add_agent(self, record: AgentRecord) -> None: ...

    def get_agent(self, agent_id: str) -> Agent | None: ...

    def agent_by_email(self, email: str) -> AgentRecord | None: ...

    def list_agents(self) -> list[Agent]: ...

    def save_agent(self, agent: Agent) -> None: ...

    def set_password(self, agent_id: str, password_hash: str) -> None: ...

    def add_token(self, token_hash: str, agent_id: str, device: str, at: float) -> None: ...

    def token_agent(self, token_hash: str) -> str | None:
        """The agent id of a valid (not revoked) token."""
        ...

    def revoke_token(self, token_hash: str, at: float) -> bool: ...

    def revoke_agent_tokens(self, agent_id: str, at: float) -> int: ...

    def token_last_used(self, token_hash: str) -> float | None:
        """When a valid token was last used (or made); None when revoked or unknown."""
        ...

    def touch_token(self, token_hash: str, at: float) -> None: ...

    def expire_idle_tokens(self, idle_before: float, at: float) -> int: ...

    def delete_anonymous_visitors(self, seen_before: float, keep: set[str], limit: int = 10_000) -> int: ...

    # visitors, conversations, messages
    def add_visitor(self, visitor: Visitor, token_hash: str) -> None: ...

    def visitor_by_token(self, token_hash: str) -> Visitor | None: ...

    def get_visitor(self, visitor_id: str) -> Visitor | None: ...

    def save_visitor(self, visitor: Visitor) -> None: ...

    def visitor_facts(self, visitor_id: str) -> VisitorFacts | None: ...

    def save_visitor_facts(self, visitor_id: str, facts: VisitorFacts) -> None: ...

    def add_conversation(self, conversation: Conversation) -> None: ...

    def save_conversation(self, conversation: Conversation) -> None: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def latest_conversation(self, visitor_id: str) -> Conversation | None: ...

    def visitor_and_latest(self, visitor_id: str) -> tuple[Visitor | None, Conversation | None]:
        """get_visitor and latest_conversation at once (one query)."""
        ...

    def add_message(self, message: Message) -> None: ...

    def messages(
        self, conversation_id: str, before: float | None, limit: int, include_private: bool
    ) -> tuple[list[Message], bool]:
        """Oldest first, the newest ``limit`` before ``before``; and whether older ones exist."""
        ...

    # the per-agent event log and the idempotency record
    def append_event(self, agent_id: str, at: float, frame_for: Callable[[int], bytes]) -> tuple[int, bytes]:
        """Allocates the agent's next seq, stores ``frame_for(seq)``; returns the seq and the frame."""
        ...

    def head_seq(self, agent_id: str) -> int:
        """The newest committed seq of this agent's stream (0 when empty)."""
        ...

    def command_result(self, principal: str, command_id: str) -> bytes | None: ...

    def put_command_result(self, principal: str, command_id: str, at: float, response: bytes) -> None: ...

    def prune(self, now: float, event_window: float, min_events: int, command_retention: float) -> None: ...
