"""The Reports view on a desk signed in to a real server: the table and the charts show the server's
figures, also for chats the desk itself does not hold (the old CQL report counted only those)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtGui import QColor, QImage

from agent_app import protocol as p
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.reports.conftest import Desk
from tests.reports.test_reports_server import _bye, _five_chats
from tests.server.conftest import PASSWORD
from ui.reports.chart import CQL_COLORS, MEDIAN_COLOR, P90_COLOR
from ui.reports.model import RowRole, ValueRole


def _pixels(image: QImage, color: str) -> int:
    wanted = QColor(color).rgb()
    return sum(
        1
        for y in range(0, image.height(), 2)
        for x in range(0, image.width(), 2)
        if image.pixel(x, y) == wanted
    )


async def test_manager_opens_reports_and_sees_the_server_figures_and_bars(
    qtbot: Any, tmp_path: Path, desk: Desk
) -> None:
    clients = await _five_chats(desk)
    chats = clients[3]
    async with signed_in_desk(qtbot, desk.server.url, tmp_path, "maria@example.com", PASSWORD) as mine:
        assert mine.features is not None
        feature = mine.features.reports
        view = feature.view
        view.period_box.setCurrentIndex(0)  # Today
        feature.action.trigger()
        assert mine.window.center.currentWidget() is view
        await until(lambda: view.model.rowCount() == 3, "Sam, Tina and the team's totals")
        model = view.model
        rows = {model.index(r, 0).data(): model.index(r, 0).data(RowRole) for r in range(3)}
        assert list(rows) == ["Sam Sdr", "Tina Sdr", "Team"]
        sam = [model.index(0, c).data(ValueRole) for c in range(model.columnCount())]
        assert sam == ["Sam Sdr", 3, 2, 26.0, 40.0, 50.0, 1, 1, 0, 1, 0, 1, 1]
        assert [model.index(0, c).data() for c in (3, 4, 5)] == ["26 s", "40 s", "50 % (1/2)"]
        team = rows["Team"]
        assert (team.chats, team.answered, team.missed, team.meetings) == (5, 3, 2, 1)

        chart, cql = view.response_chart, view.cql_chart
        assert chart.bars == [("Sam Sdr", 26.0, 40.0), ("Tina Sdr", 5.0, 5.0)] and chart.target == 30
        assert cql.counts == [1, 1, 0, 1, 2]
        await until(lambda: chart.isVisible() and chart.width() > 100, "the chart laid out")
        image = chart.grab().toImage()
        assert chart.painted_bars == 4  # median and p90 for each rep who answered
        assert _pixels(image, MEDIAN_COLOR) > 20 and _pixels(image, P90_COLOR) > 20
        cql_image = cql.grab().toImage()
        assert cql.painted_bars == 4  # red line, 1 bolt, 3 bolts, unrated (no 2-bolt chat)
        assert _pixels(cql_image, CQL_COLORS[0]) > 10 and _pixels(cql_image, CQL_COLORS[3]) > 10

        # The chats behind Sam's line, and one opened from there.
        assert view.chats.rowCount() == 5  # nothing selected: the team's
        view.table.selectRow(0)
        listed = view.chats.chats()
        assert [c.conversation_id for c in listed] == [chats[k] for k in "eba"]
        assert view.chats_label.text().startswith("Chats of Sam Sdr you can open: 3")
        oldest = view.chats.index(2, 0)
        assert [view.chats.index(2, c).data() for c in (0, 2, 4, 5, 6)] == [
            "Dana Lee", "Sam Sdr", "12 s", "MQL", "Meeting booked"]  # fmt: skip
        assert view.chats.index(0, 6).data() == "Missed"  # closed unanswered
        view.chats_view.doubleClicked.emit(oldest)
        assert mine.window.current_conversation_id() == chats["a"]
        assert mine.window.center.currentWidget() is mine.window.conversation
        feature.action.trigger()
        await until(lambda: view.model.rowCount() == 3, "the report again")

        view.group_box.setCurrentIndex(1)  # per territory
        assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["US-East", "US-West", "Team"]
        assert "the whole team" in view.status.text() and "Today" in view.status.text()

        # A custom period: whole days in the reader's zone; a range that ends before it starts is refused.
        view.period_box.setCurrentIndex(3)
        assert view.from_edit.isVisible() and view.to_edit.isVisible()
        view.from_edit.setDate(QDate(2026, 12, 1))
        view.to_edit.setDate(QDate(2026, 11, 30))
        assert "ends before it starts" in view.status.text()
        view.to_edit.setDate(QDate(2026, 12, 1))
        await until(lambda: view.model.report is not None and view.model.report.period == "custom", "custom")
        assert view.model.report is not None and view.model.report.team is not None
        assert view.model.report.team.chats == 5
        assert "Custom period: Tue 01 Dec" in view.status.text()
    await _bye(*clients[:3])


async def test_an_sdr_sees_the_team_totals_of_chats_her_desk_does_not_hold(
    qtbot: Any, tmp_path: Path, desk: Desk
) -> None:
    clients = await _five_chats(desk)
    async with signed_in_desk(qtbot, desk.server.url, tmp_path, "tina@example.com", PASSWORD) as mine:
        assert mine.features is not None
        view = mine.features.reports.view
        mine.features.reports.action.trigger()
        await until(lambda: view.model.rowCount() == 2, "her row and the team's totals")
        held = [c for c in mine.store.conversations.values()]
        assert len(held) < 5  # Sam's chats are his: her desk never got them
        team = view.model.index(1, 0).data(RowRole)
        assert isinstance(team, p.ReportRow) and team.key == "team" and team.chats == 5
        assert view.cql_chart.counts == [1, 1, 0, 1, 2]
        assert view.model.index(0, 0).data() == "Tina Sdr"
        assert "your figures and the team's totals" in view.status.text()
        # Sam's chats count in the totals but are never listed to her: only her own.
        assert {c.conversation_id for c in view.chats.chats()} == {clients[3]["c"], clients[3]["d"]}
    await _bye(*clients[:3])


def test_report_model_passes_the_model_tester(qtbot: Any) -> None:
    from PySide6.QtTest import QAbstractItemModelTester

    from ui.reports.model import ReportModel

    model = ReportModel()
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    row = p.ReportRow(key="a1", name="Sam", chats=2, answered=1, median_seconds=75.0, p90_seconds=75.0,
                      within_target=0, within_target_pct=0.0, missed=1, cql=[0, 1, 0, 0, 1])  # fmt: skip
    report = p.Report(period="7d", since=0, until=86400, timezone="UTC", reps=[row], team=row)
    model.set_report(report)
    assert model.rowCount() == 2 and model.columnCount() == 13
    assert [model.index(0, c).data() for c in (3, 5, 6)] == ["1 min 15 s", "0 % (0/1)", "1"]
    model.set_report(None)
    assert model.rowCount() == 0


def test_custom_period_is_whole_days_in_the_readers_zone() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from agent_app.reports import custom_bounds, seconds_text

    since, until = custom_bounds(dt.date(2026, 11, 1), dt.date(2026, 11, 1), ZoneInfo("America/New_York"))
    # 1 Nov 2026 is the day US clocks go back: 25 hours, from midnight EDT to midnight EST.
    assert (since, until - since) == (dt.datetime(2026, 11, 1, 4, tzinfo=dt.UTC).timestamp(), 25 * 3600)
    assert [seconds_text(v) for v in (None, 4.25, 12.0, 29.6, 75.0)] == [
        "—",
        "4.2 s",
        "12 s",
        "30 s",
        "1 min 15 s",
    ]
