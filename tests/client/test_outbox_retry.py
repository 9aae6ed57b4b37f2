"""Retryable server errors (a commit that failed, rate limits) keep a send queued and retry it with backoff;
only final errors (invalid, forbidden, not found, too long ...) mark it failed. Against the real server."""

from __future__ import annotations

import sqlite3
from typing import Any

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.store import Delivery, NullListener
from tests.client.conftest import Client, Visitor, until


class FailingCommits:
    """Wraps the server's write connection: the next ``n`` COMMITs fail as a full disk would."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.fail = 0
        self.failed = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if self.fail and sql == "COMMIT":
            self.fail -= 1
            self.failed += 1
            raise sqlite3.OperationalError("database or disk is full (injected)")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


class Deliveries(NullListener):
    """Every delivery state a message row went through."""

    def __init__(self) -> None:
        self.seen: list[Delivery] = []

    def on_message_changed(self, conversation_id: str, index: int, item: Any) -> None:
        self.seen.append(item.delivery)


def _fast_retries(client: Client) -> list[float]:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    client.session.retry_backoff = Backoff(base=0.01, cap=0.05, sleep=sleep)
    return delays


async def test_a_failed_commit_is_retried_not_marked_failed(server: Any, signed_in: Client) -> None:
    async with Visitor(server.url) as visitor:
        await visitor.say("Hello?")
        await until(lambda: visitor.conversation_id in signed_in.store.conversations, what="the chat")
        delays = _fast_retries(signed_in)
        deliveries = Deliveries()
        signed_in.store.add_listener(deliveries)
        faults = FailingCommits(server.storage._w)
        server.storage._w = faults
        faults.fail = 2  # the first two attempts are rolled back by the server ("internal ... retry")
        item = signed_in.session.send_message(visitor.conversation_id, "Sorry for the wait")
        try:
            await until(lambda: item.delivery is not Delivery.PENDING, what="the message to be delivered")
        finally:
            faults.fail = 0
        assert item.delivery is Delivery.SENT, item.error
        assert faults.failed == 2 and len(delays) >= 2  # retried, after a backoff each time
        assert Delivery.FAILED not in deliveries.seen
        assert len(signed_in.outbox) == 0
        stored = server.storage.messages(visitor.conversation_id, None, 50, True)[0]
        assert [m.text for m in stored].count("Sorry for the wait") == 1  # exactly once
        server.storage._w = faults.conn


async def test_final_errors_still_fail_at_once(server: Any, signed_in: Client) -> None:
    delays = _fast_retries(signed_in)
    item = signed_in.session.send_message("no-such-conversation", "Hello")  # not_found: final
    await until(lambda: item.delivery is Delivery.FAILED, what="the refusal")
    assert "conversation" in item.error and delays == []
    assert len(signed_in.outbox) == 0


async def test_retryable_errors_give_up_after_bounded_tries(server: Any, signed_in: Client) -> None:
    _fast_retries(signed_in)
    async with Visitor(server.url) as visitor:
        await visitor.say("Hello?")
        await until(lambda: visitor.conversation_id in signed_in.store.conversations, what="the chat")
        faults = FailingCommits(server.storage._w)
        server.storage._w = faults
        faults.fail = 1000  # the disk stays full
        item = signed_in.session.send_message(visitor.conversation_id, "Anyone?")
        try:
            await until(lambda: item.delivery is Delivery.FAILED, within=20, what="giving up")
        finally:
            fails, faults.fail = faults.fail, 0
        assert fails < 1000 - 3
        assert "retry" in item.error.lower() and faults.failed >= 3
        assert len(signed_in.outbox) == 0  # failed rows can be retried by hand (Session.retry)
        faults.fail = 0
        signed_in.session.retry(visitor.conversation_id, item.message.client_id)
        await until(lambda: item.delivery is Delivery.SENT, what="the manual retry")
        server.storage._w = faults.conn


def test_error_codes_are_classified() -> None:
    from agent_app.outbox import is_retryable

    assert is_retryable(p.ErrorCode.INTERNAL) and is_retryable(p.ErrorCode.RATE_LIMITED)
    for final in (p.ErrorCode.INVALID, p.ErrorCode.FORBIDDEN, p.ErrorCode.NOT_FOUND, p.ErrorCode.TOO_LONG):
        assert not is_retryable(final)
