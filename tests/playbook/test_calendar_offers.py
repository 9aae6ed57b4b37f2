"""The bot's calendar offers (aligned SDR away; 60 s without a human reply) carry a real BookingCard from
the calendar module (chat_server.meetings, default or stored CalendarSettings) on the same SQLite file,
and fall back to the "leave your email" text only when the calendar has no open slots. FakeClock and
ManualScheduler: nothing sleeps."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent_app import protocol as p
from chat_server import meetings
from chat_server.playbook import Playbook
from chat_server.routing import load_table
from tests.playbook.conftest import TERRITORIES, Desk, build_desk
from tests.playbook.test_bot_routing import answer_all, bigco

B = p.AuthorKind.BOT
NY = ZoneInfo("America/New_York")


def bots(d: Desk, conversation_id: str) -> list[p.Message]:
    return [m for m in d.transcript(conversation_id) if m.author_kind == B]


def assert_default_calendar(card: p.BookingCard, d: Desk, agent_id: str) -> None:
    """Weekdays 09:00-17:00 New York, 30 min, at least 2 h notice, no slot in the past."""
    assert card.agent_id == agent_id and card.timezone == "America/New_York"
    assert card.duration_minutes == 30 and len(card.slots) == meetings.CARD_SLOTS
    for slot in card.slots:
        local = datetime.fromtimestamp(slot.start, NY)
        assert local.weekday() < 5 and 9 <= local.hour < 17 and slot.end - slot.start == 1800
        assert slot.start >= d.clock.now() + 120 * 60


def no_hours(d: Desk, agent_id: str) -> None:
    """The SDR emptied their weekly hours: the calendar has no slots."""
    with d.storage.savepoint():
        d.storage.save_calendar_settings(p.CalendarSettings(agent_id=agent_id, availability=[]))
    d.storage.commit_now()


async def routed_to_casey(d: Desk, email: str = "") -> p.Conversation:
    d.set_presence("casey", p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Do you integrate with Salesforce?", page="/blog", email=email)
    assert conv.assignee_id == "casey" and conv.routing is not None
    return conv


async def test_sixty_second_offer_is_a_real_booking_card(tmp_path: Path, playbook: Playbook) -> None:
    d = build_desk(tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), calendar=True)
    conv = await routed_to_casey(d, email="lee@corp.example")
    await d.scheduler.advance(59.9)
    assert bots(d, conv.id) == []
    await d.scheduler.advance(0.1)
    offer = bots(d, conv.id)
    assert len(offer) == 1  # the email is known: no follow-up question
    assert offer[0].text.startswith("Sorry for the wait! Would you like to book a call with Casey Morgan?")
    assert offer[0].card is not None
    assert_default_calendar(offer[0].card, d, "casey")
    # the visitor gets it too (message_created with the card), and the card books for real
    slot = offer[0].card.slots[0]
    with d.storage.savepoint():
        booked = meetings.book(
            d.storage, agent=d.agent("casey"), conversation=d.conversation(conv.id), start=slot.start,
            name="Lee", email="lee@corp.example", now=d.clock.now(),
        )  # fmt: skip
    await d.storage.commit()
    assert booked.meeting.start == slot.start and booked.meeting.agent_id == "casey"
    d.automation.stop()
    d.storage.close()


async def test_sixty_second_offer_falls_back_to_email_without_slots(
    tmp_path: Path, playbook: Playbook
) -> None:
    d = build_desk(tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), calendar=True)
    no_hours(d, "casey")
    conv = await routed_to_casey(d)
    await d.scheduler.advance(60)
    texts = [(m.text, m.card) for m in bots(d, conv.id)]
    assert texts[0][0].startswith("Sorry for the wait! Leave your email and Casey Morgan")
    assert texts[0][1] is None
    assert texts[1] == ("What's the best email to reach you at?", None)
    d.automation.stop()
    d.storage.close()


async def test_offer_skips_slots_already_booked(tmp_path: Path, playbook: Playbook) -> None:
    """A slot someone booked before the 60 s offer is not in the offered card."""
    d = build_desk(tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), calendar=True)
    conv = await routed_to_casey(d, email="lee@corp.example")
    first = meetings.booking_card(d.storage, d.agent("casey"), d.clock.now()).slots[0]
    with d.storage.savepoint():
        meetings.book(
            d.storage, agent=d.agent("casey"), conversation=d.conversation(conv.id), start=first.start,
            name="Other", email="o@x.example", now=d.clock.now(),
        )  # fmt: skip
    await d.storage.commit()
    await d.scheduler.advance(60)
    card = bots(d, conv.id)[0].card
    assert card is not None and card.slots and all(s.start != first.start for s in card.slots)
    d.automation.stop()
    d.storage.close()


async def test_away_sdr_offers_their_real_calendar(tmp_path: Path, playbook: Playbook) -> None:
    d = build_desk(
        tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), enrich=bigco, calendar=True
    )
    d.set_presence("alex", p.Presence.AVAILABLE)  # someone is around, but Sam is the aligned SDR
    d.set_presence("sam", p.Presence.AWAY)
    conv = await answer_all(d)
    assert conv.assignee_id is None and conv.routing is not None and conv.routing.agent_id == "sam"
    last = bots(d, conv.id)[-1]
    assert last.text.startswith("Sam Chen is away right now — pick a time on their calendar below")
    assert last.card is not None
    assert_default_calendar(last.card, d, "sam")
    # offered at once: the 60 s timer makes no second offer
    await d.scheduler.advance(120)
    assert [m.card is not None for m in bots(d, conv.id)].count(True) == 1
    d.automation.stop()
    d.storage.close()


async def test_away_sdr_with_stored_settings(tmp_path: Path, playbook: Playbook) -> None:
    """Calendar settings the SDR saved (Berlin, 45 min, Mondays only) shape the offered card."""
    d = build_desk(
        tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), enrich=bigco, calendar=True
    )
    settings = p.CalendarSettings(
        agent_id="sam", timezone="Europe/Berlin", duration_minutes=45,
        availability=[p.Weekly(weekday=0, start="10:00", end="12:00")],
    )  # fmt: skip
    meetings.update_settings(d.storage, d.agent("sam"), settings)
    d.storage.commit_now()
    conv = await answer_all(d)
    card = bots(d, conv.id)[-1].card
    assert card is not None and card.timezone == "Europe/Berlin" and card.duration_minutes == 45
    berlin = ZoneInfo("Europe/Berlin")
    starts = [datetime.fromtimestamp(s.start, berlin) for s in card.slots]
    assert starts and all(t.weekday() == 0 and (t.hour, t.minute) in ((10, 0), (10, 45)) for t in starts)
    d.automation.stop()
    d.storage.close()


async def test_away_sdr_without_slots_asks_for_email(tmp_path: Path, playbook: Playbook) -> None:
    d = build_desk(
        tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), enrich=bigco, calendar=True
    )
    no_hours(d, "sam")
    conv = await answer_all(d)
    last = bots(d, conv.id)[-1]
    assert last.text == (
        "Sam Chen is away right now — leave your email and they'll reach out within a business day."
    )
    assert last.card is None
    d.automation.stop()
    d.storage.close()
