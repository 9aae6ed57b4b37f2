"""Journey 4: I share my calendar into a waiting chat -> the visitor books a slot in the chat widget (a real
browser in London) -> the Meetings view shows that same meeting, in my zone (Los Angeles), each side
labelled with its zone."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from tests.journeys.conftest import CHROMIUM, CHROMIUM_ARGS, Journey
from tests.qt_loop import run, wait_until
from ui.calendar.share_button import CalendarShareButton

VISITOR_ZONE, MY_ZONE = "Europe/London", "America/Los_Angeles"

pytestmark = pytest.mark.browser


def clean(text: str | None) -> str:
    return " ".join((text or "").replace("\u202f", " ").replace("\xa0", " ").split())


def hm(t: datetime) -> str:
    """en-US "h:mm AM", as the widget shows a slot."""
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def test_a_booking_in_the_widget_shows_the_same_time_in_meetings(
    journey: Journey, loop: asyncio.AbstractEventLoop, playwright: Any
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with journey.desk() as desk:
            app, window, store = desk.app, desk.window, desk.store
            async with playwright.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = await browser.new_context(timezone_id=VISITOR_ZONE, locale="en-US")
                    context.set_default_timeout(15_000)
                    page = await context.new_page()
                    await page.goto(app.demo.website_url)
                    await page.locator(".sdr-launcher").click()
                    await page.locator(".sdr-status.sdr-on").wait_for()
                    before = set(store.conversations)
                    await page.locator(".sdr-input").fill("Hi! Could we book a demo next week?")
                    await page.locator(".sdr-input").press("Enter")

                    def waiting() -> Any:
                        return next((c for c in store.conversations.values() if c.id not in before), None)

                    await wait_until(waiting, 15, "her chat in my queue")
                    conv = waiting()

                    # Share my calendar from the reply box's toolbar.
                    window.activateWindow()
                    window.open_conversation(conv.id)
                    button = window.findChild(CalendarShareButton, "calendarShareButton")
                    assert button is not None and button.isVisible() and button.isEnabled()
                    QTest.mouseClick(
                        button, Qt.MouseButton.LeftButton, pos=button.rect().center() / 2
                    )  # not the arrow

                    await page.locator(".sdr-card .sdr-slot").first.wait_for()
                    # This card, pinned: a later card (a bot's offer) must not become "the last one" mid-way.
                    card = page.locator(".sdr-card").nth(await page.locator(".sdr-card").count() - 1)
                    zone_note = clean(await card.locator(".sdr-card-zone").text_content())
                    assert f"({VISITOR_ZONE})" in zone_note
                    slot = card.locator(".sdr-slot").first
                    start = float(await slot.get_attribute("data-start") or "0")
                    widget_time = clean(await slot.text_content())
                    assert widget_time == hm(datetime.fromtimestamp(start, ZoneInfo(VISITOR_ZONE)))
                    await card.locator(".sdr-card-email input").fill("emma.clarke@gekko.co.uk")
                    await slot.click()
                    booked = page.locator(".sdr-card.sdr-booked").last
                    try:
                        await booked.wait_for()
                    except playwright.TimeoutError as exc:
                        note = await card.locator(".sdr-card-note").text_content()
                        raise AssertionError(f"no booking confirmation; the card says {note!r}") from exc
                    seen["widget"] = clean(await booked.locator(".sdr-booked-time").text_content())
                finally:
                    await browser.close()

            # The chat's transcript tells the booking in my zone...
            def booking_lines() -> list[str]:
                model = window.conversation.model
                texts = [
                    str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())
                ]
                return [t for t in texts if "booked a call with Alex Rivera" in t]

            await wait_until(booking_lines, 10, "the booking line in the transcript")
            seen["transcript"] = booking_lines()

            # ... and so does Meetings (toolbar): the same instant, in my zone, labelled.
            actions = [a for a in window.toolbar.actions() if a.text() == "Meetings"]
            assert actions, "the Meetings toolbar action"
            actions[0].trigger()
            await wait_until(lambda: _meetings_on_screen(window), 5, "the Meetings view on screen")
            await wait_until(lambda: _meeting_rows(window), 10, "the meeting in Meetings")
            seen["rows"] = _meeting_rows(window)
            await journey.shot("journey4-meetings")
            seen["zone"] = window.findChild(QLabel, "meetingsZone").text()
            seen["start"] = start

    run(loop, scenario(), timeout=90)
    start = seen["start"]
    mine = datetime.fromtimestamp(start, ZoneInfo(MY_ZONE))
    theirs = datetime.fromtimestamp(start, ZoneInfo(VISITOR_ZONE))
    assert seen["widget"].startswith(hm(theirs))
    assert f"{MY_ZONE} (" in seen["zone"]
    # One meeting; the same wall time and zone abbreviation in Meetings and in the transcript.
    assert len(seen["rows"]) == 1, seen["rows"]
    assert f"{mine:%H:%M}" in seen["rows"][0] and mine.strftime("%Z") in seen["rows"][0], seen["rows"]
    (line,) = seen["transcript"]
    assert f"{mine:%H:%M}" in line and mine.strftime("%Z") in line, line


def _meeting_rows(window: Any) -> list[str]:
    from ui.meetings.view import MeetingsView

    view = window.findChild(MeetingsView)
    if view is None:
        return []
    model = view.table.model()
    return [str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]


def _meetings_on_screen(window: Any) -> bool:
    from ui.meetings.view import MeetingsView

    view = window.findChild(MeetingsView)
    return view is not None and view.isVisible() and window.center.currentWidget() is view
