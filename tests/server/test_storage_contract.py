"""The storage interface below the server, on SQLite and on PostgreSQL alike (parametrised by conftest):
every shared SQL module (reads, meetings, saved replies, security, the SLA clock) gives the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server.calendars import Connection
from chat_server.config import Config
from chat_server.playbook import SlaSettings
from chat_server.sla import SlaStore, new_record, report_main, sdr_report
from chat_server.storage import SqlStorage, open_storage
from chat_server.storage.base import AgentRecord
from chat_server.storage.errors import INTEGRITY_ERRORS
from chat_server.storage.meetings_sql import SlotTaken
from tests.server.conftest import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def storage(config: Config) -> Iterator[SqlStorage]:
    opened = open_storage(config)
    try:
        yield opened
    finally:
        opened.close()


def _agent(agent_id: str, email: str = "") -> AgentRecord:
    return AgentRecord(
        p.Agent(id=agent_id, name=agent_id.title(), email=email or f"{agent_id}@example.com"), "h"
    )


def _conversation(storage: SqlStorage, cid: str, at: float, visitor: str = "v1") -> p.Conversation:
    if storage.get_visitor(visitor) is None:
        storage.add_visitor(p.Visitor(id=visitor, name="Vera", last_seen=at), f"tok-{visitor}")
    conversation = p.Conversation(id=cid, visitor=p.Visitor(id=visitor), created_at=at)
    storage.add_conversation(conversation)
    return conversation


def test_emails_are_case_insensitive_and_unique(storage: SqlStorage) -> None:
    with storage.savepoint():
        storage.add_agent(_agent("sam", "Sam@Example.com"))
    storage.commit_now()
    found = storage.agent_by_email(" sam@example.COM ")
    assert found is not None and found.agent.id == "sam"
    with pytest.raises(INTEGRITY_ERRORS), storage.savepoint():
        storage.add_agent(_agent("other", "SAM@example.com"))
    storage.commit_now()
    assert [a.id for a in storage.list_agents()] == ["sam"]


def test_conversations_messages_and_paging(storage: SqlStorage) -> None:
    with storage.savepoint():
        _conversation(storage, "c1", 100.0)
        _conversation(storage, "c2", 100.0)  # same second: the later insert is the latest
        for i in range(5):
            private = i == 2
            message = p.Message(
                id=f"m{i}", conversation_id="c1", author_kind=p.AuthorKind.VISITOR, text=f"t{i}",
                created_at=200.0, private=private,
            )  # fmt: skip
            storage.add_message(message)
    storage.commit_now()
    latest = storage.committed().latest_conversation("v1")
    assert latest is not None and latest.id == "c2" and latest.visitor.name == "Vera"
    page, more = storage.messages("c1", None, 2, include_private=True)
    assert [m.id for m in page] == ["m3", "m4"] and more
    assert [m.id for m in storage.committed().recent_messages("c1", 10, False)] == ["m0", "m1", "m3", "m4"]
    assert {c.id for c in storage.committed().conversations(0.0)} == {"c1", "c2"}


def test_meetings_overlap_move_and_calendar_rows(storage: SqlStorage) -> None:
    def meeting(mid: str, start: float) -> p.Meeting:
        return p.Meeting(id=mid, conversation_id="c1", agent_id="sam", visitor_id="v1", start=start,
                         end=start + 1800, timezone="UTC", created_at=1.0)  # fmt: skip

    with storage.savepoint():
        storage.add_meeting(meeting("m1", 10_000.0), "t1", 600)
    with pytest.raises(SlotTaken), storage.savepoint():
        storage.add_meeting(meeting("m2", 10_000.0 + 1800 + 300), "t2", 600)  # inside the buffer
    with storage.savepoint():
        storage.add_meeting(meeting("m3", 20_000.0), "t3", 600)
        storage.move_meeting(meeting("m3", 15_000.0), 600)
    with pytest.raises(SlotTaken), storage.savepoint():
        storage.move_meeting(meeting("m3", 10_500.0), 600)
    storage.commit_now()
    assert [m.id for m in storage.agent_meetings("sam", 0.0)] == ["m1", "m3"]
    assert [m.id for m in storage.agent_meetings("sam", 0.0, until=12_000.0)] == ["m1"]
    assert [m.start for m in storage.all_meetings(0.0)] == [10_000.0, 15_000.0]
    stored = storage.get_meeting("m3")
    assert stored is not None and stored[1] == "t3"
    assert [m.id for m in storage.conversation_meetings("c1")] == ["m1", "m3"]
    with storage.savepoint():
        storage.delete_meeting("m1")
        storage.save_calendar_settings(p.CalendarSettings(agent_id="sam", duration_minutes=45))
        storage.save_calendar_settings(p.CalendarSettings(agent_id="sam", duration_minutes=15))
        storage.save_calendar_connection(Connection("sam", "https://dav.example", "sam", "pw1"))
        storage.save_calendar_connection(Connection("sam", "https://dav.example", "sam", "pw2"))
    storage.commit_now()
    assert storage.get_meeting("m1") is None
    settings = storage.get_calendar_settings("sam")
    assert settings is not None and settings.duration_minutes == 15
    assert [c.password for c in storage.calendar_connections()] == ["pw2"]


def test_saved_replies_team_and_own(storage: SqlStorage) -> None:
    with storage.savepoint():
        storage.save_saved_reply(p.SavedReply(id="r1", shortcut="greet", title="Hi", text="Hello"))
        storage.save_saved_reply(
            p.SavedReply(id="r2", shortcut="greet", title="Mine", text="Yo", owner_id="sam")
        )
        storage.save_saved_reply(
            p.SavedReply(id="r3", shortcut="bye", title="Bye", text="Bye", owner_id="tina")
        )
    storage.commit_now()
    assert [r.id for r in storage.saved_replies_for("sam")] == ["r1", "r2"]  # team first
    assert storage.count_saved_replies(None) == 1 and storage.count_saved_replies("sam") == 1
    team = storage.saved_reply_by_shortcut(None, "greet")
    assert team is not None and team.id == "r1"
    own = storage.saved_reply_by_shortcut("sam", "greet")
    assert own is not None and own.id == "r2"


def test_tokens_idle_expiry_and_anonymous_visitors(storage: SqlStorage) -> None:
    with storage.savepoint():
        storage.add_agent(_agent("sam"))
        storage.add_token("old", "sam", "", 100.0)
        storage.add_token("used", "sam", "", 100.0)
        storage.touch_token("used", 900.0)
        storage.add_visitor(p.Visitor(id="gone", last_seen=100.0), "tg")
        storage.add_visitor(p.Visitor(id="recent", last_seen=900.0), "tr")
        _conversation(storage, "c1", 100.0, visitor="chatted")
    storage.commit_now()
    assert storage.token_last_used("used") == 900.0 and storage.token_last_used("old") == 100.0
    with storage.savepoint():
        assert storage.expire_idle_tokens(500.0, 1000.0) == 1
        assert storage.delete_anonymous_visitors(500.0, keep=set()) == 1
    storage.commit_now()
    assert storage.token_agent("old") is None and storage.token_agent("used") == "sam"
    assert storage.get_visitor("gone") is None and storage.get_visitor("recent") is not None
    assert storage.get_visitor("chatted") is not None


def test_event_log_prune_and_idempotency(storage: SqlStorage) -> None:
    with storage.savepoint():
        for i in range(5):
            storage.append_event("sam", float(i), lambda seq: b"e%d" % seq)
        storage.put_command_result("sam", "cmd1", 1.0, b"ack")
    storage.commit_now()
    assert storage.head_seq("sam") == 5 and storage.newest_seq("sam") == 5
    assert storage.command_result("sam", "cmd1") == b"ack"
    with storage.savepoint():
        storage.prune(100.0, event_window=10.0, min_events=2, command_retention=10.0)
    storage.commit_now()
    assert storage.committed().events_after("sam", 0, 10) is None  # the oldest were pruned: resync
    assert storage.committed().events_after("sam", 3, 10) == [(4, b"e4"), (5, b"e5")]
    assert storage.command_result("sam", "cmd1") is None


def test_sla_clock_rows_and_report(storage: SqlStorage, config: Config) -> None:
    sla = SlaStore(storage.conn)
    settings = SlaSettings()
    with storage.savepoint():
        storage.add_agent(_agent("sam"))
        sla.start(new_record("c1", "sam", 1000.0, settings))
        sla.start(new_record("c1", "sam", 1000.5, settings))  # restarted: one row, the newer times
        sla.start(new_record("c2", None, 1001.0, settings))
        sla.mark("c2", "breach", 1031.0)
        sla.set_agent("c2", "sam")
        sla.finish("c1", "answered", 1010.5, "sam")
    storage.commit_now()
    record = sla.get("c1")
    assert record is not None and record.started_at == 1000.5 and record.outcome == "answered"
    assert [r.conversation_id for r in sla.pending()] == ["c2"]
    (row,) = sdr_report(storage.conn, 0.0)
    assert (row.agent_id, row.routed, row.answered, row.breaches) == ("sam", 2, 1, 1)
    assert row.median_first_response == pytest.approx(10.0)
    text = report_main(config.db_path, conn=storage.conn) if config.storage == "postgres" else ""
    if config.storage == "sqlite":
        storage.commit_now()
        text = report_main(config.db_path)
    assert "Sam" in text and "10.0s" in text


def test_a_failed_command_leaves_no_event_and_no_seq_gap(storage: SqlStorage) -> None:
    def event(agent_id: str = "sam") -> int:
        return storage.append_event(agent_id, 1.0, lambda seq: b"e%d" % seq)[0]

    with storage.savepoint():
        assert event() == 1
    with pytest.raises(RuntimeError), storage.savepoint():
        assert event() == 2
        raise RuntimeError("the command fails: its event must go with it")
    with storage.savepoint():
        assert event() == 2
        with pytest.raises(RuntimeError), storage.savepoint():  # a nested step fails alone
            assert event() == 3
            raise RuntimeError
        with storage.savepoint():
            assert event() == 3 and event("tina") == 1
        assert storage.newest_seq("sam") == 3  # the batch's own events are visible inside it
    storage.commit_now()
    committed = storage.committed()
    assert committed.events_after("sam", 0, 10) == [(1, b"e1"), (2, b"e2"), (3, b"e3")]
    assert committed.events_after("tina", 0, 10) == [(1, b"e1")]
    assert storage.head_seq("sam") == 3
