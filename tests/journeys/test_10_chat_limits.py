"""Journey 10: the team's manager signs in on the desk -> "Chat limits…" (status menu) -> sets Alex's limit to
the 2 chats he holds -> a Californian visitor (Alex's territory) is routed past Alex, who is full, to Sam
(Alex's backup) -> the manager sees it in the chat's "Routing" history; Alex never gets it."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QSpinBox

from agent_app import protocol as p
from sandbox.workspace import AgentLink
from tests.journeys.conftest import Journey, Visitor
from tests.qt_loop import run, wait_until
from ui.conversation.routing_history import RoutingHistoryButton
from ui.settings.chat_limits import LIMIT, NAME, OPEN, ChatLimitsDialog
from ui.shell.sign_in import SignInDialog


def test_a_manager_caps_a_rep_and_routing_passes_over_him_when_full(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with journey.desk() as desk:
            shell, url = desk.app.shell, desk.url
            seen["url"] = url

            # 1. Alex's desk is signed out (status menu); Casey, the manager, signs in on it.
            desk.window.presence_button.sign_out_action.trigger()
            dialog = shell.dialog
            assert isinstance(dialog, SignInDialog)
            await wait_until(lambda: shell.account is None and dialog.isVisible(), 10, "the sign-in dialog")
            # The dialog offers the demo workspace's server and who was signed in: she swaps the email.
            seen["prefilled"] = (dialog.server.text(), dialog.email.text())
            dialog.email.selectAll()
            QTest.keyClicks(dialog.email, "casey@demo.sdr")
            QTest.keyClicks(dialog.password, desk.app.demo.password)
            QTest.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
            await wait_until(
                lambda: shell.account is not None and str(shell.account.session.state) == "online",
                20,
                f"Casey signed in (the dialog says {dialog.error.text()!r})",
            )
            account = shell.account
            assert account is not None
            window, store = account.window, account.store
            assert window.presence_button.text().startswith("Casey Morgan")

            # Alex and Sam are at their desks (elsewhere), Available.
            async with (
                AgentLink.connect(url, "alex@demo.sdr") as alex,
                AgentLink.connect(url, "sam@demo.sdr") as sam,
            ):
                for rep in (alex, sam):
                    await rep.request(p.SetPresence, presence=p.Presence.AVAILABLE)

                # 2. Chat limits… lists the team with their open chats; Alex holds 2: his limit becomes 2.
                limits = next(a for a in window.presence_button.menu_.actions() if a.text() == "Chat limits…")
                assert limits.isVisible() and limits.isEnabled()  # a manager's menu
                limits.trigger()
                await wait_until(lambda: _limits_dialog() is not None, 5, "the Chat limits dialog")
                limits_dialog = _limits_dialog()
                assert limits_dialog is not None
                table, model = limits_dialog.table, limits_dialog.table.model()
                row = next(r for r in range(model.rowCount()) if model.index(r, NAME).data() == "Alex Rivera")
                seen["alex_row"] = [str(model.index(row, c).data()) for c in range(model.columnCount())]
                assert model.index(row, OPEN).data() == "2", seen["alex_row"]  # the demo's two open chats
                cell = model.index(row, LIMIT)
                table.scrollTo(cell)
                rect = table.visualRect(cell)
                QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
                QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
                await wait_until(lambda: table.findChild(QSpinBox) is not None, 5, "the limit's spin box")
                spin = table.findChild(QSpinBox)
                assert spin is not None
                spin.selectAll()
                QTest.keyClicks(spin, "2")
                QTest.keyClick(spin, Qt.Key.Key_Return)
                await wait_until(lambda: model.index(row, LIMIT).data() == "2", 10, "the server's answer")
                limits_dialog.close()

                # 3. Jane (California: Alex's territory) answers the bot; routing passes over Alex (full).
                async with Visitor.arrive(url, "jane") as jane:
                    jane.answer_the_bot()
                    await jane.say("Hello! Does the Salesforce sync write activities back to leads?")

                    def routed() -> Any:
                        conv = store.conversations.get(jane.conversation_id)
                        return conv if conv is not None and conv.assignee_id is not None else None

                    await wait_until(routed, 15, "the bot's routing")
                    conv = routed()
                    seen["assignee"] = store.agents[conv.assignee_id].name
                    await sam.wait_for(lambda: jane.conversation_id in sam.conversations)
                    seen["alex_got_it"] = jane.conversation_id in alex.conversations

                    # 4. The manager opens it: "Routing" tells why it went to Sam.
                    window.activateWindow()
                    window.open_conversation(conv.id)
                    button = window.findChild(RoutingHistoryButton, "routingHistoryButton")
                    assert button is not None
                    await wait_until(button.isVisible, 5, "the Routing button")
                    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
                    await wait_until(button.popup.isVisible, 5, "the routing history")
                    history = button.popup.view.model()
                    seen["history"] = _lines(history)
                    await journey.shot("journey10-routing-past-a-full-rep")
                    button.popup.hide()

    run(loop, scenario(), timeout=60)
    assert seen["prefilled"] == (seen["url"], "alex@demo.sdr")  # not the default ws://127.0.0.1:8765
    assert seen["assignee"] == "Sam Chen"
    assert not seen["alex_got_it"]
    history = seen["history"]
    assert any("Skipped Alex Rivera" in line and "at capacity 2/2" in line for line in history), history
    assert "Routed to Sam Chen" in history[-1] and "Alex Rivera is at capacity 2/2" in history[-1], history


def _limits_dialog() -> ChatLimitsDialog | None:
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, ChatLimitsDialog) and w.isVisible()]
    return shown[0] if shown else None


def _lines(model: Any) -> list[str]:
    return [str(model.index(r, 0).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]
