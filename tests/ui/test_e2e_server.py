"""End to end: the real chat server (in-process, port 0) + the real Session + the main window."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app.store import Delivery
from tests.client.conftest import Visitor
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from ui.conversation import TranscriptRole

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


async def test_visitor_message_reaches_queue_and_transcript_and_reply_reaches_visitor(
    qtbot: Any, tmp_path: Path
) -> None:
    from chat_server.app import run_server
    from chat_server.config import Config

    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "server.sqlite3"))
    async with run_server(config) as server:
        server.admin.add_agent(EMAIL, "Sam SDR", PASSWORD)
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD, features=False) as desk:
            window = desk.window
            assert window.connection.label.text() == "Online"
            async with Visitor(server.url) as visitor:
                await visitor.say("Hi, <b>pricing</b> please")
                cid = visitor.conversation_id
                assert cid
                await until(lambda: window.queue.proxy.row_of(cid) >= 0, "the chat in the queue")
                row = window.queue.proxy.index(window.queue.proxy.row_of(cid), 0)
                assert row.data(Qt.ItemDataRole.DisplayRole)  # "Visitor #…" (anonymous visitor)
                window.open_conversation(cid)
                model = window.conversation.model
                await until(
                    lambda: any(
                        model.index(r).data() == "Hi, <b>pricing</b> please" for r in range(model.rowCount())
                    ),
                    "the visitor's message in the transcript",
                )
                composer = window.conversation.composer
                composer.edit.setFocus()
                qtbot.keyClicks(composer.edit, "Happy to help!")
                qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
                await until(
                    lambda: any(
                        model.index(r).data() == "Happy to help!"
                        and model.index(r).data(TranscriptRole.DELIVERY) == Delivery.SENT
                        for r in range(model.rowCount())
                    ),
                    "my reply acknowledged",
                )
                deadline = time.monotonic() + 10
                got = ""
                while time.monotonic() < deadline and got != "Happy to help!":
                    frame = p.decode_server_frame(await asyncio.wait_for(visitor.ws.recv(), 10))
                    if isinstance(frame, p.EventFrame) and isinstance(frame.event, p.MessageCreated):
                        message = frame.event.message
                        if message.author_kind is p.AuthorKind.AGENT:
                            got = message.text
                assert got == "Happy to help!"
