"""Time zones (issue 9, defect 5): an agent's profile zone, calendar defaults, and one booking shown to each
desktop reader in their own zone, labelled, never in the machine's zone (the widget side is
tests/playbook/test_widget_timezones_browser.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app.backoff import Backoff
from agent_app.outbox import Outbox
from agent_app.session import ConnectionState, Session
from agent_app.store import Store
from chat_server import run_server
from chat_server.cli import main as cli_main
from chat_server.storage.sqlite import SqliteStorage
from tests.qt_loop import pump_until as until
from tests.server.conftest import PASSWORD, agent_login, cid, make_config, visitor_login
from ui.bridge import StoreBridge
from ui.conversation.transcript_model import TranscriptRole
from ui.main_window import MainWindow
from ui.shell.features import install_features
from ui.tasks import TaskRunner
from ui.widgets.timefmt import day_label, message_time

ALWAYS = [p.Weekly(weekday=d, start="00:00", end="24:00") for d in range(7)]
CHICAGO, NEW_YORK = ZoneInfo("America/Chicago"), ZoneInfo("America/New_York")


@pytest.fixture
def machine_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The desktop machine's own zone is UTC (a VM, a container): nobody here lives in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- profile zone and calendar default


def _cli(db: Path, *args: str) -> int:
    return cli_main(["agents", *args, "--db", str(db)])


def test_agents_add_refuses_an_unknown_time_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "chat.sqlite3"
    add = ("add", "--email", "ana@example.com", "--name", "Ana Ruiz", "--password", PASSWORD)
    assert _cli(db, *add, "--timezone", "Bad/Zone") == 1
    err = capsys.readouterr().err
    assert "Bad/Zone" in err and "time zone" in err and "America/Chicago" in err  # says what would do
    storage = SqliteStorage(str(db))
    try:
        assert storage.agent_by_email("ana@example.com") is None  # nothing half-created
    finally:
        storage.close()


def test_agents_add_stores_the_zone_or_derives_it_from_the_territory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "chat.sqlite3"
    base = ("add", "--password", PASSWORD, "--name")
    assert _cli(db, *base, "Ana Ruiz", "--email", "ana@example.com", "--timezone", "America/Chicago") == 0
    assert "America/Chicago" in capsys.readouterr().out
    assert _cli(db, *base, "Alex Rivera", "--email", "alex@example.com", "--territory", "US-West") == 0
    assert _cli(db, *base, "Jo Lee", "--email", "jo@example.com", "--territory", "EMEA") == 0
    assert _cli(db, "set-timezone", "jo@example.com", "Europe/Berlin") == 0
    assert _cli(db, "set-timezone", "jo@example.com", "Mars/Olympus") == 1
    assert "Mars/Olympus" in capsys.readouterr().err
    storage = SqliteStorage(str(db))
    try:
        zones = {a.email: a.timezone for a in storage.list_agents()}
    finally:
        storage.close()
    assert zones == {
        "ana@example.com": "America/Chicago",
        "alex@example.com": "America/Los_Angeles",  # a single-zone territory name
        "jo@example.com": "Europe/Berlin",  # EMEA spans many zones: set by hand
    }
    capsys.readouterr()
    assert _cli(db, "list") == 0
    assert "Europe/Berlin" in capsys.readouterr().out


async def test_a_new_sdr_calendar_defaults_to_the_profile_zone(tmp_path: Path) -> None:
    config = make_config(tmp_path, default_timezone="Europe/Dublin")
    async with run_server(config) as server:
        add = server.admin.add_agent
        chicago = add("chi@example.com", "Chi Sdr", PASSWORD, "US-East", "sdr", timezone="America/Chicago")
        west = add("west@example.com", "West Sdr", PASSWORD, "US-West", "sdr")
        emea = add("emea@example.com", "Emea Sdr", PASSWORD, "EMEA", "sdr")
        assert (chicago.timezone, west.timezone, emea.timezone) == (
            "America/Chicago",
            "America/Los_Angeles",
            "",
        )
        client, welcome = await agent_login(server, "chi@example.com")
        assert welcome.agent.timezone == "America/Chicago"  # the client knows its reader's zone
        expected = {chicago.id: "America/Chicago", west.id: "America/Los_Angeles", emea.id: "Europe/Dublin"}
        for agent_id, zone in expected.items():
            got = await client.ok(p.GetCalendarSettings(id=cid(), agent_id=agent_id))
            assert got["settings"]["timezone"] == zone, agent_id
        _, conversation_id = await _visitor_chat(server)
        shared = await client.ok(
            p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=chicago.id)
        )
        assert shared["message"]["card"]["timezone"] == "America/Chicago"
        await client.close()


async def _visitor_chat(server: Any, zone: str = "") -> tuple[Any, str]:
    visitor, _ = await visitor_login(server, timezone=zone)
    ack = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi, can we talk next week?"))
    return visitor, str(ack["conversation_id"])


def test_bad_default_timezone_is_a_configuration_error(tmp_path: Path) -> None:
    from chat_server.config import load_config

    with pytest.raises(ValueError, match="default_timezone"):
        load_config(env={"SDR_SERVER_DEFAULT_TIMEZONE": "Nowhere/Land"})


# ---------------------------------------------------------------- one booking, each reader's zone


def _hm_range(start: float, end: float, zone: ZoneInfo) -> tuple[str, str]:
    a, b = datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone)
    return f"{a:%H:%M}\u2013{b:%H:%M}", str(a.tzname())


async def test_one_booking_shows_in_the_readers_zone_not_the_machines(
    qtbot: Any, tmp_path: Path, machine_in_utc: None
) -> None:
    """Visitor in Los Angeles books Sam's New York calendar; Sam's profile says Chicago; the machine is UTC.
    The transcript's booking line, the booking card in the transcript and the Meetings view all say the
    Chicago time with its label."""
    async with run_server(make_config(tmp_path)) as server:
        sam = server.admin.add_agent(
            "sam@example.com", "Sam Chen", PASSWORD, "US-East", "sdr", timezone="America/Chicago"
        )
        store, outbox = Store(), Outbox(tmp_path / "outbox.sqlite3")
        session = Session(server.url, store, outbox, backoff=Backoff(base=0.01, cap=0.05))
        runner = TaskRunner()
        window = MainWindow(StoreBridge(store), session, runner, settings=None)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        features = install_features(window).qualify  # the production install path (the shell calls it)
        await session.sign_in("sam@example.com", PASSWORD)
        task = asyncio.create_task(session.run())
        other, _ = await agent_login(server, "sam@example.com")  # Sam's calendar, set up elsewhere
        try:
            await until(lambda: session.state is ConnectionState.ONLINE, "online")
            settings = p.CalendarSettings(
                agent_id=sam.id, timezone="America/New_York", buffer_minutes=0, min_notice_minutes=0,
                horizon_days=3, availability=ALWAYS,
            )  # fmt: skip
            await other.ok(p.UpdateCalendarSettings(id=cid(), settings=settings))
            visitor, conversation_id = await _visitor_chat(server, "America/Los_Angeles")
            shared = await other.ok(
                p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=sam.id)
            )
            slots = p.convert(shared["message"]["card"], p.BookingCard).slots
            # one that starts and ends on the same Chicago day (the expected text has no second date)
            day = lambda ts: datetime.fromtimestamp(ts, CHICAGO).date()  # noqa: E731
            slot = next(s for s in slots[3:] if day(s.start) == day(s.end))
            booking = p.BookSlot(id=cid("b"), agent_id=sam.id, start=slot.start, email="dana@globex.example",
                                 name="Dana Lopez")  # fmt: skip
            booked = p.convert((await visitor.ok(booking))["meeting"], p.Meeting)
            span, label = _hm_range(booked.start, booked.end, CHICAGO)
            ny = f"{datetime.fromtimestamp(booked.start, NEW_YORK):%H:%M}"
            utc = f"{datetime.fromtimestamp(booked.start, ZoneInfo('UTC')):%H:%M}"

            window.open_conversation(conversation_id)
            model = window.conversation.model

            def rows() -> list[str]:
                return [str(model.index(r).data() or "") for r in range(model.rowCount())]

            await until(lambda: any("booked a call" in t for t in rows()), "the booking line")
            line = next(t for t in rows() if "booked a call" in t)
            assert "Dana Lopez booked a call with Sam Chen" in line
            assert span in line and label in line, line  # Chicago time, labelled
            assert ny not in line and utc not in line, line  # not the calendar's zone, not the machine's
            assert model.index(0).data(TranscriptRole.ZONE) == CHICAGO  # bubble times and day separators
            card_line = next(t for t in rows() if t.startswith("Pick a time"))
            first = datetime.fromtimestamp(p.convert(shared["message"]["card"], p.BookingCard).slots[0].start,
                                           CHICAGO)  # fmt: skip
            assert f"{first:%H:%M} {first.tzname()}" in card_line, card_line  # the offer, in my zone too

            meetings = features.meetings_model
            await until(lambda: meetings.rowCount() == 1, "the meeting in Meetings")
            when = str(meetings.index(0, 0).data())
            assert span in when and label in when and utc not in when, when
            tip = str(meetings.index(0, 0).data(Qt.ItemDataRole.ToolTipRole))
            assert "America/New_York" in tip and ny in tip  # where it was booked, for reference
            features.show_meetings()
            assert label in features.meetings.zone_note.text()  # "Times in your zone: ..."
        finally:
            await other.close()
            await session.stop()
            await asyncio.wait_for(task, 10)
            runner.cancel_all()
            outbox.close()


async def test_without_a_profile_zone_the_client_uses_the_machine_zone(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent provisioned without a zone (EMEA: no guess) reads times in the desktop's own zone."""
    from agent_app.timezones import reader_zone

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        agent = p.Agent(id="a", name="A", email="a@x", territory="EMEA")
        when = datetime.fromtimestamp(1_800_000_000, reader_zone(agent))
        assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 9 * 3600
        assert reader_zone(p.Agent(id="b", name="B", email="b@x", timezone="America/Chicago")) == CHICAGO
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_the_demo_team_has_its_zones_also_in_an_old_demo_file(tmp_path: Path) -> None:
    from sandbox.demo_data import TEAM
    from sandbox.workspace import provision_team

    async with run_server(make_config(tmp_path)) as server:
        await provision_team(server)
        server.admin.set_timezone("jordan@demo.sdr", "")  # as a demo file made before agents had zones
        assert server.storage.agent_by_email("jordan@demo.sdr").agent.timezone == ""  # type: ignore[union-attr]
        assert await provision_team(server) == []
        zones = {a.email: a.timezone for a in server.storage.list_agents()}
    assert zones == {m.email: m.timezone for m in TEAM}
    assert zones["alex@demo.sdr"] == "America/Los_Angeles" and zones["sam@demo.sdr"] == "America/New_York"


def test_bubble_times_and_day_separators_follow_the_readers_zone(machine_in_utc: None) -> None:
    """03:30 UTC on 1 Dec is still 30 Nov, 21:30 in Chicago: a Chicago reader's transcript says so."""
    ts = datetime(2026, 12, 1, 3, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert message_time(ts, ts + 7200, CHICAGO) == "21:30"
    assert message_time(ts, ts + 7200) == "03:30"  # no reader zone: this (UTC) machine's
    assert day_label(ts, ts + 4 * 3600, CHICAGO) == "Yesterday"  # 01:30 on 1 Dec in Chicago
    assert day_label(ts, ts + 4 * 3600) == "Today"


def test_calendar_dialog_names_my_own_zone_when_the_calendar_is_elsewhere(qtbot: Any) -> None:
    from ui.calendar.settings_dialog import CalendarSettingsDialog

    settings = p.CalendarSettings(agent_id="me", timezone="America/New_York", availability=ALWAYS[:5])
    dialog = CalendarSettingsDialog(settings, profile_zone="America/Chicago")
    qtbot.addWidget(dialog)
    assert "America/Chicago" in dialog.zone_hint.text()
    dialog.timezone.setCurrentText("America/Chicago")
    assert "America/Chicago" not in dialog.zone_hint.text()
    assert "their own time zone" in dialog.zone_hint.text()
