"""The "On site now" view in the real window, signed in to a real server: visitors appear with their
segments as their widgets connect; Engage opens the new chat with the message; refusals show in the dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.live_visitors import Segment
from chat_server import run_server
from chat_server.playbook import loads_playbook
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import Client, cid, make_config, visitor_login
from ui.live_visitors import LiveVisitorsFeature
from ui.live_visitors.dialog import EngageDialog
from ui.live_visitors.model import Column

EMAIL, PASSWORD = "sam@example.com", "correct horse battery"


def cell(feature: LiveVisitorsFeature, row: int, column: Column) -> str:
    proxy = feature.view.proxy
    return str(proxy.index(row, column).data(Qt.ItemDataRole.DisplayRole))


async def next_agent_text(visitor: Client) -> p.Message:
    while True:
        frame = await visitor.recv(10)
        event = frame.event if isinstance(frame, p.EventFrame) else None
        if isinstance(event, p.MessageCreated) and event.message.author_kind is p.AuthorKind.AGENT:
            return event.message


async def test_visitors_appear_by_segment_and_engage_opens_the_chat(qtbot: Any, tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, live_grace_seconds=0.05)) as server:
        server.ctx.live.playbook = loads_playbook('pages = ["/pricing"]\ntarget_accounts = ["globex.com"]')
        server.admin.add_agent(EMAIL, "Sam Chen", PASSWORD)
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD) as desk:
            assert desk.features is not None
            feature = desk.features.live_visitors
            window = desk.window
            await until(lambda: feature.action.text() == "On site now (0)", "the empty list")
            feature.action.trigger()
            assert window.center.currentWidget() is feature.view
            assert feature.view.empty.isVisible() and "Nobody is on the website" in feature.view.empty.text()

            dana, welcome = await visitor_login(
                server, page_url="https://acme.test/pricing", page_title="Pricing"
            )
            await dana.ok(p.VisitorUpdateProfile(id=cid("u"), name="Dana Lee", email="dana@globex.com"))
            anon, _ = await visitor_login(server, page_url="https://acme.test/blog")
            await until(lambda: feature.action.text() == "On site now (2)", "two visitors")
            await until(lambda: len(feature.live) == 2 and feature.live.rows[0].target_account, "the segment")
            view = feature.view
            assert view.chips[view.proxy.segment].isChecked()
            qtbot.mouseClick(view.chips[Segment.TARGET],
                             Qt.MouseButton.LeftButton)  # fmt: skip
            assert view.proxy.rowCount() == 1
            assert cell(feature, 0, Column.VISITOR) == "Dana Lee"
            assert cell(feature, 0, Column.SEGMENTS) == "Target account · Known · Live page"
            assert cell(feature, 0, Column.PAGE) == "Pricing"
            assert cell(feature, 0, Column.TIME).endswith(" s")
            assert view.chips[feature.view.proxy.segment].text() == "Targets (1)"

            # a saved reply of mine can be the opener, expanded for Dana
            walkthrough = (
                "Hi {visitor_first_name} — {my_first_name} here. Want a quick walkthrough of the plans?"
            )
            create = p.CreateSavedReply(id=cid("sr"), shortcut="walk", title="Walkthrough", text=walkthrough)
            await desk.session.request(create)
            await until(lambda: len(desk.store.saved_replies) == 1, "the saved reply")

            view.table.selectRow(0)
            assert view.engage_button.isEnabled()
            qtbot.mouseClick(view.engage_button, Qt.MouseButton.LeftButton)
            dialog = feature.dialog
            assert isinstance(dialog, EngageDialog)
            assert (
                dialog.editor.toPlainText()
                == "Hi Dana! I'm Sam from the sales team. Anything I can help with on Pricing?"
            )
            assert dialog.openers.isVisibleTo(dialog) and dialog.openers.itemText(1) == "Walkthrough"
            dialog.openers.setCurrentIndex(1)
            dialog.openers.activated.emit(1)  # as when the SDR picks it
            assert dialog.editor.toPlainText() == "Hi Dana — Sam here. Want a quick walkthrough of the plans?"
            qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)

            message = await next_agent_text(dana)
            assert message.text == "Hi Dana — Sam here. Want a quick walkthrough of the plans?"
            assert message.author_name == "Sam Chen" and message.author_id == ""
            await until(lambda: window.center.currentWidget() is window.conversation, "the chat opened")
            conversation = desk.store.conversations[window.current_conversation_id()]
            assert conversation.assigned_via == "engage" and conversation.visitor.id == welcome.visitor.id
            await until(lambda: feature.dialog is None, "the dialog closed")
            await until(lambda: "Chatting" in cell(feature, 0, Column.STATUS), "the row says chatting")

            # back in the view: Engage is off for Dana, and says why
            feature.action.trigger()
            view.table.selectRow(0)
            assert not view.engage_button.isEnabled() and view.open_button.isVisible()
            assert view.blocker.text() == "Dana Lee already has an open chat"

            # the anonymous visitor leaves while the dialog is open: the server's refusal shows in it
            qtbot.mouseClick(view.chips[Segment.ALL],
                             Qt.MouseButton.LeftButton)  # fmt: skip
            anon_row = next(
                r for r in range(view.proxy.rowCount()) if cell(feature, r, Column.VISITOR) != "Dana Lee"
            )
            view.table.selectRow(anon_row)
            qtbot.mouseClick(view.engage_button, Qt.MouseButton.LeftButton)
            dialog = feature.dialog
            assert isinstance(dialog, EngageDialog)
            assert (
                dialog.editor.toPlainText()
                == "Hi there! I'm Sam from the sales team. Anything I can help with on /blog?"
            )
            await anon.close()
            await until(lambda: feature.action.text() == "On site now (1)", "the visitor gone")
            qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
            await until(lambda: dialog.error.isVisible(), "the refusal")
            assert dialog.error.text() == "this visitor has left the site"
            dialog.reject()
            QApplication.processEvents()
            await dana.close()


async def test_engage_offers_saved_replies_the_desk_never_loaded(qtbot: Any, tmp_path: Path) -> None:
    """The team's saved replies exist before I sign in, and I never opened the "/" picker: the Engage
    dialog still offers them as openers (loaded when it opens), filled in for the visitor."""
    async with run_server(make_config(tmp_path, live_grace_seconds=0.05)) as server:
        server.admin.add_agent(EMAIL, "Sam Chen", PASSWORD)
        text = "Hi {visitor_first_name}, {my_first_name} here. Questions about pricing?"
        reply = p.SavedReply(id="r1", shortcut="hello", title="Team hello", text=text, updated_at=1.0)
        server.storage.save_saved_reply(reply)
        server.storage.commit_now()
        async with signed_in_desk(qtbot, server.url, tmp_path, EMAIL, PASSWORD) as desk:
            assert desk.features is not None
            feature = desk.features.live_visitors
            await until(lambda: feature.action.text() == "On site now (0)", "the empty list")
            dana, _ = await visitor_login(server, page_url="https://acme.test/pricing", page_title="Pricing")
            await dana.ok(p.VisitorUpdateProfile(id=cid("u"), name="Dana Lee"))
            await until(lambda: feature.action.text() == "On site now (1)", "Dana on the site")
            await until(lambda: feature.live.rows[0].name == "Dana Lee", "her name")
            assert not desk.store.saved_replies  # nothing opened the picker on this connection
            feature.action.trigger()
            feature.view.table.selectRow(0)
            qtbot.mouseClick(feature.view.engage_button, Qt.MouseButton.LeftButton)
            dialog = feature.dialog
            assert isinstance(dialog, EngageDialog)
            await until(lambda: dialog.openers.count() == 2, "the team's reply as an opener")
            assert dialog.openers.isVisibleTo(dialog) and dialog.openers.itemText(1) == "Team hello"
            assert dialog.openers.itemData(1) == "Hi Dana, Sam here. Questions about pricing?"
            dialog.reject()
            QApplication.processEvents()
            await dana.close()
