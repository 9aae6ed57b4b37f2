"""The visitor widget in a real browser (headless Debian chromium via playwright) against a real server
on 127.0.0.1:0, with an agent connected through the real agent protocol (websockets)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from agent_app import protocol as p
from chat_server import Config, run_server

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = Path(os.environ.get("WIDGET_SCREENSHOTS", "")) if os.environ.get("WIDGET_SCREENSHOTS") else None


class AgentClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[Any] = []
        self.n = 0

    def cid(self) -> str:
        self.n += 1
        return f"a{self.n}"

    async def call(self, frame: Any) -> Any:
        await self.ws.send(p.encode(frame))
        while True:
            got = p.decode_server_frame(await asyncio.wait_for(self.ws.recv(), 10))
            if isinstance(got, p.Ack | p.Error | p.Welcome) and got.ref == frame.id:
                assert isinstance(got, p.Ack | p.Welcome), got
                return got
            self.frames.append(got)

    async def wait_for(self, pred: Any, wait: float = 15) -> Any:
        for f in self.frames:
            if pred(f):
                return f
        async with asyncio.timeout(wait):
            while True:
                got = p.decode_server_frame(await self.ws.recv())
                self.frames.append(got)
                if pred(got):
                    return got


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Any, AgentClient]]:
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent("casey@demo.sdr", "Casey Morgan", "correct horse battery")
        assert server.automation is not None  # the default playbook is on
        async with connect(server.url + "/agent", subprotocols=[p.SUBPROTOCOL]) as ws:  # type: ignore[list-item]
            agent = AgentClient(ws)
            await agent.call(
                p.Hello(id=agent.cid(), email="casey@demo.sdr", password="correct horse battery")
            )
            await agent.call(p.SetPresence(id=agent.cid(), presence=p.Presence.AVAILABLE))
            yield server, agent


async def test_widget_end_to_end(stack: tuple[Any, AgentClient]) -> None:
    server, agent = stack
    http = server.url.replace("ws://", "http://")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            if os.environ.get("WIDGET_DEBUG"):
                page.on("console", lambda m: print("console:", m.text))
                page.on("websocket", lambda w: w.on("framereceived", lambda f: print("ws<", f)))
            await page.goto(http + "/demo")
            launcher = page.locator(".sdr-launcher")
            await launcher.wait_for()
            if SHOTS:
                await page.screenshot(path=str(SHOTS / "widget-closed.png"))
            await launcher.click()
            status = page.locator(".sdr-status.sdr-on")
            await status.wait_for()
            log = page.locator(".sdr-log")
            box = page.locator(".sdr-input")

            async def say(text: str) -> None:
                await box.fill(text)
                await box.press("Enter")

            await say("Hi! What does the Team plan cost for us?")
            await log.get_by_text("What's your work email?").wait_for()
            await say("not-an-email")
            await log.get_by_text("doesn't look like an email address").wait_for()
            await say("jane@bigco.example")
            await log.get_by_text("Which company are you with?").wait_for()
            await say("BigCo")
            await log.get_by_text("How many people are on your team?").wait_for()
            await say("250-400")
            await log.get_by_text("Connecting you with the right person").wait_for()

            # routed: Casey (the table's catch-all rule) gets the conversation assigned
            update = await agent.wait_for(
                lambda f: (
                    isinstance(f, p.EventFrame)
                    and isinstance(f.event, p.ConversationUpdated)
                    and f.event.conversation.assignee_id is not None
                    and f.event.conversation.routing is not None
                )
            )
            conv = update.event.conversation
            assert (conv.routing.rule, conv.routing.line) == ("fallback", 13)
            assert conv.visitor.email == "jane@bigco.example"
            assert conv.cql == 2 and conv.sla_due_at is not None

            # agent typing + reply, with markup that must show literally
            await agent.ws.send(p.encode(p.SetTyping(id=agent.cid(), conversation_id=conv.id)))
            await page.locator(".sdr-typing:not([hidden])").wait_for()
            evil = 'Hi Jane, Casey here <img src=x onerror="window.__pwned=1"> <b>bold</b>'
            await agent.call(p.SendMessage(id=agent.cid(), conversation_id=conv.id, text=evil))
            agent_msg = page.locator(".sdr-from-agent .sdr-bubble", has_text="Casey here")
            await agent_msg.wait_for()
            assert await agent_msg.text_content() == evil
            assert await page.locator(".sdr-from-agent .sdr-author").last.text_content() == "Casey Morgan"
            assert await page.evaluate("window.__pwned === undefined")
            host_imgs = await page.evaluate(
                "document.getElementById('sdr-chat-widget').shadowRoot.querySelectorAll('img').length"
            )
            assert host_imgs == 0
            if SHOTS:
                await page.screenshot(path=str(SHOTS / "widget-open.png"))

            # reload: same visitor token, same conversation and transcript
            token = await page.evaluate(
                "Object.entries(localStorage).find(([k]) => k.startsWith('sdrWidget.token'))[1]"
            )
            await page.reload()
            await page.locator(".sdr-status.sdr-on").wait_for()
            await page.locator(".sdr-from-agent .sdr-bubble", has_text="Casey here").wait_for()
            token2 = await page.evaluate(
                "Object.entries(localStorage).find(([k]) => k.startsWith('sdrWidget.token'))[1]"
            )
            assert token == token2
            await say("Great, thanks!")
            reply = await agent.wait_for(
                lambda f: (
                    isinstance(f, p.EventFrame)
                    and isinstance(f.event, p.MessageCreated)
                    and f.event.message.text == "Great, thanks!"
                )
            )
            assert reply.event.message.conversation_id == conv.id

            # navigation inside the page is reported (page_view)
            await page.evaluate("history.pushState({}, '', '/demo/enterprise')")
            await agent.wait_for(
                lambda f: (
                    isinstance(f, p.EventFrame)
                    and isinstance(f.event, p.VisitorUpdated)
                    and f.event.visitor.current_page.endswith("/demo/enterprise")
                )
            )
        finally:
            await browser.close()
