"""Puts CQL bolts, participants, calendar sharing and Meetings into the main window (the CQL report is
part of the server-computed Reports view: ui/reports)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QMessageBox

from agent_app import protocol as p
from agent_app.integrations import calendar_auth
from agent_app.timezones import reader_zone
from ui.calendar.settings_dialog import CalendarSettingsDialog
from ui.calendar.share_button import CalendarShareButton
from ui.meetings.model import MeetingsModel
from ui.meetings.reschedule import RescheduleDialog
from ui.meetings.view import MeetingsView
from ui.participants.button import ParticipantsButton
from ui.participants.dialog import AddParticipantDialog
from ui.qualify.header import CqlHeader

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class QualifyFeatures(QObject):
    """Owns the widgets it adds and the session calls they make (through the window's TaskRunner)."""

    def __init__(self, window: MainWindow, *, http_base: str = "") -> None:
        super().__init__(window)
        self.window, self.store, self.session, self.runner = (
            window,
            window.store,
            window.session,
            window.runner,
        )
        self.dialog: AddParticipantDialog | None = None  # the open add/hand-off dialog, if any
        self.reschedule_dialog: RescheduleDialog | None = None  # the last Reschedule dialog opened
        # Google / Microsoft 365 calendar sign-in opens the SDR's browser (tests follow the redirects)
        self.open_browser: Callable[[str], object] = lambda url: QDesktopServices.openUrl(QUrl(url))
        agents = lambda: self.store.agents  # noqa: E731
        me = lambda: self.store.me  # noqa: E731
        conversation = window.conversation
        self.cql = CqlHeader(conversation)
        self.participants = ParticipantsButton(agents, me, conversation)
        self.share = CalendarShareButton(agents, me, conversation)
        window.add_header_action(self.cql)
        window.add_header_action(self.participants)
        window.add_composer_action(self.share)
        self.cql.bolts.install_shortcuts(conversation)

        self.meetings_model = MeetingsModel(self.store.conversations.get, self, reader=lambda: self.store.me)
        self.meetings = MeetingsView(self.meetings_model, http_base)
        self.meetings_action = QAction("Meetings", self)
        self.meetings_action.setToolTip("Meetings booked for you")
        window.add_view(self.meetings, self.meetings_action)
        self._connect_signals()
        self.on_bridge_reset()

    def _connect_signals(self) -> None:
        bridge, window = self.window.bridge, self.window
        window.conversation_opened.connect(self.on_window_conversation_opened)
        bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        bridge.reset.connect(self.on_bridge_reset)
        bridge.meeting_booked.connect(self.meetings_model.add_meeting)
        bridge.meeting_updated.connect(self.meetings_model.update_meeting)
        bridge.meeting_cancelled.connect(self.meetings_model.remove_meeting)
        self.cql.cql_chosen.connect(self.on_cql_cql_chosen)
        self.participants.add_requested.connect(self.on_participants_add_requested)
        self.participants.remove_requested.connect(self.on_participants_remove_requested)
        self.share.share_requested.connect(self.on_share_share_requested)
        self.share.settings_requested.connect(self.edit_calendar_settings)
        self.meetings.conversation_open_requested.connect(window.open_conversation)
        self.meetings.refresh_requested.connect(self.refresh_meetings)
        self.meetings.cancel_requested.connect(self.on_meetings_cancel_requested)
        self.meetings.reschedule_requested.connect(self.on_meetings_reschedule_requested)
        self.meetings_action.triggered.connect(self.show_meetings)

    # ------------------------------------------------------------ views

    def show_meetings(self) -> None:
        self.window.show_view(self.meetings)
        self.refresh_meetings()

    def on_meetings_cancel_requested(self, meeting_id: str) -> None:
        command = p.CancelMeeting(id=uuid.uuid4().hex, meeting_id=meeting_id)
        self.runner.run(
            self.session.request(command), what="Cancelling the meeting",
            on_success=lambda _result: self.refresh_meetings(),
        )  # fmt: skip

    def on_meetings_reschedule_requested(self, meeting_id: str) -> None:
        """Opens the Reschedule dialog with the owner's open times; the chosen one is sent as
        reschedule_meeting (the server checks it as it checks a booking); a refusal shows in the dialog."""
        model = self.meetings_model
        found = (model.meeting(row) for row in range(model.rowCount()))
        meeting = next((m for m in found if m is not None and m.id == meeting_id), None)
        if meeting is None:
            return
        dialog = RescheduleDialog(meeting, reader_zone(self.store.me), time.time(), self.meetings)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(
            lambda: setattr(self, "reschedule_dialog", None) if self.reschedule_dialog is dialog else None
        )
        self.reschedule_dialog = dialog

        def loaded(result: dict[str, Any]) -> None:
            dialog.set_slots(p.convert(result["card"], p.BookingCard), result.get("calendar_warning", ""))

        def moved(result: dict[str, Any]) -> None:
            self.meetings_model.update_meeting(p.convert(result["meeting"], p.Meeting))
            dialog.done_moving()

        def chosen(start: float) -> None:
            command = p.RescheduleMeeting(id=uuid.uuid4().hex, meeting_id=meeting_id, start=start)
            self.runner.run(self.session.request(command), what="Moving the meeting", on_success=moved,
                            on_error=lambda exc: dialog.show_error(_refusal(exc)))  # fmt: skip

        dialog.slot_chosen.connect(chosen)
        slots = p.GetOpenSlots(id=uuid.uuid4().hex, agent_id=meeting.agent_id)
        self.runner.run(self.session.request(slots), what="Loading open times", on_success=loaded,
                        on_error=lambda exc: dialog.show_error(_refusal(exc)))  # fmt: skip
        dialog.open()

    def refresh_meetings(self) -> None:
        self.runner.run(
            self.session.list_meetings(), what="Loading meetings", on_success=self.meetings_model.set_meetings
        )

    # ------------------------------------------------------------ following the open conversation

    def _follow(self, conversation: p.Conversation | None) -> None:
        self.cql.popup.model.zone = reader_zone(self.store.me)
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
        # The aligned SDR (tag, notice, preselection) is the server's: conv.routing.aligned_agent_id.
        dialog = AddParticipantDialog(conv, self.store.agents.values(), me.id, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.on_dialog_accepted(conversation_id, dialog))
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None) if self.dialog is dialog else None)
        self.dialog = dialog
        dialog.open()  # window-modal, not exec(): the event loop (and the session) keep running

    def on_dialog_accepted(self, conversation_id: str, dialog: AddParticipantDialog) -> None:
        note, chosen = dialog.note_text(), dialog.chosen_id
        if dialog.mode == "add":
            coro: Any = self.session.add_participant(conversation_id, chosen, note)
            self.runner.run(coro, what="Adding a participant")
            return
        # Hand the chat itself over: the teammate becomes the assignee; the note is team-only.
        command = p.RecordHandoff(
            id=uuid.uuid4().hex, conversation_id=conversation_id, to_agent_id=chosen, note=note, reassign=True
        )
        self.runner.run(self.session.request(command), what="Handing off the chat")

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
        dialog = self.calendar_settings_dialog(result)
        if not dialog.exec():
            return
        self._save_settings(dialog)

    def calendar_settings_dialog(self, result: dict[str, Any]) -> CalendarSettingsDialog:
        """My Calendar, wired to the session (``result``: the get_calendar_settings answer)."""
        settings = p.convert(
            result.get("settings", {"agent_id": self.store.me.id if self.store.me else ""}),
            p.CalendarSettings,
        )
        me = self.store.me
        client_ids: dict[str, str] = dict(result.get("calendar_sign_in") or {})
        dialog = CalendarSettingsDialog(
            settings, self.window, profile_zone=me.timezone if me else "",
            connection=result.get("connection"), sign_in_kinds=tuple(k for k, v in client_ids.items() if v),
        )  # fmt: skip

        def sign_in(kind: str, username: str, url: str) -> None:
            async def flow() -> dict[str, Any]:
                command = await calendar_auth.sign_in(
                    kind, client_ids[kind], self.open_browser, command_id=uuid.uuid4().hex,
                    username=username, url=url,
                )  # fmt: skip
                return await self.session.request(command)

            self.runner.run(
                flow(), what=f"Connecting my {calendar_auth.SERVICES[kind]}",
                on_success=lambda r: dialog.show_connection(r.get("connection", {})),
                on_error=lambda exc: dialog.show_connection_error(str(exc)),
            )  # fmt: skip

        def connect(url: str, username: str, password: str, calendar: str) -> None:
            command = p.ConnectCalendar(
                id=uuid.uuid4().hex, url=url, username=username, password=password, calendar=calendar
            )
            self.runner.run(
                self.session.request(command), what="Connecting my calendar",
                on_success=lambda r: dialog.show_connection(r.get("connection", {})),
                on_error=lambda exc: dialog.show_connection_error(str(exc)),
            )  # fmt: skip

        def disconnect() -> None:
            command = p.ConnectCalendar(id=uuid.uuid4().hex, url="")
            self.runner.run(
                self.session.request(command), what="Disconnecting my calendar",
                on_success=lambda r: dialog.show_connection(r.get("connection", {})),
            )  # fmt: skip

        dialog.connect_requested.connect(connect)
        dialog.disconnect_requested.connect(disconnect)
        dialog.sign_in_requested.connect(sign_in)
        return dialog

    def _save_settings(self, dialog: CalendarSettingsDialog) -> None:
        update = p.UpdateCalendarSettings(id=uuid.uuid4().hex, settings=dialog.settings())

        def failed(exc: Exception) -> None:
            QMessageBox.warning(self.window, "My Calendar", f"Your calendar was not saved: {exc}")

        self.runner.run(self.session.request(update), what="Saving my calendar", on_error=failed)


def _http_base(session: object) -> str:
    url = str(getattr(session, "url", "") or "")
    if not url.startswith(("ws://", "wss://")):
        return ""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def install_qualify_features(window: MainWindow, *, http_base: str = "") -> QualifyFeatures:
    """Call once after creating the MainWindow. ``http_base`` is the chat server's HTTP URL (for .ics
    links; derived from the session's ws:// URL when omitted). The aligned SDR is not decided here: the
    participants dialog reads the server's ``Conversation.routing.aligned_agent_id``."""
    return QualifyFeatures(window, http_base=http_base or _http_base(window.session))


def _refusal(exc: Exception) -> str:
    """What the dialog says when the server refuses (e.g. the slot was just taken): its own words."""
    return str(getattr(exc, "message", "") or exc)
