"""The desk client's Meetings view cancels a booked meeting: gone from the view and the rep's CalDAV
calendar, and a METHOD:CANCEL mailed to the visitor and the rep (real server, Radicale, aiosmtpd)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from PySide6.QtWidgets import QMessageBox

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from chat_server import run_server
from tests.calendars.conftest import CALDAV_PASSWORD, CALDAV_USER, Mailbox, Radicale
from tests.calendars.test_connected_calendar import ALWAYS, calendar_parts, radicale_events
from tests.qt_loop import pump_until as until
from tests.server.conftest import PASSWORD, agent_login, cid, make_config, visitor_login
from ui.bridge import StoreBridge
from ui.main_window import MainWindow
from ui.shell.features import install_features
from ui.tasks import TaskRunner


async def test_cancel_from_the_meetings_view(
    qtbot: Any, tmp_path: Path, radicale: Radicale, smtp: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = smtp[0]
    config = make_config(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_security="none")
    async with run_server(config) as server:
        sam = server.admin.add_agent("sam@example.com", "Sam Chen", PASSWORD, "US-East", "sdr")
        store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
        session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
        runner = TaskRunner()
        window = MainWindow(StoreBridge(store), session, runner, settings=None)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        features = install_features(window).qualify
        await session.sign_in("sam@example.com", PASSWORD)
        task = asyncio.create_task(session.run())
        other, _ = await agent_login(server, "sam@example.com")
        try:
            await until(lambda: session.state is ConnectionState.ONLINE, "online")
            settings = p.CalendarSettings(
                agent_id=sam.id, buffer_minutes=0, min_notice_minutes=0, horizon_days=3, availability=ALWAYS
            )
            await other.ok(p.UpdateCalendarSettings(id=cid(), settings=settings))
            connect = p.ConnectCalendar(id=cid(), url=radicale.url, username=CALDAV_USER,
                                        password=CALDAV_PASSWORD, calendar=radicale.calendar_url)  # fmt: skip
            await other.ok(connect)
            visitor, _ = await visitor_login(server)
            conversation_id = (await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi")))[
                "conversation_id"
            ]
            shared = await other.ok(
                p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=sam.id)
            )
            slot = p.convert(shared["message"]["card"], p.BookingCard).slots[2]
            booking = p.BookSlot(id=cid("b"), agent_id=sam.id, start=slot.start, email="dana@globex.example",
                                 name="Dana Lopez")  # fmt: skip
            await visitor.ok(booking)
            meetings = features.meetings_model
            await until(lambda: meetings.rowCount() == 1, "the meeting in Meetings")
            await server.ctx.calendars.idle()
            assert len(radicale_events(radicale)) == 1 and len(mailbox.messages) == 1

            features.show_meetings()
            view = features.meetings
            assert not view.cancel_button.isEnabled()  # nothing selected
            view.table.selectRow(0)
            asked: list[str] = []

            def yes(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
                asked.append(text)
                return QMessageBox.StandardButton.Yes

            monkeypatch.setattr(QMessageBox, "question", yes)
            view.cancel_button.click()
            assert "Dana Lopez" in asked[0]
            await until(lambda: meetings.rowCount() == 0, "the meeting gone from Meetings")
            await server.ctx.calendars.idle()
            assert radicale_events(radicale) == []
            assert len(mailbox.messages) == 2 and sorted(mailbox.recipients[1]) == [
                "dana@globex.example", "sam@example.com"
            ]  # fmt: skip
            (cancel,) = calendar_parts(mailbox.messages[1])
            assert str(cancel["method"]) == "CANCEL"
            assert isinstance(cancel, Calendar)
            await visitor.close()
        finally:
            await other.close()
            await session.stop()
            await asyncio.wait_for(task, 10)
            runner.cancel_all()
            outbox.close()
