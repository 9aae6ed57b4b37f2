"""CQL: level names, report aggregation numbers, the bolt control's keys and clicks, history and report."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from agent_app import cql
from agent_app import protocol as p
from ui.qualify.bolt_control import BoltControl
from ui.qualify.header import CqlHeader

UTC = dt.UTC
MON = dt.datetime(2026, 6, 1, 10, tzinfo=UTC).timestamp()


def conv(
    cid: str, at: float, level: int | None, assignee: str | None = "a1", rater: str = ""
) -> p.Conversation:
    history = (
        [p.CqlChange(level=level, previous=None, by_kind=p.AuthorKind.AGENT, by_id=rater, at=at)]
        if rater
        else []
    )
    return p.Conversation(
        id=cid,
        visitor=p.Visitor(id="v" + cid, name=cid),
        assignee_id=assignee,
        created_at=at,
        cql=level,
        cql_history=history,
    )


def sample() -> list[p.Conversation]:
    return [
        conv("c1", MON, 3),
        conv("c2", MON + 3600, 3),
        conv("c3", MON + 86400, 0),
        conv("c4", MON + 86400, None, assignee="a2"),
        conv("c5", MON + 2 * 86400, 1, assignee=None, rater="a2"),
        conv("c6", MON + 7 * 86400, 2),
        conv("c7", MON + 8 * 86400, None, assignee=None),
    ]


def test_names_and_tooltips() -> None:
    assert cql.tooltip(0) == "Red line: not qualified"
    assert cql.tooltip(1) == "1 bolt: Inquiry (Good)"
    assert cql.tooltip(2) == "2 bolts: Better"
    assert cql.tooltip(3) == "3 bolts: MQL (Best)"
    assert cql.name(None) == "Unrated" and cql.bolts(0) == 0 and cql.bolts(3) == 3
    assert cql.export_value(0) == -1


def test_report_counts_per_day_and_week() -> None:
    days = cql.aggregate(sample(), period="day", zone=UTC)
    d1, d2 = dt.date(2026, 6, 1), dt.date(2026, 6, 2)
    assert days.count(d1, "a1", 3) == 2
    assert days.count(d2, "a1", 0) == 1 and days.count(d2, "a2", None) == 1
    assert days.count(dt.date(2026, 6, 3), "a2", 1) == 1  # unassigned, rated by a2: counts for a2
    assert days.count(dt.date(2026, 6, 9), cql.UNASSIGNED, None) == 1
    assert sorted(days.conversations(d1, "a1", 3)) == ["c1", "c2"]
    weeks = cql.aggregate(sample(), period="week", zone=UTC)
    assert weeks.periods == [dt.date(2026, 6, 1), dt.date(2026, 6, 8)]
    assert weeks.by_level(dt.date(2026, 6, 1)) == {None: 1, 0: 1, 1: 1, 2: 0, 3: 2}
    assert weeks.count(dt.date(2026, 6, 8)) == 2 and weeks.count(agent_id="a1") == 4
    # a local zone moves a late-evening UTC conversation to the next day
    tokyo = cql.aggregate(
        [conv("x", MON + 15 * 3600, 1)], period="day", zone=dt.timezone(dt.timedelta(hours=9))
    )
    assert tokyo.periods == [dt.date(2026, 6, 2)]
    assert len(cql.aggregate(sample(), period="day", zone=UTC, since=MON + 86400).conversations()) == 5


def test_bolt_control_clicks_and_keys(qtbot: QtBot) -> None:
    scope = QWidget()
    control = BoltControl(scope)
    editor = QLineEdit(scope)
    layout = QVBoxLayout(scope)
    layout.addWidget(control)
    layout.addWidget(editor)
    control.install_shortcuts(scope)
    qtbot.addWidget(scope)
    scope.show()
    qtbot.waitExposed(scope)
    chosen: list[int | None] = []
    control.level_chosen.connect(chosen.append)
    for level in (0, 1, 2, 3):
        qtbot.mouseClick(control, Qt.MouseButton.LeftButton, pos=QPoint(1 + level * 24 + 12, 14))
    control.set_level(2)
    qtbot.mouseClick(control, Qt.MouseButton.LeftButton, pos=QPoint(1 + 2 * 24 + 12, 14))  # again: clear
    assert chosen == [0, 1, 2, 3, None]
    chosen.clear()
    control.setFocus()
    for key in (Qt.Key.Key_3, Qt.Key.Key_0, Qt.Key.Key_Backspace, Qt.Key.Key_1):
        qtbot.keyClick(control, key)
    assert chosen == [3, 0, None, 1]
    chosen.clear()
    editor.setFocus()
    qtbot.keyClicks(editor, "2")
    assert editor.text() == "2" and chosen == []  # typing keeps its digits
    control.setEnabled(False)
    control.choose(1)
    assert chosen == []


def test_header_shows_level_and_history(qtbot: QtBot) -> None:
    header = CqlHeader()
    qtbot.addWidget(header)
    c = conv("c1", MON, 2)
    c.cql_history = [
        p.CqlChange(level=1, previous=None, by_kind=p.AuthorKind.BOT, by_name="LeadBot", at=MON),
        p.CqlChange(level=2, previous=1, by_kind=p.AuthorKind.AGENT, by_id="a1", by_name="Sam", at=MON + 60),
    ]
    header.set_conversation(c)
    assert header.label.text() == "Better" and header.bolts.level() == 2
    with qtbot.waitSignal(header.cql_chosen) as blocker:
        header.bolts.choose(3)
    assert blocker.args == ["c1", 3]
    header.on_history_button_clicked()
    model = header.popup.model
    assert model.rowCount() == 2
    assert [model.index(0, col).data() for col in (1, 2, 3)] == ["Sam", "Inquiry", "Better"]
    assert model.index(1, 1).data() == "LeadBot"
    header.popup.close()
    header.set_conversation(None)
    assert not header.bolts.isEnabled()
