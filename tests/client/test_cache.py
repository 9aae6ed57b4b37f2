"""The local cache: batched writes, epoch/seq with the data, last N messages, reload into a store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent_app import protocol as p
from agent_app.cache import ClientCache
from agent_app.store import Store
from tests.client.conftest import until
from tests.client.test_store import ME, conv, frame, msg


def saved_seq(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def load_into(path: Path, store: Store) -> None:
    """What the next start of the app does: open the cache, load it, close it."""
    cache = ClientCache(path)
    try:
        cache.load_into(store)
    finally:
        cache.close()


def test_reload_shows_queue_transcripts_and_unread(tmp_path: Path) -> None:
    store = Store(me=ME, epoch="e1")
    cache = ClientCache(tmp_path / "c.sqlite3")
    cache.load_into(store)  # empty file: nothing to load, starts listening
    store.apply_event_frame(frame(1, p.ConversationCreated(conversation=conv())))
    store.apply_event_frame(frame(2, p.MessageCreated(message=msg("m1", "hello", 1.0))))
    store.apply_event_frame(
        frame(
            3,
            p.MeetingBooked(
                meeting=p.Meeting(
                    id="mt",
                    conversation_id="c1",
                    agent_id="me",
                    visitor_id="v1",
                    start=0,
                    end=1,
                    timezone="UTC",
                )
            ),
        )
    )
    store.add_pending(p.SendMessage(id="cmd1", conversation_id="c1", text="pending"), ME, now=2.0)
    cache.close()  # flushes

    fresh = Store()
    load_into(tmp_path / "c.sqlite3", fresh)
    assert (fresh.epoch, fresh.seq) == ("e1", 3)
    assert fresh.me is not None and fresh.me.id == "me"
    assert list(fresh.conversations) == ["c1"]
    assert [i.message.text for i in fresh.transcripts["c1"]] == ["hello"]  # pending lives in the outbox
    assert fresh.unread == {"c1": 1}
    assert list(fresh.meetings) == ["mt"]


async def test_writes_are_batched_and_carry_the_seq(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = Store(me=ME, epoch="e1")
    cache = ClientCache(path, flush_interval=0.05)
    cache.attach(store)
    store.apply_event_frame(frame(1, p.ConversationCreated(conversation=conv())))
    for n in range(50):
        store.apply_event_frame(frame(2 + n, p.MessageCreated(message=msg(f"m{n}", "x", float(n)))))
    assert saved_seq(path) == 0  # nothing written yet: one batch comes later
    await until(lambda: saved_seq(path) == 51, what="one batched flush")
    assert not cache.dirty
    await asyncio.sleep(0)
    cache.close()


def test_keeps_only_the_newest_messages_and_forgets_revoked(tmp_path: Path) -> None:
    store = Store(me=ME, epoch="e1")
    cache = ClientCache(tmp_path / "c.sqlite3", keep_messages=5)
    cache.attach(store)
    store.apply_event_frame(frame(1, p.ConversationCreated(conversation=conv())))
    store.apply_event_frame(frame(2, p.ConversationCreated(conversation=conv("c2"))))
    for n in range(12):
        store.apply_event_frame(frame(3 + n, p.MessageCreated(message=msg(f"m{n}", str(n), float(n)))))
    store.apply_event_frame(frame(20, p.ConversationRevoked(conversation_id="c2")))
    cache.flush()
    fresh = Store()
    load_into(tmp_path / "c.sqlite3", fresh)
    assert [i.message.text for i in fresh.transcripts["c1"]] == ["7", "8", "9", "10", "11"]
    assert set(fresh.conversations) == {"c1"}
    cache.close()


def test_a_snapshot_rewrites_the_cache(tmp_path: Path) -> None:
    store = Store(me=ME, epoch="e1")
    cache = ClientCache(tmp_path / "c.sqlite3")
    cache.attach(store)
    store.apply_event_frame(frame(1, p.ConversationCreated(conversation=conv("old"))))
    cache.flush()
    store.apply_snapshot(p.Snapshot(epoch="e2", seq=7, agents=[ME], conversations=[conv()], messages=[]))
    cache.close()
    fresh = Store()
    load_into(tmp_path / "c.sqlite3", fresh)
    assert set(fresh.conversations) == {"c1"} and (fresh.epoch, fresh.seq) == ("e2", 7)


def test_drafts_are_kept_forgotten_when_blank_and_cleared_on_sign_out(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    cache = ClientCache(path)
    cache.save_draft("c1", "Hi Dana, about the sync", private=False)
    cache.save_draft("c2", "check the Globex lead first", private=True)
    cache.close()
    again = ClientCache(path)  # the next run (or after a crash: each draft is written at once)
    assert again.load_drafts() == {
        "c1": ("Hi Dana, about the sync", False),
        "c2": ("check the Globex lead first", True),
    }
    again.save_draft("c1", "   ", private=False)  # sent or erased
    assert again.load_drafts() == {"c2": ("check the Globex lead first", True)}
    again.clear()
    assert again.load_drafts() == {}
    again.close()


def test_an_older_cache_file_gains_the_drafts_table(tmp_path: Path) -> None:

    path = tmp_path / "cache.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    old.commit()
    old.close()
    cache = ClientCache(path)
    cache.save_draft("c1", "hello", private=False)
    assert cache.load_drafts() == {"c1": ("hello", False)}
    cache.close()
