"""Journey 8: a waiting chat that Sam (a teammate, on his own desk) and I both open -> my header says "Sam
Chen is viewing", then "is typing…" with a note over my reply box, and Sam's desk is told that I view and
type -> Sam backs off, I answer, the chat is mine and Sam's "viewing" goes -> Reports shows my first reply
(the chart, the table, and the chat, which opens from there)."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from agent_app import protocol as p
from sandbox.workspace import AgentLink
from tests.journeys.conftest import Journey, Visitor
from tests.qt_loop import run, wait_until
from ui.reports import ReportsView

REPLY = "Hi Jane, Alex here: yes, activities are written back to the lead."


class Teammate(AgentLink):
    """Sam Chen's desk over the real agent websocket: who views his chats, who types in them."""

    def __init__(self) -> None:
        super().__init__()
        self.viewers: dict[str, list[str]] = {}

    def _on_frame(self, frame: p.ServerFrame) -> None:
        if isinstance(frame, p.ViewersFrame):
            self.viewers[frame.conversation_id] = list(frame.agent_ids)
        super()._on_frame(frame)

    async def view(self, conversation_id: str | None) -> dict[str, Any]:
        return await self.request(p.SetViewing, conversation_id=conversation_id)

    def typing_by(self, conversation_id: str, name: str) -> bool | None:
        """Whether ``name`` types in the conversation now (the last typing frame), None: never did."""
        frames = [f for f in self.typing if f.conversation_id == conversation_id and f.author_name == name]
        return frames[-1].active if frames else None


def test_two_reps_on_one_chat_see_each_other_and_the_report_shows_the_reply(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with journey.desk() as desk:
            window, store, me = desk.window, desk.store, desk.me
            header, composer = window.conversation.header, window.conversation.composer

            async with (
                Teammate.connect(desk.url, "sam@demo.sdr") as sam,
                Visitor.arrive(desk.url, "jane") as jane,
            ):
                assert isinstance(sam, Teammate)
                await jane.say("Hello! Does the Salesforce sync write activities back to leads?")
                await wait_until(lambda: jane.conversation_id in store.conversations, 10, "her chat")
                cid = jane.conversation_id
                assert store.conversations[cid].assignee_id is None  # waiting: the bot still asks her

                # 1. I open her chat; Sam opens it on his desk: my header says so, his desk knows I'm there.
                window.activateWindow()
                window.open_conversation(cid)
                await sam.wait_for(lambda: cid in sam.conversations)
                await sam.view(cid)
                await wait_until(lambda: header.teammates.text() == "Sam Chen is viewing", 10, "Sam viewing")
                assert header.teammates.isVisible()
                await sam.wait_for(lambda: set(sam.viewers.get(cid, [])) == {me.id, sam.id})

                # 2. Sam starts a reply: my header and a note over my reply box say so.
                await sam.request(p.SetTyping, conversation_id=cid, active=True)
                await wait_until(lambda: "Sam Chen is typing…" in header.teammates.text(), 10, "Sam typing")
                await wait_until(composer.teammate_note.isVisible, 5, "the note over the reply box")
                seen["note"] = composer.teammate_note.text()
                seen["header_typing"] = header.teammates.text()
                await journey.shot("journey8-sam-typing")

                # 3. I type too: Sam's desk sees me typing, and he leaves the answer to me (stops typing):
                #    my header is back to "viewing", the note goes. I send: the chat is mine.
                window.focus_composer()
                await wait_until(composer.edit.hasFocus, 5, "the reply box to have the focus")
                QTest.keyClicks(composer.edit, REPLY)
                await sam.wait_for(lambda: sam.typing_by(cid, "Alex Rivera"))
                await sam.request(p.SetTyping, conversation_id=cid, active=False)
                await wait_until(lambda: header.teammates.text() == "Sam Chen is viewing", 10, "Sam stopped")
                assert not composer.teammate_note.isVisible()
                QTest.keyClick(composer.edit, Qt.Key.Key_Return)
                await wait_until(lambda: REPLY in jane.agent_texts(), 10, "Jane to get my reply")
                await wait_until(lambda: store.conversations[cid].assignee_id == me.id, 10, "the chat mine")
                assert "Assigned to Alex Rivera" in header.details.text()

                # 4. Sam (an SDR) no longer sees a chat assigned to me: his desk drops it and shows nothing
                #    (as MainWindow does on conversation_revoked), so he is no longer shown viewing it.
                await sam.wait_for(lambda: cid not in sam.conversations)
                await sam.view(None)
                await wait_until(
                    lambda: not header.teammates.isVisible(),
                    10,
                    f"Sam's viewing/typing gone (the header says {header.teammates.text()!r})",
                )
                assert not composer.teammate_note.isVisible()

            # 5. Reports (toolbar), Today: the server counts my answered chat, the chart draws my bar.
            actions = [a for a in window.toolbar.actions() if a.text() == "Reports"]
            assert len(actions) == 1, "the Reports toolbar action"
            button = window.toolbar.widgetForAction(actions[0])
            QTest.mouseClick(button, Qt.MouseButton.LeftButton)
            view = window.findChild(ReportsView, "reportsView")
            assert view is not None
            await wait_until(lambda: window.center.currentWidget() is view, 5, "the Reports view")
            view.period_box.setCurrentIndex(view.period_box.findData("today"))
            await wait_until(lambda: view.status.text().startswith("Today:"), 10, "today's report")
            seen["status"] = view.status.text()
            rows = _table(view)
            seen["rows"] = rows
            mine = next(r for r in rows if r["Rep"] == "Alex Rivera")
            seen["mine"] = mine
            await wait_until(lambda: view.response_chart.painted_bars >= 1, 5, "the first-reply chart drawn")
            await journey.shot("journey8-reports")
            # The team's chats behind it: hers is there and opens on a double-click.
            ids = [view.chats.index(r, 0).data(view.chats.IdRole) for r in range(view.chats.rowCount())]
            assert cid in ids, ids
            index = view.chats_view.model().index(ids.index(cid), 0)
            view.chats_view.scrollTo(index)
            rect = view.chats_view.visualRect(index)
            # A double click as the X server delivers it: a click, then the press that makes it double.
            QTest.mouseClick(view.chats_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            QTest.mouseDClick(view.chats_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            await wait_until(
                lambda: window.center.currentWidget() is window.conversation, 5, "her chat open from Reports"
            )
            assert window.current_conversation_id() == cid

    run(loop, scenario(), timeout=60)
    assert seen["note"] == "Sam is typing a reply: check before you answer too."
    assert seen["header_typing"].startswith("Sam Chen is typing…"), seen["header_typing"]
    assert "your figures and the team's totals" in seen["status"]  # an SDR: own row and the team's
    assert int(seen["mine"]["Chats"]) >= 1 and int(seen["mine"]["Answered"]) >= 1, seen["mine"]
    assert seen["mine"]["Median 1st reply"] not in ("", "—"), seen["mine"]


def _table(view: ReportsView) -> list[dict[str, str]]:
    model = view.model
    heads = [str(model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole))
             for c in range(model.columnCount())]  # fmt: skip
    return [
        {h: str(model.index(r, c).data(Qt.ItemDataRole.DisplayRole) or "") for c, h in enumerate(heads)}
        for r in range(model.rowCount())
    ]
