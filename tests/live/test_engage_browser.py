"""A rep engages a visitor: the widget in headless Chromium pops the message up, the visitor dismisses it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from agent_app import protocol as p
from chat_server import Config, run_server
from tests.playbook.test_widget_browser import ARGS, CHROMIUM, SHOTS, AgentClient

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Any, AgentClient]]:
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent("casey@demo.sdr", "Casey Morgan", "correct horse battery")
        async with connect(server.url + "/agent", subprotocols=[p.SUBPROTOCOL]) as ws:  # type: ignore[list-item]
            agent = AgentClient(ws)
            await agent.call(
                p.Hello(id=agent.cid(), email="casey@demo.sdr", password="correct horse battery")
            )
            await agent.call(p.WatchLiveVisitors(id=agent.cid()))
            yield server, agent


def _listed(frame: Any) -> bool:
    return isinstance(frame, p.LiveVisitorsFrame) and bool(frame.visitors)


async def test_the_proactive_message_pops_up_survives_a_page_load_and_can_be_dismissed(
    stack: tuple[Any, AgentClient],
) -> None:
    server, agent = stack
    http = server.url.replace("ws://", "http://")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            await page.goto(http + "/demo")
            await page.locator(".sdr-status.sdr-on").wait_for(state="attached")
            listed = await agent.wait_for(_listed)
            visitor_id = listed.visitors[0].visitor_id
            assert listed.visitors[0].current_page.endswith("/demo")

            text = "Hi! I see you are looking at the demo <b>page</b> — any questions?"
            ack = await agent.call(p.EngageVisitor(id=agent.cid(), visitor_id=visitor_id, text=text))
            conversation_id = ack.result["conversation"]["id"]
            peek = page.locator(".sdr-peek:not([hidden])")
            await peek.wait_for()
            assert await page.locator(".sdr-peek-text").text_content() == text  # literally, not as markup
            assert await page.locator(".sdr-peek-author").text_content() == "Casey Morgan"
            assert await page.locator(".sdr-panel").is_hidden()
            if SHOTS:
                await page.wait_for_timeout(400)  # the pop-up's entry animation, for the picture only
                await page.screenshot(path=str(SHOTS / "widget-engage.png"))

            # not answered yet: the next page load pops it up again
            await page.reload()
            await peek.wait_for()

            await page.locator(".sdr-peek-close").click()
            await page.locator(".sdr-peek").wait_for(state="hidden")
            closed = await agent.wait_for(
                lambda f: isinstance(f, p.EventFrame) and isinstance(f.event, p.ConversationClosed)
            )
            assert closed.event.conversation.id == conversation_id
            await agent.wait_for(
                lambda f: (
                    isinstance(f, p.LiveVisitorsFrame) and any(v.dismissed_at is not None for v in f.visitors)
                )
            )
            await agent.ws.send(p.encode(p.EngageVisitor(id="again", visitor_id=visitor_id, text="Hello?")))
            refused = await agent.wait_for(lambda f: isinstance(f, p.Error) and f.ref == "again")
            assert refused.code == p.ErrorCode.CONFLICT and "dismissed a chat" in refused.message

            # dismissed: no pop-up on the next page, and the launcher still opens the chat with the message
            await page.reload()
            await page.locator(".sdr-status.sdr-on").wait_for(state="attached")
            assert await page.locator(".sdr-peek").is_hidden()
            await page.locator(".sdr-launcher").click()
            await page.locator(".sdr-from-agent .sdr-bubble", has_text="any questions?").wait_for()
        finally:
            await browser.close()
