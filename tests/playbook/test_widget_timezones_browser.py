"""Time zones from the visitor's side (issue 9, defect 5), in a real browser: a visitor in Los Angeles books
an SDR whose calendar is New York and whose profile says Chicago. The widget shows the slot and the
confirmation in the visitor's zone with its label; the team's booking line carries the same instant for
each desk client to show in its reader's zone (the Qt side: tests/qualify/test_timezones.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from websockets.asyncio.client import connect

from agent_app import protocol as p
from agent_app.timezones import message_text, reader_zone
from chat_server import Config, run_server
from tests.playbook.test_widget_booking_browser import (
    Stack,
    Visitor,
    clean,
    conversation_of,
    hm,
    meeting_booked,
    message_event,
    share,
)
from tests.playbook.test_widget_browser import ARGS, CHROMIUM, AgentClient, playwright_api

pytestmark = pytest.mark.browser
LA, CHICAGO = ZoneInfo("America/Los_Angeles"), ZoneInfo("America/Chicago")
ALWAYS = [p.Weekly(weekday=d, start="00:00", end="24:00") for d in range(7)]


@pytest.fixture
async def chicago_sdr(tmp_path: Path) -> AsyncIterator[Stack]:
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent(
            "casey@demo.sdr", "Casey Morgan", "correct horse battery", timezone="America/Chicago"
        )
        async with connect(server.url + "/agent", subprotocols=[p.SUBPROTOCOL]) as ws:  # type: ignore[list-item]
            agent = AgentClient(ws)
            welcome = await agent.call(
                p.Hello(id=agent.cid(), email="casey@demo.sdr", password="correct horse battery")
            )
            await agent.call(p.SetPresence(id=agent.cid(), presence=p.Presence.AVAILABLE))
            yield Stack(server, agent, welcome.agent)


async def test_visitor_sees_the_booking_in_their_zone_labelled(chicago_sdr: Stack) -> None:
    s, agent = chicago_sdr, chicago_sdr.agent
    assert s.me.timezone == "America/Chicago"
    settings = p.CalendarSettings(
        agent_id=s.me.id, timezone="America/New_York", buffer_minutes=0, min_notice_minutes=0,
        horizon_days=3, availability=ALWAYS,
    )  # fmt: skip
    await agent.call(p.UpdateCalendarSettings(id=agent.cid(), settings=settings))
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            v = await Visitor.open(browser, s.http, "America/Los_Angeles")
            await v.say("Hi! Could we set up a call?")
            conversation_id = await conversation_of(agent, "Hi! Could we set up a call?")
            card = await share(agent, conversation_id, s.me.id)
            slot = card.slots[3]
            local = datetime.fromtimestamp(slot.start, LA)
            label = str(local.tzname())  # PST or PDT
            button = v.slot(slot.start)
            await button.wait_for()
            assert clean(await button.text_content()) == hm(local)
            assert label in clean(await button.get_attribute("title"))  # "Book Tue, Dec 1, 10:00 AM PST"
            await v.page.locator(".sdr-card-email input").last.fill("dana@globex.example")
            await button.click()
            done = v.page.locator(".sdr-card.sdr-booked").last
            await done.wait_for()
            end = datetime.fromtimestamp(slot.end, LA)
            shown = clean(await done.locator(".sdr-booked-time").text_content())
            assert shown == f"{hm(local)} \u2013 {hm(end)} {label}"  # "10:00 AM - 10:30 AM PST"
            await v.shoot("booking-zones.png")

            meeting = await meeting_booked(agent, slot.start)
            assert meeting.timezone == "America/New_York"  # the calendar's zone, kept for reference
            line = await agent.wait_for(
                lambda f: message_event(f, lambda m: m.author_kind == p.AuthorKind.SYSTEM and m.meeting)
            )
            message = line.event.message
            assert message.private and message.meeting.start == slot.start  # the instant, not a wall time
            mine = message_text(message, reader_zone(s.me), {s.me.id: s.me.name})
            chicago = datetime.fromtimestamp(slot.start, CHICAGO)
            assert f"{chicago:%H:%M}" in mine and str(chicago.tzname()) in mine
        finally:
            await browser.close()
