"""Journey 3: rating the lead without leaving the reply box: Alt+2 gives it 2 bolts, shown in the
conversation header and in the queue, and the text I was typing stays as it was."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QWidget

from tests.journeys.conftest import Journey, Visitor
from tests.qt_loop import run, wait_until
from ui.qualify.bolt_control import BoltControl
from ui.queue.model import QueueRole


def test_alt_2_from_the_reply_box_rates_the_lead_two_bolts(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        async with journey.desk() as desk:
            window, store = desk.window, desk.store
            async with Visitor.arrive(desk.url, "marcus", page="/product") as marcus:
                marcus.answer_the_bot()
                await marcus.say("Hey there - is there a free trial?")
                await wait_until(
                    lambda: (
                        marcus.conversation_id in store.conversations
                        and store.conversations[marcus.conversation_id].assignee_id == store.me.id
                    ),
                    10,
                    "Marcus routed to me (WA: US-West)",
                )
                cid = marcus.conversation_id
                window.activateWindow()
                window.open_conversation(cid)
                window.focus_composer()
                composer = window.conversation.composer
                await wait_until(composer.edit.hasFocus, 5, "the reply box to have the focus")
                QTest.keyClicks(composer.edit, "Thanks Marcus, ")
                header: QWidget = window.findChild(QWidget, "cqlHeader")
                label: QLabel = window.findChild(QLabel, "cqlLabel")
                assert header is not None and label is not None and header.isVisible()
                before = store.conversations[cid].cql

                QTest.keyClick(composer.edit, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)

                await wait_until(lambda: store.conversations[cid].cql == 2, 10, f"CQL 2 (was {before})")
                await wait_until(lambda: label.text() == "Better", 5, "the header to say Better")
                bolts = header.findChild(BoltControl)
                assert bolts is not None and bolts.toolTip() == "2 bolts: Better"
                assert composer.text() == "Thanks Marcus, "  # the key did not type into the reply
                assert composer.edit.hasFocus()
                rows = [window.queue_model.index(r, 0) for r in range(window.queue_model.rowCount())]
                row = next(i for i in rows if i.data(QueueRole.ID) == cid)
                assert row.data(QueueRole.CQL) == 2

    run(loop, scenario(), timeout=60)
