"""Journey 9: a New York visitor is routed to Sam (US-East), who doesn't answer -> after the playbook's
response time the chat moves to me (Sam's first backup) -> the desktop tells me it is routed to me -> the
chat shows what he asked, and "Routing: 2 tried" opens the routing history (Sam, why he lost it, me and
why) -> I answer; Sam, kept in the chat as a participant, sees my answer."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from agent_app import protocol as p
from sandbox.workspace import AgentLink
from tests.journeys.conftest import SLA, Journey, Visitor
from tests.qt_loop import run, wait_until
from ui.conversation.routing_history import RoutingHistoryButton

REPLY = "Hi Tom, Alex here (Sam's backup): yes, we are SOC 2 Type II certified."


def test_a_chat_the_routed_rep_does_not_answer_moves_to_the_next_rep_with_its_history(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    log = journey.desktop.notify_log
    waited = f"{SLA['first_response_seconds']} s"  # fallback_after: the playbook's first response time
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with journey.desk() as desk:
            window, store, me = desk.window, desk.store, desk.me

            # Sam (US-East) is at his desk, Available, but won't answer this one.
            async with AgentLink.connect(desk.url, "sam@demo.sdr") as sam:
                await sam.request(p.SetPresence, presence=p.Presence.AVAILABLE)
                async with Visitor.arrive(desk.url, "tom", page="/security") as tom:
                    tom.answer_the_bot()
                    await tom.say("Hi, are you SOC 2 Type II certified?")

                    # 1. Routing gives Tom (New York) to Sam; my desk does not hold Sam's chat.
                    def sams() -> Any:
                        conv = sam.conversations.get(tom.conversation_id)
                        return conv if conv is not None and conv.assignee_id == sam.id else None

                    await sam.wait_for(sams, within=15)
                    routed_to_sam = sam.conversations[tom.conversation_id].routing_audit
                    seen["first"] = [(s.action, s.agent_name) for s in routed_to_sam]

                    # 2. Sam says nothing: after the response time the chat is mine, and the desktop says so.
                    cid = tom.conversation_id
                    await wait_until(
                        lambda: cid in store.conversations and store.conversations[cid].assignee_id == me.id,
                        SLA["first_response_seconds"] + 10,
                        "the chat to move to me",
                    )
                    await wait_until(
                        lambda: [n for n in log.find("routed to you") if "Tom Becker" in n.summary],
                        10,
                        f"the routed-to-me notification (the daemon got {log.summaries()})",
                    )

                    # 3. I open it: mine; "Routing: 2 tried" in the header opens who was tried and why.
                    window.activateWindow()
                    window.open_conversation(cid)
                    header = window.conversation.header
                    await wait_until(lambda: "Assigned to Alex Rivera" in header.details.text(), 5, "mine")
                    # What Tom asked is there (fetched: my desk had never held this chat's messages).
                    await wait_until(
                        lambda: any("SOC 2 Type II" in t for t in _transcript(window)),
                        5,
                        f"Tom's question in the chat I was given (it shows {_transcript(window)})",
                    )
                    button = window.findChild(RoutingHistoryButton, "routingHistoryButton")
                    assert button is not None
                    await wait_until(lambda: button.isVisible() and button.text() == "Routing: 2 tried", 5,
                                     f"the Routing button (it says {button.text()!r})")  # fmt: skip
                    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
                    await wait_until(button.popup.isVisible, 5, "the routing history popup")
                    model = button.popup.view.model()
                    seen["history"] = _lines(model)
                    await journey.shot("journey9-routing-history")
                    button.popup.hide()  # as Esc or a click elsewhere closes a popup
                    seen["transcript"] = _transcript(window)

                    # 4. I answer; Tom gets it, and Sam (kept in the chat) sees it too.
                    composer = window.conversation.composer
                    window.focus_composer()
                    await wait_until(composer.edit.hasFocus, 5, "the reply box to have the focus")
                    QTest.keyClicks(composer.edit, REPLY)
                    QTest.keyClick(composer.edit, Qt.Key.Key_Return)
                    await wait_until(lambda: REPLY in tom.agent_texts(), 10, "Tom to get my answer")
                    await sam.wait_for(lambda: REPLY in sam.texts(cid))
                    seen["sam_participant"] = sam.id in sam.conversations[cid].participant_ids

    run(loop, scenario(), timeout=60)
    assert seen["first"][-1] == ("routed", "Sam Chen"), seen["first"]
    history = seen["history"]
    assert len(history) >= 3, history
    assert any("Routed to Sam Chen" in line for line in history), history
    assert any(f"Moved on from Sam Chen — no answer in {waited}" in line for line in history), history
    assert any("Routed to Alex Rivera" in line and f"Sam Chen didn't answer in {waited}" in line
               for line in history), history  # fmt: skip
    assert "Routed to Alex Rivera" in history[-1], history  # the latest step last
    assert any(f"Sam Chen didn't answer in {waited}; routed to Alex Rivera" in t for t in seen["transcript"])
    assert seen["sam_participant"]


def _transcript(window: Any) -> list[str]:
    model = window.conversation.model
    return [str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]


def _lines(model: Any) -> list[str]:
    return [str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]
