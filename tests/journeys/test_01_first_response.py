"""Journey 1: a visitor arrives -> desktop notification -> a click opens the chat -> the bot routes it to
me -> "routed to you" alert naming the visitor and company -> I reply within 30 s -> the alerts go away."""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from tests.journeys.conftest import Journey, Visitor
from tests.qt_loop import run, wait_until
from ui.conversation.saved_replies import SavedRepliesPicker


def test_a_visitor_is_answered_within_30_seconds(journey: Journey, loop: asyncio.AbstractEventLoop) -> None:
    log = journey.desktop.notify_log

    async def scenario() -> None:
        async with journey.desk() as desk:
            app, window, store = desk.app, desk.window, desk.store

            # The tray (an XEmbed tray host is running): the icon is there and says who I am.
            assert QSystemTrayIcon.isSystemTrayAvailable()
            assert app.shell.glue is not None and app.shell.glue.tray is not None
            tray = app.shell.glue.tray.icon
            assert tray.isVisible() and tray.toolTip().startswith("SDR Agent Desk — Available")

            shown: list[tuple[str, str]] = []
            app.notifications.shown.connect(lambda channel, title: shown.append((channel, title)))
            async with Visitor.arrive(desk.url, "jane") as jane:
                await jane.say("Hello! Does the Salesforce sync write activities back to leads?")

                # 1. The desktop says so (dunst got a Notify naming her and her company).
                await wait_until(lambda: log.find("New chat: Jane Doe"), 10, "the new-chat notification")
                (new_chat,) = log.find("New chat: Jane Doe")
                assert "Acme Robotics" in new_chat.body and "default" in new_chat.actions

                # 2. A click on it (dunst's default action -> ActionInvoked) opens her chat in the window.
                # A person clicks once it is on screen, and the app has taken the daemon's answer (its id).
                await wait_until(
                    lambda: ("native", "New chat: Jane Doe") in shown, 10, "the app to have sent it"
                )
                await wait_until(lambda: journey.desktop.displayed_count() == 1, 10, "dunst to show it")
                journey.desktop.click_notification()
                await wait_until(
                    lambda: window.current_conversation_id() == jane.conversation_id,
                    10,
                    f"the clicked chat open (the daemon's actions: {log.refresh().actions})",
                )
                assert (new_chat.id, "default") in log.refresh().actions
                assert window.conversation.header.name.text() == "Jane Doe"
                assert window.isVisible()

                # 3. While the bot qualifies her I go back to another app (the CRM in my browser)...
                other = QWidget()
                other.setWindowTitle("Salesforce (another app)")
                other.resize(400, 300)
                other.show()
                other.activateWindow()
                await wait_until(lambda: not window.isActiveWindow(), 5, "another app to have the focus")

                # ... she answers the bot; it routes her (CA, 420 people: US-West) to me, and says so.
                jane.answer_the_bot()
                await wait_until(
                    lambda: store.conversations[jane.conversation_id].assignee_id == store.me.id,
                    10,
                    "the bot's routing to me",
                )
                routed_at = time.monotonic()
                assert "Assigned to Alex Rivera" in window.conversation.header.details.text()
                await wait_until(
                    lambda: log.find("routed to you"),
                    10,
                    f"the routed-to-me notification (the daemon got {log.summaries()})",
                )
                (routed,) = log.find("routed to you")
                assert "Jane Doe" in routed.summary and "Acme Robotics" in routed.summary + routed.body

                # 4. The SLA clock warns (the journeys' playbook: 2 s after routing).
                await wait_until(lambda: log.find("Jane Doe is waiting"), 10, "the SLA warning")
                (sla,) = log.find("Jane Doe is waiting")

                # 5. Back in the app, I answer from the reply box by keyboard, with the team's saved
                #    greeting: "/greet", Enter puts it in (filled in for her), Enter sends it.
                other.close()
                window.activateWindow()
                composer = window.conversation.composer
                window.focus_composer()
                await wait_until(composer.edit.hasFocus, 5, "the reply box to have the focus")
                QTest.keyClicks(composer.edit, "/greet")
                picker = window.findChild(SavedRepliesPicker)
                await wait_until(
                    lambda: picker is not None and picker.isVisible() and picker.proxy.rowCount() >= 1,
                    10,
                    "the saved replies list to show /greet",
                )
                QTest.keyClick(composer.edit, Qt.Key.Key_Return)
                greeting = (
                    "Hi Jane, thanks for reaching out! I'm Alex from the sales team. "
                    "What brings you to Example SaaS today?"
                )
                await wait_until(
                    lambda: composer.text() == greeting,
                    5,
                    f"the saved greeting ({composer.text()!r}, sent {jane.agent_texts()})",
                )
                assert jane.agent_texts() == []  # inserting never sends
                QTest.keyClick(composer.edit, Qt.Key.Key_Return)
                await wait_until(lambda: jane.agent_texts(), 10, "Jane to receive the reply")
                await journey.shot("journey1-replied")
                assert time.monotonic() - routed_at < 30
                assert jane.agent_texts() == [greeting]
                assert composer.text() == ""

                # 6. The alerts that asked for a reply are withdrawn from the desktop (CloseNotification).
                await wait_until(lambda: log.withdrawn(sla.id), 10, "CloseNotification for the SLA warning")
                await wait_until(
                    lambda: log.withdrawn(routed.id), 10, "CloseNotification for the routed alert"
                )
                assert (
                    not log.withdrawn(new_chat.id) or new_chat.id in log.close_calls
                )  # clicked: dunst closed it

    run(loop, scenario(), timeout=60)
