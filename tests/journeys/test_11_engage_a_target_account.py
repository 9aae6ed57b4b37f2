"""Journey 11: someone from a target account (Initech) is on the pricing page -> I find him under "Targets" in
On site now -> Engage… with the prefilled opener -> he gets it, and closes the pop-up without answering ->
my chat with him is closed and says why, and his row says he dismissed it: Engage stays off for him this
visit. And: the Engage dialog offers the team's saved replies as openers, filled in for him."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from tests.journeys.conftest import Desk, Journey, Visitor
from tests.journeys.test_06_engage_a_visitor_on_site import _live_action, _row_texts, _transcript
from tests.qt_loop import run, wait_until
from ui.live_visitors.dialog import EngageDialog
from ui.live_visitors.model import VISITOR_ID_ROLE
from ui.live_visitors.view import LiveVisitorsView

GREETING = (
    "Hi Peter, thanks for reaching out! I'm Alex from the sales team. What brings you to Example SaaS today?"
)


@contextlib.asynccontextmanager
async def engaging_peter(journey: Journey, seen: dict[str, Any]) -> AsyncIterator[tuple[Desk, Visitor]]:
    """The desk online, Peter on /pricing, his row selected under Targets, the Engage dialog open."""
    async with journey.desk() as desk:
        window = desk.window
        live = _live_action(window)
        async with Visitor.arrive(desk.url, "peter", page="/pricing") as peter:
            window.activateWindow()
            QTest.mouseClick(window.toolbar.widgetForAction(live), Qt.MouseButton.LeftButton)
            view = window.findChild(LiveVisitorsView, "liveVisitorsView")
            assert view is not None
            await wait_until(lambda: window.center.currentWidget() is view, 5, "the view")
            targets = next(c for c in view.chips.values() if c.text().startswith("Targets"))
            QTest.mouseClick(targets, Qt.MouseButton.LeftButton)
            await wait_until(lambda: _proxy_row(view, peter.visitor_id) >= 0, 10, "his row under Targets")
            row = _proxy_row(view, peter.visitor_id)
            seen["row"] = _row_texts(view, row)
            # Only him: the demo's seeded past visitors (Peter among them) left hours ago.
            seen["on_site"] = [_row_texts(view, r) for r in range(view.proxy.rowCount())]
            rect = view.table.visualRect(view.proxy.index(row, 0))
            QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            await wait_until(view.engage_button.isEnabled, 5, "Engage… enabled")
            QTest.mouseClick(view.engage_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: _open_dialog() is not None, 5, "the Engage dialog")
            yield desk, peter


def test_a_target_account_visitor_dismisses_my_opener_and_is_not_engaged_again(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with engaging_peter(journey, seen) as (desk, peter):
            window, store = desk.window, desk.store
            view = window.findChild(LiveVisitorsView, "liveVisitorsView")
            dialog = _open_dialog()
            assert dialog is not None
            seen["opener"] = dialog.text()
            QTest.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: peter.agent_texts() == [seen["opener"]], 10, "Peter to get my opener")
            cid = peter.conversation_id
            await wait_until(lambda: window.current_conversation_id() == cid, 10, "the chat open")

            # He closes the pop-up without a word: my chat closes and says why.
            await peter.dismiss()
            await wait_until(
                lambda: store.conversations[cid].status is p.ConversationStatus.CLOSED, 10, "closed"
            )
            await wait_until(
                lambda: any("Peter Gibbons dismissed the chat" in t for t in _transcript(window)),
                5,
                "why, in the transcript",
            )
            seen["status_button"] = window.conversation.header.status_button.text()

            # His row says so, and Engage is off for him (the server would refuse it too).
            QTest.mouseClick(window.toolbar.widgetForAction(_live_action(window)), Qt.MouseButton.LeftButton)
            await wait_until(lambda: window.center.currentWidget() is view, 5, "the view again")
            await wait_until(
                lambda: "Dismissed a chat" in _row_texts(view, _proxy_row(view, peter.visitor_id)),
                10,
                "his status",
            )
            if view.selected() is None or view.selected().visitor_id != peter.visitor_id:
                rect = view.table.visualRect(view.proxy.index(_proxy_row(view, peter.visitor_id), 0))
                QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            await wait_until(lambda: not view.engage_button.isEnabled(), 5, "Engage… off")
            seen["blocker"] = view.blocker.text()
            await journey.shot("journey11-dismissed")

    run(loop, scenario(), timeout=60)
    assert seen["on_site"] == [seen["row"]], seen["on_site"]
    row = seen["row"].split(" | ")
    assert row[0] == "Peter Gibbons" and row[1] == "Initech", row
    assert "Target account" in row[2] and "Live page" in row[2], row
    assert seen["opener"].startswith("Hi Peter! I'm Alex from the sales team."), seen["opener"]
    assert seen["status_button"] == "Reopen"
    assert seen["blocker"].startswith("Peter Gibbons dismissed a chat"), seen["blocker"]


def test_the_engage_dialog_offers_the_teams_saved_replies_filled_in_for_him(
    journey: Journey, loop: asyncio.AbstractEventLoop
) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with engaging_peter(journey, seen) as (_desk, peter):
            dialog = _open_dialog()
            assert dialog is not None
            await wait_until(dialog.openers.isVisible, 5, "'Start from a saved reply…' in the dialog")
            seen["openers"] = [dialog.openers.itemText(i) for i in range(dialog.openers.count())]
            dialog.openers.setFocus()
            QTest.keyClick(dialog.openers, Qt.Key.Key_Down)  # My intro
            QTest.keyClick(dialog.openers, Qt.Key.Key_Down)  # Greeting
            await wait_until(lambda: dialog.text() == GREETING, 5, f"the greeting ({dialog.text()!r})")
            QTest.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: peter.agent_texts() == [GREETING], 10, "Peter to get the greeting")

    run(loop, scenario(), timeout=60)
    assert seen["openers"][:3] == ["Start from a saved reply…", "My intro", "Greeting"], seen["openers"]
    assert "Book a call" not in seen["openers"]  # an opener posts no booking card


def _proxy_row(view: LiveVisitorsView, visitor_id: str) -> int:
    for row in range(view.proxy.rowCount()):
        if view.proxy.index(row, 0).data(VISITOR_ID_ROLE) == visitor_id:
            return row
    return -1


def _open_dialog() -> EngageDialog | None:
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, EngageDialog) and w.isVisible()]
    return shown[0] if shown else None
