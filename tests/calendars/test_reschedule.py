"""Rescheduling and cancelling a meeting: the rep's CalDAV event moves (Radicale), an updated REQUEST or a
CANCEL is mailed (aiosmtpd), other desks' Meetings views follow live, the visitor reads a plain line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from chat_server import ChatServer, run_server
from tests.calendars.conftest import Mailbox, Radicale
from tests.calendars.test_connected_calendar import (
    calendar_parts,
    radicale_events,
    setup_sam,
    share,
    visitor_with_chat,
)
from tests.qt_loop import pump_until as until
from tests.server.conftest import PASSWORD, Client, Team, agent_login, cid, make_config, provision
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.meetings.model import MeetingsModel
from ui.shell.features import install_features
from ui.tasks import TaskRunner


@pytest.fixture
async def server(tmp_path: Path, smtp: tuple[Mailbox, int]) -> AsyncIterator[ChatServer]:
    config = make_config(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_security="none")
    async with run_server(config) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


def rows(model: MeetingsModel) -> list[p.Meeting]:
    return [m for m in (model.meeting(r) for r in range(model.rowCount())) if m is not None]


async def book(
    sam: Client, server: ChatServer, team: Team, slot_index: int, email: str
) -> tuple[Client, p.Meeting, p.BookingCard]:
    visitor, conversation_id = await visitor_with_chat(server)
    card, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    start = card.slots[slot_index].start
    booked = await visitor.ok(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email=email, name="Ann Lee")
    )
    meeting = p.convert(booked["meeting"], p.Meeting)
    found = server.ctx.storage.get_meeting(meeting.id)  # type: ignore[attr-defined]
    return visitor, found[0], card


async def test_reschedule_moves_the_event_and_mails_an_updated_request(
    server: ChatServer,
    team: Team,
    radicale: Radicale,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox = smtp[0]
    sam = await setup_sam(server, team, radicale)
    visitor, meeting, card = await book(sam, server, team, 3, "ann@acme.example")
    await server.ctx.calendars.idle()
    assert len(mailbox.messages) == 1
    new_start = card.slots[6].start
    moved = await sam.ok(p.RescheduleMeeting(id=cid(), meeting_id=meeting.id, start=new_start))
    assert moved["meeting"]["id"] == meeting.id and moved["meeting"]["start"] == new_start
    assert moved["meeting"]["sequence"] == 1
    await server.ctx.calendars.idle()
    (stored,) = radicale_events(radicale)
    (event,) = stored.walk("VEVENT")
    assert str(event["uid"]) == f"{meeting.id}@sdr-agent-desk.local"
    assert event.decoded("dtstart").timestamp() == new_start and int(event["sequence"]) == 1
    assert len(mailbox.messages) == 2
    assert sorted(mailbox.recipients[1]) == ["ann@acme.example", "sam@example.com"]
    (invite,) = calendar_parts(mailbox.messages[1])
    assert str(invite["method"]) == "REQUEST"
    vevent = invite.walk("VEVENT")[0]
    assert str(vevent["uid"]) == str(event["uid"]) and int(vevent["sequence"]) == 1
    assert vevent.decoded("dtstart").timestamp() == new_start
    # the old time is offered again, the new one is not
    await server.ctx.calendars.refresh(team.sdr1.id)
    again, _ = await share(sam, visitor, meeting.conversation_id, team.sdr1.id)
    starts = [s.start for s in again.slots]
    assert meeting.start in starts and new_start not in starts
    for client in (sam, visitor):
        await client.close()


async def test_reschedule_to_a_taken_slot_is_a_conflict_and_changes_nothing(
    server: ChatServer,
    team: Team,
    radicale: Radicale,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox = smtp[0]
    sam = await setup_sam(server, team, radicale)
    first_visitor, first, card = await book(sam, server, team, 2, "ann@acme.example")
    second_visitor, second, _ = await book(sam, server, team, 5, "bo@acme.example")
    await server.ctx.calendars.idle()
    sent = len(mailbox.messages)
    refused = await sam.call(p.RescheduleMeeting(id=cid(), meeting_id=first.id, start=second.start))
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.CONFLICT
    odd = card.slots[4].start + 7  # not a slot boundary
    off_calendar = await sam.call(p.RescheduleMeeting(id=cid(), meeting_id=first.id, start=odd))
    assert isinstance(off_calendar, p.Error) and off_calendar.code == p.ErrorCode.INVALID
    await server.ctx.calendars.idle()
    assert server.ctx.storage.get_meeting(first.id)[0] == first  # type: ignore[attr-defined]
    assert len(mailbox.messages) == sent
    starts = sorted(e.walk("VEVENT")[0].decoded("dtstart").timestamp() for e in radicale_events(radicale))
    assert starts == sorted([first.start, second.start])
    # another SDR may not move Sam's meeting
    other, _ = await agent_login(server, "tina@example.com")
    move = p.RescheduleMeeting(id=cid(), meeting_id=first.id, start=card.slots[8].start)
    forbidden = await other.call(move)
    assert isinstance(forbidden, p.Error) and forbidden.code == p.ErrorCode.FORBIDDEN
    for client in (sam, first_visitor, second_visitor, other):
        await client.close()


async def test_second_desk_follows_reschedule_and_cancel_live_and_the_visitor_reads_a_plain_line(
    qtbot: Any,
    server: ChatServer,
    team: Team,
    radicale: Radicale,
    smtp: tuple[Mailbox, int],
) -> None:
    sam = await setup_sam(server, team, radicale)
    manager, welcome = await agent_login(server, "maria@example.com")
    store = Store()
    store.apply_welcome(welcome)
    bridge = StoreBridge(store)
    model = MeetingsModel(store.conversations.get, reader=lambda: store.me, clock=lambda: server.clock.now())
    bridge.meeting_booked.connect(model.add_meeting)
    bridge.meeting_updated.connect(model.update_meeting)
    bridge.meeting_cancelled.connect(model.remove_meeting)
    visitor, meeting, card = await book(sam, server, team, 3, "ann@acme.example")
    store.apply_event_frame(await manager.event(p.MeetingBooked))
    assert model.rowCount() == 1

    new_start = card.slots[7].start
    await sam.ok(p.RescheduleMeeting(id=cid(), meeting_id=meeting.id, start=new_start))
    updated = await manager.event(p.MeetingUpdated)
    store.apply_event_frame(updated)
    assert model.rowCount() == 1 and model.meeting(0).start == new_start and model.meeting(0).sequence == 1
    assert store.meetings[meeting.id].start == new_start

    line = await visitor.event(p.MessageCreated)
    while "moved to" not in line.event.message.text:
        line = await visitor.event(p.MessageCreated)
    assert line.event.message.text.startswith("Your call with Sam Sdr moved to ")
    raw = msgspec.json.encode(line).decode()
    for secret in (meeting.id, team.sdr1.id, "sequence", "meeting_updated"):
        assert secret not in raw

    await sam.ok(p.CancelMeeting(id=cid(), meeting_id=meeting.id))
    store.apply_event_frame(await manager.event(p.MeetingCancelled))
    assert model.rowCount() == 0 and meeting.id not in store.meetings
    gone = await visitor.event(p.MessageCreated)
    while "cancelled" not in gone.event.message.text:
        gone = await visitor.event(p.MessageCreated)
    raw = msgspec.json.encode(gone).decode()
    assert meeting.id not in raw and team.sdr1.id not in raw
    for client in (sam, manager, visitor):
        await client.close()


async def test_reschedule_dialog_picks_a_slot_and_shows_a_taken_slot_inline(
    qtbot: Any, tmp_path: Path, server: ChatServer, team: Team, radicale: Radicale, smtp: tuple[Mailbox, int]
) -> None:
    mailbox = smtp[0]
    sam = await setup_sam(server, team, radicale)
    visitor, meeting, _card = await book(sam, server, team, 3, "ann@acme.example")
    store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
    session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
    runner = TaskRunner()
    window = MainWindow(StoreBridge(store), session, runner, settings=None)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    features = install_features(window).qualify
    await session.sign_in("sam@example.com", PASSWORD)
    task = asyncio.create_task(session.run())
    try:
        await until(lambda: session.state is ConnectionState.ONLINE, "online")
        features.show_meetings()
        view, model = features.meetings, features.meetings_model
        await until(lambda: model.rowCount() == 1, "the meeting in Meetings")
        assert not view.reschedule_button.isEnabled()
        view.table.selectRow(0)
        view.reschedule_button.click()
        dialog = features.reschedule_dialog
        assert dialog is not None
        await until(lambda: dialog.slots.count() > 0, "open times listed")
        assert "Times in your zone: America/Los_Angeles" in dialog.zone_note.text()  # Sam's territory zone
        labels = [dialog.slots.item(i).text() for i in range(dialog.slots.count())]
        assert all(label.endswith(("PST", "PDT")) for label in labels)
        # another visitor takes the time Sam is about to pick: refused inline, nothing changes
        taken = dialog.slots.item(2).data(Qt.ItemDataRole.UserRole)
        other_visitor, conversation_id = await visitor_with_chat(server)
        other_card, _ = await share(sam, other_visitor, conversation_id, team.sdr1.id)
        await other_visitor.ok(
            p.BookSlot(id=cid("b"), agent_id=other_card.agent_id, start=taken, email="bo@acme.example")
        )
        await server.ctx.calendars.idle()
        sent = len(mailbox.messages)
        dialog.slots.setCurrentRow(2)
        dialog.move_button.click()
        await until(lambda: "just taken" in dialog.status.text(), "the refusal in the dialog")
        assert dialog.isVisible() and dialog.move_button.isEnabled()
        # a free one moves the meeting: the row follows, the dialog closes, the invite goes out
        dialog.slots.setCurrentRow(5)
        chosen = dialog.slots.item(5).data(Qt.ItemDataRole.UserRole)
        closed: list[int] = []
        dialog.finished.connect(closed.append)
        dialog.move_button.click()
        await until(lambda: closed == [1], "the dialog accepted")  # and deleted: WA_DeleteOnClose
        await until(lambda: features.reschedule_dialog is None, "the dialog forgotten")
        await until(lambda: {m.id: m.start for m in rows(model)}.get(meeting.id) == chosen, "moved row")
        await server.ctx.calendars.idle()
        assert len(mailbox.messages) == sent + 1
        assert server.ctx.storage.get_meeting(meeting.id)[0].start == chosen  # type: ignore[attr-defined]
        for client in (sam, visitor, other_visitor):
            await client.close()
    finally:
        await session.stop()
        await asyncio.wait_for(task, 10)
        runner.cancel_all()
        outbox.close()
