"""Journey 6: a visitor opens the website (the real widget in a browser) -> "On site now (1)" in my toolbar,
her row under the "Live pages" segment -> I click Engage…, write my opener and send -> it pops up over her
widget -> she clicks it and answers -> the chat is open in my desk, mine, with her answer in it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.journeys.conftest import CHROMIUM, CHROMIUM_ARGS, Journey, visible_text
from tests.journeys.test_04_calendar_booking import clean
from tests.qt_loop import run, wait_until
from ui.live_visitors.dialog import EngageDialog
from ui.live_visitors.view import LiveVisitorsView

pytestmark = pytest.mark.browser
OPENER = "Hi! I'm Alex from sales. Comparing plans? Happy to help you pick one."
ANSWER = "Yes please, we are 40 people on HubSpot today."


def test_engaging_a_visitor_on_the_site_pops_up_in_her_widget_and_opens_the_chat(
    journey: Journey, loop: asyncio.AbstractEventLoop, playwright: Any
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with journey.desk() as desk:
            app, window, store = desk.app, desk.window, desk.store
            live = _live_action(window)
            # Nobody on the site: the demo's seeded past visitors left hours ago (they are not listed).
            await wait_until(lambda: live.text() == "On site now (0)", 5, "'On site now (0)' in the toolbar")

            async with playwright.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await (await browser.new_context(locale="en-US")).new_page()
                    page.set_default_timeout(15_000)
                    # She opens the demo page (a live page: the bot runs there); she does not chat.
                    await page.goto(app.demo.website_url)
                    await page.locator(".sdr-status.sdr-on").wait_for(state="attached")

                    # 1. My toolbar counts her at once; the view lists her, tagged by segment.
                    await wait_until(lambda: live.text() == "On site now (1)", 10, "'On site now (1)'")
                    button = window.toolbar.widgetForAction(live)
                    assert button is not None and button.isVisible()
                    window.activateWindow()
                    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
                    view = window.findChild(LiveVisitorsView, "liveVisitorsView")
                    assert view is not None
                    await wait_until(lambda: window.center.currentWidget() is view, 5, "the view on screen")
                    assert view.isVisible()
                    assert view.summary.text() == "1 visitor on the website"
                    chips = {c.text() for c in view.chips.values()}
                    expected = {"Everyone (1)", "Live pages (1)", "Not chatting (1)", "Targets (0)"}
                    assert expected <= chips, chips
                    # Each chip shows its whole text (they wrap onto two rows when the pane is narrow).
                    seen["clipped"] = [
                        c.text() for c in view.chips.values() if c.width() < c.sizeHint().width()
                    ]
                    # The "Live pages" segment shows her (the demo page is one of the playbook's pages).
                    live_pages = next(c for c in view.chips.values() if c.text().startswith("Live pages"))
                    QTest.mouseClick(live_pages, Qt.MouseButton.LeftButton)
                    await wait_until(lambda: view.proxy.rowCount() == 1, 5, "her row under Live pages")
                    seen["row"] = _row_texts(view, 0)
                    targets = next(c for c in view.chips.values() if c.text().startswith("Targets"))
                    QTest.mouseClick(targets, Qt.MouseButton.LeftButton)
                    await wait_until(lambda: view.proxy.rowCount() == 0, 5, "nobody under Targets")
                    assert view.empty.isVisible() and "Nobody in this segment" in view.empty.text()
                    QTest.mouseClick(live_pages, Qt.MouseButton.LeftButton)
                    await wait_until(lambda: view.proxy.rowCount() == 1, 5, "her row again")

                    # 2. I select her row and click Engage…; I write my own opener and send it.
                    assert not view.engage_button.isEnabled()  # nobody selected yet
                    rect = view.table.visualRect(view.proxy.index(0, 0))
                    QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
                    await wait_until(view.engage_button.isEnabled, 5, "Engage… enabled for her")
                    await journey.shot("journey6-on-site-now")
                    QTest.mouseClick(view.engage_button, Qt.MouseButton.LeftButton)
                    await wait_until(lambda: _open_dialog() is not None, 5, "the Engage dialog")
                    dialog = _open_dialog()
                    assert dialog is not None
                    assert dialog.editor.toPlainText().strip()  # a greeting is prefilled
                    seen["dialog_title"] = dialog.windowTitle()
                    dialog.editor.selectAll()
                    QTest.keyClicks(dialog.editor, OPENER)
                    assert dialog.counter.text() == f"{len(OPENER)} / 1000"
                    before = set(store.conversations)
                    QTest.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)

                    # 3. The desk opens the new chat: mine, with my opener in it.
                    def new_chat() -> Any:
                        return next((c for c in store.conversations.values() if c.id not in before), None)

                    await wait_until(new_chat, 10, "the engaged chat in my store")
                    conv = new_chat()
                    await wait_until(
                        lambda: window.current_conversation_id() == conv.id,
                        10,
                        "the engaged chat open in the desk",
                    )
                    await wait_until(lambda: _open_dialog() is None, 5, "the dialog to close once sent")
                    assert window.center.currentWidget() is window.conversation
                    assert store.me is not None and conv.assignee_id == store.me.id
                    assert "Assigned to Alex Rivera" in window.conversation.header.details.text()
                    seen["header_name"] = window.conversation.header.name.text()  # as her row names her
                    assert any(OPENER in t for t in _transcript(window)), _transcript(window)

                    # 4. Her widget pops my message up over the launcher (the chat itself stays closed).
                    peek = page.locator(".sdr-peek")
                    await peek.wait_for(state="visible")
                    seen["peek_author"] = clean(await peek.locator(".sdr-peek-author").text_content())
                    seen["peek_text"] = clean(await peek.locator(".sdr-peek-text").text_content())
                    assert await page.locator(".sdr-panel").is_hidden()

                    # 5. She clicks it (the chat opens) and answers; her answer is in my open chat.
                    await peek.locator(".sdr-peek-body").click()
                    await page.locator(".sdr-input").fill(ANSWER)
                    await page.locator(".sdr-input").press("Enter")
                    await wait_until(
                        lambda: any(ANSWER in t for t in _transcript(window)), 10, "her answer in my chat"
                    )
                    seen["open"] = window.current_conversation_id() == conv.id
                    await journey.shot("journey6-engaged")

                    # 6. Her row now says she is chatting (engaged by me); Engage is off for her.
                    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
                    await wait_until(lambda: window.center.currentWidget() is view, 5, "the view again")
                    await wait_until(
                        lambda: "Chatting (engaged by Alex Rivera)" in _row_texts(view, 0), 10, "her status"
                    )
                    assert "already has an open chat" in visible_text(view)
                    assert not view.engage_button.isEnabled()
                finally:
                    await browser.close()

    run(loop, scenario(), timeout=90)
    assert "Live page" in seen["row"].split(" | ")[2], seen["row"]  # the Segments column
    assert not seen["clipped"], seen["clipped"]
    assert seen["row"].split(" | ")[0] == seen["header_name"], (seen["row"], seen["header_name"])
    assert seen["header_name"].startswith("Visitor #")  # anonymous: named as the queue names her
    assert seen["dialog_title"].startswith("Engage ")
    assert seen["peek_author"] == "Alex Rivera"
    assert seen["peek_text"] == OPENER
    assert seen["open"]


def _live_action(window: Any) -> QAction:
    actions = [a for a in window.toolbar.actions() if a.objectName() == "liveVisitorsAction"]
    assert len(actions) == 1 and isinstance(actions[0], QAction), "the 'On site now' toolbar action"
    return actions[0]


def _row_texts(view: LiveVisitorsView, row: int) -> str:
    model = view.proxy
    return " | ".join(
        str(model.index(row, c).data(Qt.ItemDataRole.DisplayRole) or "") for c in range(model.columnCount())
    )


def _transcript(window: Any) -> list[str]:
    model = window.conversation.model
    return [str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]


def _open_dialog() -> EngageDialog | None:
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, EngageDialog) and w.isVisible()]
    return shown[0] if shown else None
