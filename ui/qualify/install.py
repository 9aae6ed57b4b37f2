"""Puts CQL bolts, participants, calendar sharing, Meetings and the CQL report into the main window."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLayout, QMessageBox, QWidget

from agent_app import protocol as p
from ui.calendar.settings_dialog import CalendarSettingsDialog
from ui.calendar.share_button import CalendarShareButton
from ui.meetings.model import MeetingsModel
from ui.meetings.view import MeetingsView
from ui.participants.button import ParticipantsButton
from ui.participants.dialog import AddParticipantDialog
from ui.participants.model import fallback_aligned
from ui.qualify.header import CqlHeader
from ui.qualify.report_view import CqlReportView

if TYPE_CHECKING:
    from ui.main_window import MainWindow

AlignedFinder = Callable[[p.Visitor, list[p.Agent]], str]


def _find_row(layout: QLayout | None, widget: QWidget) -> QHBoxLayout | None:
    """The (nested) horizontal layout holding ``widget`` (the composer's button row)."""
    for i in range(layout.count() if layout is not None else 0):
        item = layout.itemAt(i)  # type: ignore[union-attr]
        if item is None:
            continue
        if item.widget() is widget and isinstance(layout, QHBoxLayout):
            return layout
        child = item.layout()
        if child is not None:
            found = _find_row(child, widget)
            if found is not None:
                return found
    return None


class QualifyFeatures(QObject):
    """Owns the widgets it adds and the session calls they make (through the window's TaskRunner)."""

    def __init__(
        self, window: MainWindow, *, http_base: str = "", aligned: AlignedFinder | None = None
    ) -> None:
        super().__init__(window)
        self.window, self.store, self.session, self.runner = (
            window,
            window.store,
            window.session,
            window.runner,
        )
        self._aligned = aligned or fallback_aligned
        agents = lambda: self.store.agents  # noqa: E731
        me = lambda: self.store.me  # noqa: E731
        conversation = window.conversation
        self.cql = CqlHeader(conversation)
        self.participants = ParticipantsButton(agents, me, conversation)
        self.share = CalendarShareButton(agents, me, conversation)
        conversation.header.header_actions.insertWidget(0, self.participants)
        conversation.header.header_actions.insertWidget(0, self.cql)
        row = _find_row(conversation.composer.layout(), conversation.composer.note_toggle)
        (
            row.insertWidget(1, self.share)
            if row is not None
            else conversation.header.header_actions.addWidget(self.share)
        )
        self.cql.bolts.install_shortcuts(conversation)

        self.meetings_model = MeetingsModel(self.store.conversations.get, self)
        self.meetings = MeetingsView(self.meetings_model, http_base)
        self.report = CqlReportView(lambda: (list(self.store.conversations.values()), self.store.agents))
        window.center.addWidget(self.meetings)
        window.center.addWidget(self.report)
        self.meetings_action = QAction("Meetings", self)
        self.meetings_action.setToolTip("Meetings booked for you")
        self.report_action = QAction("CQL report", self)
        self.report_action.setToolTip("Lead qualification per SDR and day/week")
        existing = window.toolbar.actions()
        if existing:  # left of the spacer and the presence button
            window.toolbar.insertActions(existing[0], [self.meetings_action, self.report_action])
        else:
            window.toolbar.addActions([self.meetings_action, self.report_action])
        self._connect_signals()
        self.on_bridge_reset()

    def _connect_signals(self) -> None:
        bridge, window = self.window.bridge, self.window
        window.conversation_opened.connect(self.on_window_conversation_opened)
        bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        bridge.reset.connect(self.on_bridge_reset)
        bridge.meeting_booked.connect(self.meetings_model.add_meeting)
        self.cql.cql_chosen.connect(self.on_cql_cql_chosen)
        self.participants.add_requested.connect(self.on_participants_add_requested)
        self.participants.remove_requested.connect(self.on_participants_remove_requested)
        self.share.share_requested.connect(self.on_share_share_requested)
        self.share.settings_requested.connect(self.edit_calendar_settings)
        self.meetings.conversation_open_requested.connect(window.open_conversation)
        self.meetings.refresh_requested.connect(self.refresh_meetings)
        self.report.conversation_open_requested.connect(window.open_conversation)
        self.meetings_action.triggered.connect(self.show_meetings)
        self.report_action.triggered.connect(self.show_report)

    # ------------------------------------------------------------ views

    def show_meetings(self) -> None:
        self.window.center.setCurrentWidget(self.meetings)
        self.refresh_meetings()

    def show_report(self) -> None:
        self.report.refresh()
        self.window.center.setCurrentWidget(self.report)

    def refresh_meetings(self) -> None:
        self.runner.run(
            self.session.list_meetings(), what="Loading meetings", on_success=self.meetings_model.set_meetings
        )

    # ------------------------------------------------------------ following the open conversation

    def _follow(self, conversation: p.Conversation | None) -> None:
        self.cql.set_conversation(conversation)
        self.participants.set_conversation(conversation)
        self.share.set_conversation_id(conversation.id if conversation else "")

    def on_window_conversation_opened(self, conversation_id: str) -> None:
        self._follow(self.store.conversations.get(conversation_id))

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id == self.window.current_conversation_id():
            self._follow(conversation)

    def on_bridge_reset(self) -> None:
        self._follow(self.store.conversations.get(self.window.current_conversation_id()))
        self.meetings_model.set_meetings(self.store.meetings.values())

    # ------------------------------------------------------------ actions

    def on_cql_cql_chosen(self, conversation_id: str, level: int | None) -> None:
        self.runner.run(
            self.session.set_cql(conversation_id, level), what="Setting the CQL", busy=self.cql.bolts
        )

    def on_participants_add_requested(self, conversation_id: str) -> None:
        conv = self.store.conversations.get(conversation_id)
        me = self.store.me
        if conv is None or me is None:
            return
        agents = list(self.store.agents.values())
        dialog = AddParticipantDialog(conv, agents, me.id, self._aligned(conv.visitor, agents), self.window)
        if not dialog.exec():
            return
        note = dialog.note_text()
        if dialog.mode == "add":
            coro: Any = self.session.add_participant(conversation_id, dialog.chosen_id, note)
            self.runner.run(coro, what="Adding a participant")
            return
        if note:
            self.session.send_message(conversation_id, note, private=True)
        command = p.RecordHandoff(
            id=uuid.uuid4().hex, conversation_id=conversation_id, to_agent_id=dialog.chosen_id, note=note
        )
        self.runner.run(self.session.request(command), what="Recording the hand-off")

    def on_participants_remove_requested(self, conversation_id: str, agent_id: str) -> None:
        self.runner.run(
            self.session.remove_participant(conversation_id, agent_id), what="Removing a participant"
        )

    def on_share_share_requested(self, conversation_id: str, agent_id: str) -> None:
        self.runner.run(
            self.session.share_calendar(conversation_id, agent_id),
            what="Sharing the calendar",
            busy=self.share,
        )

    def edit_calendar_settings(self) -> None:
        me = self.store.me
        if me is None:
            return
        get = p.GetCalendarSettings(id=uuid.uuid4().hex, agent_id=me.id)
        self.runner.run(self.session.request(get), what="Loading my calendar", on_success=self._open_settings)

    def _open_settings(self, result: dict[str, Any]) -> None:
        settings = p.convert(
            result.get("settings", {"agent_id": self.store.me.id if self.store.me else ""}),
            p.CalendarSettings,
        )
        dialog = CalendarSettingsDialog(settings, self.window)
        if not dialog.exec():
            return
        update = p.UpdateCalendarSettings(id=uuid.uuid4().hex, settings=dialog.settings())

        def failed(exc: Exception) -> None:
            QMessageBox.warning(self.window, "My Calendar", f"Your calendar was not saved: {exc}")

        self.runner.run(self.session.request(update), what="Saving my calendar", on_error=failed)


def territory_aligned(csv_path: str) -> AlignedFinder:
    """The aligned SDR from the territory table (sdr_email -> agent), else Agent.territory matching."""
    from agent_app.territory import TerritoryError, TerritoryTable

    try:
        table = TerritoryTable.load(csv_path)
    except (OSError, TerritoryError):
        return fallback_aligned

    def aligned(visitor: p.Visitor, agents: list[p.Agent]) -> str:
        match = table.align(visitor.country or None, visitor.region or None, visitor.team_size)
        email = (match.sdr_email or "").lower() if match else ""
        found = next((a.id for a in agents if email and a.email.lower() == email), "")
        return found or fallback_aligned(visitor, agents)

    return aligned


def _http_base(session: object) -> str:
    url = str(getattr(session, "url", "") or "")
    if not url.startswith(("ws://", "wss://")):
        return ""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def install_qualify_features(
    window: MainWindow, *, http_base: str = "", aligned: AlignedFinder | None = None
) -> QualifyFeatures:
    """Call once after creating the MainWindow (main.py). ``http_base`` is the chat server's HTTP URL
    (for .ics links; derived from the session's ws:// URL when omitted); ``aligned(visitor, agents)
    -> agent id`` finds the aligned SDR (default: the settings' territory_csv_path table, else
    Agent.territory vs. the visitor's region/country)."""
    if aligned is None:
        csv_path = ""
        try:
            csv_path = str(window.settings.get("territory_csv_path") or "") if window.settings else ""
        except (AttributeError, KeyError):
            pass
        aligned = territory_aligned(csv_path) if csv_path else None
    return QualifyFeatures(window, http_base=http_base or _http_base(window.session), aligned=aligned)
