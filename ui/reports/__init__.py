"""The Reports view: the server's figures per rep and territory for a period, a table and two charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.reports import PERIODS, custom_bounds, fetch_report
from agent_app.timezones import named_zone, reader_zone
from ui.reports.chart import CqlChart, ResponseChart
from ui.reports.model import ReportChatsModel, ReportModel, RowRole

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class ReportsView(QWidget):
    """Period and grouping pickers, the table (model/view), the charts and the chats behind the selected
    line; knows nothing of sessions: :class:`ReportsFeature` fetches and calls :meth:`set_report`.

    ``agents`` gives the team (names, territories) for the chats list.

    Signals:
        chat_open_requested(str): the user double-clicked a chat in the list.
    """

    chat_open_requested = Signal(str)

    def __init__(
        self, agents: Callable[[], Mapping[str, p.Agent]] = dict, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._agents = agents
        self.setObjectName("reportsView")
        title = QLabel("Reports")
        title.setObjectName("viewTitle")
        self.period_box = QComboBox()
        for key, label in PERIODS:
            self.period_box.addItem(label, key)
        self.period_box.addItem("Custom…", "custom")
        self.period_box.setCurrentIndex(1)
        today = QDate.currentDate()
        self.from_edit = QDateEdit(today.addDays(-6))
        self.to_edit = QDateEdit(today)
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd MMM yyyy")
            edit.setMaximumDate(today)
            edit.hide()
        self.group_box = QComboBox()
        self.group_box.addItem("Per rep", "rep")
        self.group_box.addItem("Per territory", "territory")
        self.refresh_button = QPushButton("Refresh")
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setObjectName("reportStatus")
        self.model = ReportModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chats = ReportChatsModel(self._name, self)
        self.chats_label = QLabel("")
        self.chats_label.setTextFormat(Qt.TextFormat.PlainText)
        self.chats_view = QTableView()
        self.chats_view.setModel(self.chats)
        self.chats_view.verticalHeader().hide()
        self.chats_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chats_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.chats_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.chats_view.horizontalHeader().setStretchLastSection(True)
        self.response_chart = ResponseChart()
        self.cql_chart = CqlChart()
        bar = QHBoxLayout()
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.group_box)
        bar.addWidget(self.period_box)
        bar.addWidget(self.from_edit)
        bar.addWidget(self.to_edit)
        bar.addWidget(self.refresh_button)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.response_chart)
        charts.addWidget(self.cql_chart)
        charts.setStretchFactor(0, 2)
        charts.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(charts)
        split.addWidget(self.table)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.chats_label)
        lower_layout.addWidget(self.chats_view)
        split.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self.group_box.currentIndexChanged.connect(self.on_group_box_changed)
        self.period_box.currentIndexChanged.connect(self.on_period_box_changed)
        self.table.selectionModel().currentRowChanged.connect(self.on_table_current_row_changed)
        self.chats_view.doubleClicked.connect(self.on_chats_view_double_clicked)

    def _name(self, agent_id: str) -> str:
        agent = self._agents().get(agent_id)
        return agent.name if agent is not None else "Former teammate"

    def show_chats(self, row: p.ReportRow | None) -> None:
        """The chats behind ``row`` (a rep, a territory, or the team's totals / None: all)."""
        report = self.model.report
        if report is None:
            self.chats.set_chats([], dt.UTC)
            self.chats_label.setText("")
            return
        chats = report.chats
        if row is not None and row.key != "team" and row is not report.team:
            if self.model.group == "rep":
                chats = [c for c in chats if row.key in (c.owner_id, c.responder_id)]
            else:
                agents = self._agents()
                chats = [c for c in chats if _territory(agents, c.owner_id) == row.key]
        self.chats.set_chats(chats, named_zone(report.timezone) or dt.UTC)
        whose = "the team" if row is None or row.key == "team" else (row.name or row.key)
        more = f" (and {report.more_chats} older ones)" if report.more_chats and whose == "the team" else ""
        hint = " · double-click one to open it" if chats else ""
        self.chats_label.setText(f"Chats of {whose} you can open: {len(chats)}{more}{hint}")

    def on_table_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self.show_chats(current.data(RowRole) if current.isValid() else None)

    def on_chats_view_double_clicked(self, index: QModelIndex) -> None:
        cid = index.data(ReportChatsModel.IdRole)
        if cid:
            self.chat_open_requested.emit(str(cid))

    def period(self) -> str:
        return str(self.period_box.currentData())

    def custom_days(self) -> tuple[dt.date, dt.date]:
        """The first and last day of the custom period (in the reader's zone)."""
        first, last = self.from_edit.date(), self.to_edit.date()
        return dt.date(first.year(), first.month(), first.day()), dt.date(
            last.year(), last.month(), last.day()
        )

    def on_period_box_changed(self, index: int) -> None:
        custom = self.period() == "custom"
        self.from_edit.setVisible(custom)
        self.to_edit.setVisible(custom)

    def set_report(self, report: p.Report) -> None:
        self.model.set_report(report, str(self.group_box.currentData()))
        rows = report.reps if self.group_box.currentData() == "rep" else report.territories
        self.response_chart.set_rows(rows, report.target_seconds)
        self.cql_chart.set_counts(report.team.cql if report.team is not None else [0] * 5)
        self.show_chats(None)
        zone = named_zone(report.timezone) or dt.UTC
        first = dt.datetime.fromtimestamp(report.since, zone)
        last = dt.datetime.fromtimestamp(report.until - 1, zone)
        label = dict(PERIODS).get(report.period, "Custom period")
        span = f"{first:%a %d %b}" if first.date() == last.date() else f"{first:%d %b} to {last:%d %b}"
        scope = "your figures and the team's totals" if report.scope == "own" else "the whole team"
        self.status.setText(f"{label}: {span} ({report.timezone}) · {scope} · computed by the server")

    def show_error(self, text: str) -> None:
        self.status.setText(text)

    def on_group_box_changed(self, index: int) -> None:
        if self.model.report is not None:
            self.set_report(self.model.report)


class ReportsFeature(QObject):
    """The Reports toolbar action and view; fetches on show, on a period change and on Refresh."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.session, self.runner, self.store = (
            window,
            window.session,
            window.runner,
            window.store,
        )
        self.view = ReportsView(lambda: self.store.agents)
        self.action = QAction("Reports", self)
        self.action.setToolTip(
            "First-response times, missed chats, meetings and CQL per rep (from the server)"
        )
        window.add_view(self.view, self.action)
        self.action.triggered.connect(self.refresh)
        self.view.period_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.view.refresh_button.clicked.connect(self.refresh)
        self.view.chat_open_requested.connect(self.on_view_chat_open_requested)
        for edit in (self.view.from_edit, self.view.to_edit):
            edit.dateChanged.connect(lambda _d: self.refresh())

    def refresh(self) -> None:
        me = self.store.me
        period, since, until = self.view.period(), None, None
        if period == "custom":
            first, last = self.view.custom_days()
            if first > last:
                self.view.show_error("The custom period ends before it starts: pick the dates again.")
                return
            since, until = custom_bounds(first, last, reader_zone(me))
        self.view.show_error("Loading…")
        self.runner.run(
            fetch_report(self.session, period, me.timezone if me else "", since, until),
            what="Loading the report", on_success=self.view.set_report,
            on_error=lambda exc: self.view.show_error(f"The report could not be loaded: {exc}"),
            busy=self.view.refresh_button, key="report",
        )  # fmt: skip

    def on_view_chat_open_requested(self, conversation_id: str) -> None:
        if conversation_id in self.store.conversations:
            self.window.open_conversation(conversation_id)
        else:  # closed long ago: the desk keeps recent chats only
            self.view.show_error("That chat is no longer on your desk (closed a while ago).")


def _territory(agents: Mapping[str, p.Agent], agent_id: str) -> str:
    agent = agents.get(agent_id)
    return agent.territory if agent is not None and agent.territory else "No territory"


def install_reports(window: MainWindow) -> ReportsFeature:
    return ReportsFeature(window)
