"""The SLA clock with a controllable clock (no test sleeps): warning, breach, meeting offer, a human
reply stopping it, surviving a restart, and the per-SDR report."""

from __future__ import annotations

from pathlib import Path

from agent_app import protocol as p
from chat_server.clock import FakeClock
from chat_server.playbook import Playbook
from chat_server.routing import load_table
from chat_server.sla import format_report, report_main, sdr_report
from chat_server.storage import SqliteStorage
from tests.playbook.conftest import TERRITORIES, Desk, build_desk


async def routed_to_casey(d: Desk, **profile: str) -> p.Conversation:
    """Non-playbook page, no company data: the table's catch-all rule (Casey) takes it at once."""
    d.set_presence("casey", p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Do you integrate with Salesforce?", page="/blog", **profile)
    assert conv.assignee_id == "casey" and conv.routing is not None
    return conv


def sla_events(d: Desk, agent_id: str, conversation_id: str) -> list[object]:
    return [
        e
        for e in d.events(agent_id)
        if isinstance(e, p.SlaWarning | p.SlaBreached) and e.conversation_id == conversation_id
    ]


async def test_warning_breach_and_meeting_offer(desk: Desk) -> None:
    d = desk
    conv = await routed_to_casey(d)
    due = conv.sla_due_at
    assert due == d.clock.now() + 30
    await d.scheduler.advance(19.9)
    assert sla_events(d, "casey", conv.id) == []
    await d.scheduler.advance(0.1)
    assert sla_events(d, "casey", conv.id) == [p.SlaWarning(conversation_id=conv.id, due_at=due)]
    await d.scheduler.advance(10)
    assert sla_events(d, "casey", conv.id)[-1] == p.SlaBreached(conversation_id=conv.id, due_at=due)
    assert d.conversation(conv.id).sla_breached
    updates = [e for e in d.events("casey") if isinstance(e, p.ConversationUpdated)]
    assert updates[-1].conversation.sla_breached
    # agents who don't see the conversation get nothing
    assert sla_events(d, "sam", conv.id) == []
    await d.scheduler.advance(29.9)
    bots = [m for m in d.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    assert bots == []
    await d.scheduler.advance(0.1)
    bots = [m.text for m in d.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    assert bots[0].startswith("Sorry for the wait! Leave your email and Casey Morgan")
    assert bots[1] == "What's the best email to reach you at?"
    conv = d.conversation(conv.id)
    assert (
        conv.status == p.ConversationStatus.OPEN and conv.assignee_id == "casey"
    )  # still Casey's to pick up
    assert d.scheduler.pending() == 0
    # the late reply is still recorded as the first response
    await d.scheduler.advance(5)
    await d.agent_says("casey", conv.id, "Sorry! Casey here.")
    record = d.automation.sla.get(conv.id)
    assert record is not None and record.outcome == "answered_late" and record.responder_id == "casey"
    assert record.first_response_at is not None and record.first_response_at - record.started_at == 65
    assert d.conversation(conv.id).sla_due_at is None


async def test_meeting_offer_carries_the_booking_card(tmp_path: Path, playbook: Playbook) -> None:
    card = p.BookingCard(
        agent_id="casey",
        agent_name="Casey Morgan",
        duration_minutes=30,
        timezone="UTC",
        slots=[p.Slot(start=1_700_100_000.0, end=1_700_101_800.0)],
    )
    d = build_desk(tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), booking=lambda a: card)
    conv = await routed_to_casey(d, email="lee@corp.example")
    await d.scheduler.advance(60)
    bots = [m for m in d.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    assert len(bots) == 1  # email known: no follow-up question
    assert bots[0].text.startswith("Sorry for the wait! Would you like to book a call with Casey Morgan?")
    if bots[0].card is not None:
        assert bots[0].card.slots == card.slots


async def test_a_human_reply_stops_the_clock(desk: Desk) -> None:
    d = desk
    conv = await routed_to_casey(d)
    await d.scheduler.advance(12)
    await d.agent_says("casey", conv.id, "Hi! Yes we do.")
    conv = d.conversation(conv.id)
    assert conv.sla_due_at is None and conv.first_response_at is not None and not conv.sla_breached
    await d.scheduler.advance(120)
    assert sla_events(d, "casey", conv.id) == []
    assert not [m for m in d.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    record = d.automation.sla.get(conv.id)
    assert record is not None and record.outcome == "answered" and record.responder_id == "casey"


async def test_reply_seen_when_the_timer_fires_even_without_the_hook(desk: Desk) -> None:
    d = desk
    conv = await routed_to_casey(d)
    with d.storage.savepoint():
        d.service.post_agent_message(d.agent("casey"), conv.id, "On it")  # no on_agent_message call
    await d.storage.commit()
    await d.scheduler.advance(60)
    assert sla_events(d, "casey", conv.id) == []
    record = d.automation.sla.get(conv.id)
    assert record is not None and record.outcome == "answered"


async def test_closing_unanswered_settles_the_clock(desk: Desk) -> None:
    d = desk
    conv = await routed_to_casey(d)
    with d.storage.savepoint():
        c = d.conversation(conv.id)
        c.status = p.ConversationStatus.CLOSED
        d.storage.save_conversation(c)
    await d.storage.commit()
    await d.scheduler.advance(20)
    record = d.automation.sla.get(conv.id)
    assert record is not None and record.outcome == "closed_unanswered"
    assert sla_events(d, "casey", conv.id) == []


async def test_timers_survive_a_restart(tmp_path: Path, playbook: Playbook) -> None:
    path = tmp_path / "chat.sqlite3"
    clock = FakeClock()
    d = build_desk(path, playbook, clock=clock, table=load_table(TERRITORIES))
    conv = await routed_to_casey(d)
    due = conv.sla_due_at
    await d.scheduler.advance(25)  # warned, not yet breached
    assert [type(e) for e in sla_events(d, "casey", conv.id)] == [p.SlaWarning]
    d.automation.stop()
    d.storage.close()

    # the server is down for 2 s; a new process starts on the same database
    clock.advance(2)
    d2 = build_desk(path, playbook, clock=clock, table=load_table(TERRITORIES))
    d2.online.add("casey")
    assert await d2.automation.start() == 1
    assert d2.conversation(conv.id).sla_due_at == due
    await d2.scheduler.advance(2.9)
    assert [type(e) for e in sla_events(d2, "casey", conv.id)] == [p.SlaWarning]  # no second warning
    await d2.scheduler.advance(0.1)
    assert [type(e) for e in sla_events(d2, "casey", conv.id)] == [p.SlaWarning, p.SlaBreached]
    await d2.scheduler.advance(30)
    assert any(m.author_kind == p.AuthorKind.BOT for m in d2.transcript(conv.id))
    d2.automation.stop()
    d2.storage.close()


async def test_overdue_timers_fire_at_startup_once(tmp_path: Path, playbook: Playbook) -> None:
    path = tmp_path / "chat.sqlite3"
    clock = FakeClock()
    d = build_desk(path, playbook, clock=clock, table=load_table(TERRITORIES))
    conv = await routed_to_casey(d)
    d.automation.stop()
    d.storage.close()
    clock.advance(300)  # down for five minutes
    d2 = build_desk(path, playbook, clock=clock, table=load_table(TERRITORIES))
    await d2.automation.start()
    await d2.scheduler.advance(0)
    assert [type(e) for e in sla_events(d2, "casey", conv.id)] == [p.SlaBreached]
    bots = [m for m in d2.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    assert len(bots) == 2  # the offer and the email question, once
    await d2.scheduler.advance(100)
    assert len([m for m in d2.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]) == 2
    d2.storage.close()


async def test_per_sdr_first_response_report(desk: Desk) -> None:
    d = desk
    fast = await routed_to_casey(d)
    await d.scheduler.advance(10)
    await d.agent_says("casey", fast.id, "Hi!")
    slow = await routed_to_casey(d)  # nobody else is available: the unresponsive fallback leaves it to Casey
    await d.scheduler.advance(45)
    await d.agent_says("casey", slow.id, "Sorry for the wait")
    d.set_presence("jordan", p.Presence.AVAILABLE)
    d.set_presence("casey", p.Presence.AWAY)  # Casey is away: the chat waits in the queue, Jordan picks it up
    _, ignored = await d.visitor_says("Anyone there?", page="/blog")
    assert ignored.assignee_id is None and ignored.routing is not None and ignored.routing.agent_id == "casey"
    await d.scheduler.advance(70)
    await d.agent_says("jordan", ignored.id, "Jordan here, jumping in")
    routing = d.conversation(ignored.id).routing
    assert routing is not None and routing.out_of_territory

    rows = {r.agent_id: r for r in sdr_report(d.storage.conn)}
    casey = rows["casey"]
    assert (casey.routed, casey.answered, casey.within_sla, casey.breaches, casey.meetings_offered) == (
        3,
        2,
        1,
        2,
        1,
    )
    assert casey.median_first_response == 27.5 and casey.mean_first_response == 27.5
    jordan = rows["jordan"]
    assert (jordan.routed, jordan.answered, jordan.within_sla) == (0, 1, 0)
    assert jordan.median_first_response == 70
    text = format_report(list(rows.values()), {"casey": "Casey Morgan", "jordan": "Jordan Lee"})
    assert "Casey Morgan" in text and "27.5s" in text
    d.storage.commit_now()
    on_pg = d.storage.conn if not isinstance(d.storage, SqliteStorage) else None  # the CLI's two paths
    cli = report_main(str(d.path), conn=on_pg)
    assert "Casey Morgan" in cli and "Jordan Lee" in cli
