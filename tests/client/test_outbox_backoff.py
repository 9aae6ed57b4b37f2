"""The durable outbox (order, persistence, idempotent adds) and the full-jitter backoff."""

from __future__ import annotations

from pathlib import Path

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox

ME = p.Agent(id="me", name="Me", email="me@example.com")


def send(cid: str, n: int) -> p.SendMessage:
    return p.SendMessage(id=f"cmd{n}", conversation_id=cid, text=f"text {n}")


def test_outbox_keeps_order_and_survives_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    for n in range(3):
        outbox.add(send("c1", n), author=ME, now=float(n))
    outbox.add(send("c1", 1), author=ME, now=99.0)  # same id again: still one entry, first position
    outbox.note_attempt("cmd0")
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite3")
    entries = reopened.pending()
    assert [e.id for e in entries] == ["cmd0", "cmd1", "cmd2"]
    assert entries[0].attempts == 1 and entries[1].created_at == 1.0
    assert (entries[0].conversation_id, entries[0].author_id, entries[0].author_name) == ("c1", "me", "Me")
    assert entries[2].command == send("c1", 2)
    assert [e.id for e in reopened.pending(after=entries[0].order)] == ["cmd1", "cmd2"]
    removed = reopened.remove("cmd1")
    assert removed is not None and removed.id == "cmd1"
    assert reopened.remove("cmd1") is None
    assert len(reopened) == 2
    reopened.close()


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    draws = iter([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0])
    backoff = Backoff(base=1.0, cap=10.0, rand=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert backoff.next_delay() == 5.0  # half of the capped ceiling
    backoff.reset()
    assert backoff.next_delay() == 0.0 and backoff.attempt == 1


def test_backoff_never_overflows_after_many_attempts() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rand=lambda: 1.0)
    backoff.attempt = 10_000
    assert backoff.next_delay() == 30.0
