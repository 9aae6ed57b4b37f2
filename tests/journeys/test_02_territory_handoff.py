"""Journey 2: a visitor from another SDR's territory. The panel shows her CRM duplicates and a territory card
naming the aligned SDR the server routed by; the add-participant dialog tags that same teammate as aligned;
handing the chat off to them makes them the assignee (header, queue and server agree)."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

from agent_app import protocol as p
from tests.journeys.conftest import Journey, Visitor, visible_text
from tests.qt_loop import run, wait_until
from ui.participants.button import ParticipantsButton
from ui.participants.dialog import AddParticipantDialog
from ui.participants.model import AlignedRole
from ui.queue.model import QueueRole


def test_the_aligned_sdr_is_the_same_everywhere_and_gets_the_hand_off(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        async with journey.desk() as desk:
            window, store = desk.window, desk.store
            maria = next(a for a in store.agents.values() if a.name == "Maria Gomez")
            assert maria.presence is p.Presence.AWAY  # never signed in today

            # Priya (Mumbai Fintech, India: the APAC territory, Maria's) asks; the bot routes by territory.
            async with Visitor.arrive(desk.url, "priya", page="/pricing") as priya:
                priya.answer_the_bot()
                await priya.say("Hello, do you have customers in India?")

                def routed() -> Any:
                    conv = store.conversations.get(priya.conversation_id)
                    # routing.at is set once routed (before that the record only holds what is known)
                    return conv if conv is not None and conv.routing is not None and conv.routing.at else None

                await wait_until(routed, 15, "the bot's routing decision")
                conv = routed()
                assert conv.routing.aligned_agent_id == maria.id  # the server's answer, the one truth

                # I open her chat from the queue and take it by replying.
                window.activateWindow()
                window.open_conversation(conv.id)
                panel = window.side_panel
                await wait_until(
                    lambda: "Maria Gomez" in panel.findChild(QLabel, "territoryText").text(),
                    20,
                    "the territory card to name Maria",
                )
                territory = panel.findChild(QLabel, "territoryText").text()
                assert "Alex" not in territory

                # CRM: Priya is an existing lead with possible duplicates in Salesforce.
                await wait_until(
                    lambda: "…" not in panel.dup_state.text() and "duplicate" in panel.dup_state.text(),
                    30,
                    "the duplicate check to finish",
                )
                assert "possible duplicate" in panel.dup_state.text()
                assert panel.records.rows.rowCount() >= 1
                assert "Priya Raman" in visible_text(panel)

                composer = window.conversation.composer
                window.focus_composer()
                QTest.keyClicks(composer.edit, "Hi Priya, we do: a few fintechs in Mumbai and Bangalore.")
                QTest.keyClick(composer.edit, Qt.Key.Key_Return)
                await wait_until(lambda: priya.agent_texts(), 10, "Priya to get the reply")

                # The add-participant dialog (from the header's participants menu) tags the same person.
                pb = window.findChild(ParticipantsButton, "participantsButton")
                assert pb is not None and pb.isVisible() and pb.isEnabled()
                pb.menu_.aboutToShow.emit()
                add = next(a for a in pb.menu_.actions() if a.text().startswith("Add"))
                QTimer.singleShot(0, add.trigger)  # from Qt's loop, as a menu click: the dialog is modal
                await wait_until(lambda: _open_dialog() is not None, 10, "the add-participant dialog")
                dialog = _open_dialog()
                assert dialog is not None
                tagged = [dialog.proxy.index(r, 0) for r in range(dialog.proxy.rowCount())]
                aligned = [i.data(Qt.ItemDataRole.DisplayRole) for i in tagged if i.data(AlignedRole)]
                assert aligned and "Maria Gomez" in aligned[0]
                assert "Maria Gomez" in tagged[0].data(Qt.ItemDataRole.DisplayRole)  # suggested first
                assert "Maria Gomez" in dialog.notice.text()
                # I choose her by typing her name, as a person finds a teammate in a long list.
                QTest.keyClicks(dialog.search, "Maria")
                assert dialog.proxy.rowCount() == 1
                assert (
                    dialog.handoff_button.isVisible()
                    and dialog.handoff_button.text() == "Hand off to Maria Gomez"
                )
                dialog.note.setPlainText("Fintech in Mumbai, 540 people, asked about customers in India.")
                QTest.mouseClick(dialog.handoff_button, Qt.MouseButton.LeftButton)

                # Handed off: Maria is the assignee, and everything I see says so.
                await wait_until(
                    lambda: store.conversations[conv.id].assignee_id == maria.id,
                    10,
                    "the hand-off to reassign the chat",
                )
                await wait_until(
                    lambda: "Assigned to Maria Gomez" in window.conversation.header.details.text(),
                    5,
                    "the header to name Maria",
                )
                rows = [window.queue_model.index(r, 0) for r in range(window.queue_model.rowCount())]
                row = next(i for i in rows if i.data(QueueRole.ID) == conv.id)
                assert row.data(QueueRole.ASSIGNEE_NAME) == "Maria Gomez"

    run(loop, scenario(), timeout=80)


def _open_dialog() -> AddParticipantDialog | None:
    shown = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, AddParticipantDialog) and w.isVisible()
    ]
    return shown[0] if shown else None
