"""Meeting booking from the visitor widget in a real browser (headless Debian chromium via playwright),
against a real server on 127.0.0.1:0 with a real agent websocket client.

Two paths: an agent shares their calendar (ShareCalendar), and the aligned SDR is Away so the bot offers
their calendar. Browser contexts run in fixed time zones (timezone_id) so the rendered slot times are
checked against that zone; a second visitor racing for the same slot gets a clear message and keeps the
remaining slots. Set WIDGET_SCREENSHOTS=/tmp/shots to write booking-card.png / booking-done.png /
booking-taken.png / booking-away.png there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import msgspec
import pytest
from websockets.asyncio.client import connect

from agent_app import protocol as p
from chat_server import Config, run_server
from tests.playbook.test_widget_browser import ARGS, CHROMIUM, SHOTS, AgentClient, playwright_api

pytestmark = pytest.mark.browser

EVIL = 'Intro call <img src=x onerror="window.__pwned=1"> <b>bold</b>'


class Stack:
    def __init__(self, server: Any, agent: AgentClient, me: p.Agent) -> None:
        self.server = server
        self.agent = agent
        self.me = me
        self.http = server.url.replace("ws://", "http://")


async def _stack(tmp_path: Path, presence: p.Presence) -> AsyncIterator[Stack]:
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent("casey@demo.sdr", "Casey Morgan", "correct horse battery")
        assert server.automation is not None  # the default playbook is on
        async with connect(server.url + "/agent", subprotocols=[p.SUBPROTOCOL]) as ws:  # type: ignore[list-item]
            agent = AgentClient(ws)
            welcome = await agent.call(
                p.Hello(id=agent.cid(), email="casey@demo.sdr", password="correct horse battery")
            )
            await agent.call(p.SetPresence(id=agent.cid(), presence=presence))
            yield Stack(server, agent, welcome.agent)


@pytest.fixture
async def available(tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in _stack(tmp_path, p.Presence.AVAILABLE):
        yield s


@pytest.fixture
async def away(tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in _stack(tmp_path, p.Presence.AWAY):
        yield s


# ---------------------------------------------------------------- helpers


def clean(text: str | None) -> str:
    return " ".join((text or "").replace("\u202f", " ").replace("\xa0", " ").split())


def hm(t: datetime) -> str:
    """en-US "h:mm AM" as Intl.DateTimeFormat(undefined, {hour: "numeric", minute: "2-digit"}) shows it."""
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


class Visitor:
    """One browser context (own localStorage = own visitor) in a given time zone."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.log = page.locator(".sdr-log")

    @classmethod
    async def open(cls, browser: Any, http: str, zone: str) -> Visitor:
        context = await browser.new_context(
            timezone_id=zone, locale="en-US", viewport={"width": 1280, "height": 860}
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        await page.goto(http + "/demo")
        await page.locator(".sdr-launcher").click()
        await page.locator(".sdr-status.sdr-on").wait_for()
        return cls(page)

    async def say(self, text: str) -> None:
        await self.page.locator(".sdr-input").fill(text)
        await self.page.locator(".sdr-input").press("Enter")

    def slot(self, start: float) -> Any:
        js = str(int(start)) if start == int(start) else repr(start)  # String(number) in JS
        return self.page.locator(f'.sdr-card .sdr-slot[data-start="{js}"]').last

    async def shoot(self, name: str) -> None:
        if SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(SHOTS / name))

    async def assert_text_only(self) -> None:
        assert await self.page.evaluate("window.__pwned === undefined")
        imgs = await self.page.evaluate(
            "document.getElementById('sdr-chat-widget').shadowRoot.querySelectorAll('img, b').length"
        )
        assert imgs == 0


def message_event(f: Any, pred: Any) -> bool:
    return isinstance(f, p.EventFrame) and isinstance(f.event, p.MessageCreated) and pred(f.event.message)


async def conversation_of(agent: AgentClient, visitor_text: str) -> str:
    got = await agent.wait_for(
        lambda f: message_event(f, lambda m: m.author_kind == p.AuthorKind.VISITOR and m.text == visitor_text)
    )
    conversation_id: str = got.event.message.conversation_id
    return conversation_id


async def share(agent: AgentClient, conversation_id: str, owner_id: str) -> p.BookingCard:
    command = p.ShareCalendar(id=agent.cid(), conversation_id=conversation_id, agent_id=owner_id)
    ack = await agent.call(command)
    return msgspec.convert(ack.result["message"]["card"], p.BookingCard)


async def assert_card_in_zone(v: Visitor, card: p.BookingCard, zone: str) -> None:
    """The first slot shows the wall time of ``zone`` under that zone's day heading."""
    first = card.slots[0]
    local = datetime.fromtimestamp(first.start, ZoneInfo(zone))
    button = v.slot(first.start)
    await button.wait_for()
    assert clean(await button.text_content()) == hm(local)
    day = button.locator("xpath=ancestor::div[contains(@class,'sdr-day')][1]/div[@class='sdr-day-name']")
    assert clean(await day.text_content()) == f"{local:%a, %b} {local.day}"
    zone_note = clean(await v.page.locator(".sdr-card .sdr-card-zone").last.text_content())
    assert "Times in your time zone:" in zone_note and f"({zone})" in zone_note
    assert await v.page.locator(".sdr-card").last.locator(".sdr-slot").count() == len(card.slots)


async def assert_booked(v: Visitor, stack: Stack, start: float, end: float, zone: str) -> None:
    """Confirmation in the visitor's zone, and a .ics link that downloads the meeting."""
    done = v.page.locator(".sdr-card.sdr-booked").last
    await done.wait_for()
    local = datetime.fromtimestamp(start, ZoneInfo(zone))
    assert clean(await done.locator(".sdr-booked-when").text_content()) == f"{local:%A, %B} {local.day}"
    assert clean(await done.locator(".sdr-booked-time").text_content()).startswith(hm(local) + " \u2013 ")
    link = done.locator("a.sdr-ics")
    href = await link.get_attribute("href")
    assert href is not None and href.startswith(stack.http + "/meetings/") and "token=" in href
    # what the link serves: fetched by the page itself (same origin) and by httpx, parsed with icalendar
    status = await v.page.evaluate("url => fetch(url).then(r => r.status)", href)
    assert status == 200
    async with httpx.AsyncClient() as client:
        response = await client.get(href)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    event = icalendar.Calendar.from_ical(response.content).walk("VEVENT")[0]
    assert event.decoded("DTSTART").timestamp() == start
    assert event.decoded("DTEND").timestamp() == end
    async with httpx.AsyncClient() as client:
        forged = await client.get(href.split("token=")[0] + "token=wrong")
    assert forged.status_code == 404


async def meeting_booked(agent: AgentClient, start: float) -> p.Meeting:
    got = await agent.wait_for(
        lambda f: (
            isinstance(f, p.EventFrame)
            and isinstance(f.event, p.MeetingBooked)
            and f.event.meeting.start == start
        )
    )
    meeting: p.Meeting = got.event.meeting
    return meeting


# ---------------------------------------------------------------- tests


async def test_shared_calendar_booking_and_the_race_for_one_slot(available: Stack) -> None:
    s, agent = available, available.agent
    settings = p.CalendarSettings(agent_id=s.me.id, availability=[
        p.Weekly(weekday=d, start="09:00", end="17:00") for d in range(5)
    ], description=EVIL)  # fmt: skip
    await agent.call(p.UpdateCalendarSettings(id=agent.cid(), settings=settings))
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            jane = await Visitor.open(browser, s.http, "Europe/Berlin")
            bob = await Visitor.open(browser, s.http, "America/Los_Angeles")
            await jane.say("Hi! Can we book a demo next week?")
            await jane.log.get_by_text("What's your work email?").wait_for()
            await jane.say("jane@bigco.example")
            await jane.log.get_by_text("Which company are you with?").wait_for()
            await bob.say("Hello, quick question about pricing")
            conv_jane = await conversation_of(agent, "Hi! Can we book a demo next week?")
            conv_bob = await conversation_of(agent, "Hello, quick question about pricing")

            card = await share(agent, conv_jane, s.me.id)
            assert len(card.slots) >= 3
            await jane.log.get_by_text("Pick a time for a 30-minute call with Casey Morgan").wait_for()
            await assert_card_in_zone(jane, card, "Europe/Berlin")
            desc = jane.page.locator(".sdr-card .sdr-card-desc").last
            assert await desc.text_content() == EVIL  # shown literally, never parsed
            await jane.assert_text_only()
            # the email she typed in the chat is already in the card's field
            assert await jane.page.locator(".sdr-card-email input").last.input_value() == "jane@bigco.example"
            await jane.shoot("booking-card.png")

            bob_card = await share(agent, conv_bob, s.me.id)
            assert bob_card.slots[0] == card.slots[0]
            await assert_card_in_zone(bob, bob_card, "America/Los_Angeles")

            # Jane takes the first slot
            first, second = card.slots[0], card.slots[-1]  # [1] is inside her buffer now
            await jane.slot(first.start).click()
            await assert_booked(jane, s, first.start, first.end, "Europe/Berlin")
            meeting = await meeting_booked(agent, first.start)
            assert meeting.conversation_id == conv_jane and meeting.agent_id == s.me.id
            assert meeting.visitor_email == "jane@bigco.example"
            await jane.assert_text_only()
            await jane.shoot("booking-done.png")

            # Bob, whose card still shows it, tries the same slot: refused clearly, other slots stay open
            await bob.page.locator(".sdr-card-email input").last.fill("bob@other.example")
            await bob.slot(first.start).click()
            note = bob.page.locator(".sdr-card .sdr-card-note").last
            await note.get_by_text("That time was just taken — pick another.").wait_for()
            taken = bob.slot(first.start)
            assert await taken.is_disabled() and "sdr-taken" in (await taken.get_attribute("class") or "")
            assert (
                await bob.page.locator(".sdr-card .sdr-slot:not(.sdr-taken):enabled").count()
                == len(bob_card.slots) - 1
            )
            assert await bob.page.locator(".sdr-booked").count() == 0
            await bob.shoot("booking-taken.png")
            # ... and books another one
            await bob.slot(second.start).click()
            await assert_booked(bob, s, second.start, second.end, "America/Los_Angeles")
            assert (await meeting_booked(agent, second.start)).conversation_id == conv_bob
        finally:
            await browser.close()


async def test_away_sdr_calendar_offered_by_the_bot(away: Stack) -> None:
    s, agent = away, away.agent
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            v = await Visitor.open(browser, s.http, "Asia/Tokyo")
            await v.say("Hi! What does the Team plan cost for us?")
            await v.log.get_by_text("What's your work email?").wait_for()
            await v.say("kenji@bigco.example")
            await v.log.get_by_text("Which company are you with?").wait_for()
            await v.say("BigCo")
            await v.log.get_by_text("How many people are on your team?").wait_for()
            await v.say("250-400")
            # Casey (the table's catch-all rule) is away: the bot offers her calendar at once
            offer = await agent.wait_for(
                lambda f: message_event(f, lambda m: m.author_kind == p.AuthorKind.BOT and m.card is not None)
            )
            card = offer.event.message.card
            assert card.agent_id == s.me.id and card.slots
            assert offer.event.message.text.startswith("Casey Morgan is away right now — pick a time")
            await v.log.get_by_text("Casey Morgan is away right now").wait_for()
            await assert_card_in_zone(v, card, "Asia/Tokyo")
            await v.assert_text_only()
            await v.shoot("booking-away.png")
            slot = card.slots[2]
            await v.slot(slot.start).click()
            await assert_booked(v, s, slot.start, slot.end, "Asia/Tokyo")
            meeting = await meeting_booked(agent, slot.start)
            assert meeting.visitor_email == "kenji@bigco.example"
            assert meeting.conversation_id == offer.event.message.conversation_id
        finally:
            await browser.close()
