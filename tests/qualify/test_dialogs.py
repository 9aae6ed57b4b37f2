"""Participants dialog (search, the server's aligned SDR first, add or hand off to anyone), calendar settings
dialog, meetings model."""

from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from agent_app import protocol as p
from ui.calendar.settings_dialog import CalendarSettingsDialog
from ui.calendar.share_button import CalendarShareButton
from ui.meetings.model import MeetingsModel
from ui.meetings.view import MeetingsView
from ui.participants.button import ParticipantsButton
from ui.participants.dialog import AddParticipantDialog
from ui.participants.model import AgentRole, AlignedRole
from ui.qualify.history import CqlHistoryModel

AV, AW = p.Presence.AVAILABLE, p.Presence.AWAY


def team() -> list[p.Agent]:
    return [
        p.Agent(id="me", name="Sam Rep", email="sam@x", territory="CA", presence=AV),
        p.Agent(id="a1", name="Alex Avery", email="alex@x", territory="NY, NJ", presence=AV),
        p.Agent(id="a2", name="Kim Lee", email="kim@x", territory="TX", presence=AV),
        p.Agent(id="a3", name="Bo Brown", email="bo@x", territory="WA", presence=AW),
        p.Agent(id="a4", name="Old Timer", email="old@x", territory="TX", disabled=True),
        p.Agent(id="a5", name="Pat Part", email="pat@x", territory="FL", presence=AV),
    ]


def texan(aligned: str | None = "a2", rule: str = "texas", line: int = 2) -> p.Conversation:
    """Jane from Texas; the server's territory table aligned her to ``aligned`` (None: nobody)."""
    visitor = p.Visitor(id="v1", name="Jane", region="TX", country="US")
    routing = p.Routing(aligned_agent_id=aligned, rule=rule, line=line, basis="visitor answers")
    return p.Conversation(id="c1", visitor=visitor, assignee_id="me", participant_ids=["a5"], routing=routing)


def names(dialog: AddParticipantDialog) -> list[str]:
    return [dialog.proxy.index(r, 0).data(AgentRole).name for r in range(dialog.proxy.rowCount())]


def tagged(dialog: AddParticipantDialog) -> list[str]:
    """The names that carry the "Aligned SDR" tag."""
    rows = [dialog.proxy.index(r, 0) for r in range(dialog.proxy.rowCount())]
    return [i.data(AgentRole).name for i in rows if i.data(AlignedRole)]


def select(dialog: AddParticipantDialog, name: str) -> None:
    row = names(dialog).index(name)
    dialog.list.setCurrentIndex(dialog.proxy.index(row, 0))


def test_aligned_sdr_first_search_and_add(qtbot: QtBot) -> None:
    dialog = AddParticipantDialog(texan(), team(), "me")
    qtbot.addWidget(dialog)
    ModelTester(None).check(dialog.proxy)
    assert names(dialog) == [
        "Kim Lee",
        "Alex Avery",
        "Bo Brown",
    ]  # aligned, available A-Z, away; no me/Pat/disabled
    assert tagged(dialog) == ["Kim Lee"]
    assert dialog.notice.text() == (
        "Kim Lee is the aligned SDR for Jane (rule 'texas', line 2, from visitor answers): suggested first."
    )
    assert dialog.selected_agent() is not None and dialog.selected_agent().id == "a2"  # type: ignore[union-attr]
    qtbot.keyClicks(dialog.search, "ny")
    assert names(dialog) == ["Alex Avery"]  # by territory
    dialog.search.setText("bro")
    assert names(dialog) == ["Bo Brown"]  # by name
    dialog.search.setText("zzz")
    assert names(dialog) == [] and not dialog.add_button.isEnabled() and not dialog.empty.isHidden()
    assert not dialog.handoff_button.isEnabled()
    dialog.search.setText("alex")
    assert dialog.add_button.isEnabled()
    qtbot.keyClicks(dialog.note, "Asked about pricing for 200 seats")
    dialog.add_button.click()
    assert dialog.result() == 1 and (dialog.mode, dialog.chosen_id) == ("add", "a1")
    assert dialog.note_text() == "Asked about pricing for 200 seats"


def test_the_tag_and_notice_come_from_the_server_never_from_a_guess(qtbot: QtBot) -> None:
    """Defect 1: a manager whose territory names the visitor's state is not "aligned"; only the server's
    ``routing.aligned_agent_id`` is, and when it names nobody the dialog says so plainly."""
    agents = [*team(), p.Agent(id="m1", name="Casey Boss", email="casey@x", territory="TX",
                               role=p.Role.MANAGER, presence=AV)]  # fmt: skip
    unknown = AddParticipantDialog(texan(aligned=None, rule="fallback", line=14), agents, "me")
    qtbot.addWidget(unknown)
    assert tagged(unknown) == []
    assert unknown.notice.text() == (
        "No aligned SDR is known for Jane (TX, US). "
        "Territory table: rule 'fallback', line 14, from visitor answers."
    )
    no_routing = p.Conversation(id="c2", visitor=p.Visitor(id="v2", name="Jo"), assignee_id="me")
    plain = AddParticipantDialog(no_routing, agents, "me")
    qtbot.addWidget(plain)
    assert tagged(plain) == [] and plain.notice.text() == "No aligned SDR is known for Jo yet."
    # The server says Bo (WA territory) for this visitor: the dialog follows it, not the agents' territories.
    bo = AddParticipantDialog(texan(aligned="a3", rule="named-account", line=7), agents, "me")
    qtbot.addWidget(bo)
    assert tagged(bo) == ["Bo Brown"] and names(bo)[0] == "Bo Brown"
    mine = AddParticipantDialog(texan(aligned="me"), agents, "me")
    qtbot.addWidget(mine)
    assert tagged(mine) == []
    assert mine.notice.text() == (
        "You are the aligned SDR for Jane (rule 'texas', line 2, from visitor answers)."
    )


def test_every_teammate_can_be_added_or_handed_off_to(qtbot: QtBot) -> None:
    """Defect 1: choosing another teammate changes the hand-off target; "Hand off to X" exists for anyone."""
    agents = [
        a if a.id != "a2" else p.Agent(id="a2", name="Kim Lee", email="k", territory="TX", presence=AW)
        for a in team()
    ]
    dialog = AddParticipantDialog(texan(), agents, "me")
    qtbot.addWidget(dialog)
    dialog.show()
    assert "Kim Lee, the aligned SDR for Jane" in dialog.notice.text() and "is away" in dialog.notice.text()
    assert dialog.handoff_button.isVisible() and dialog.handoff_button.text() == "Hand off to Kim Lee"
    assert dialog.add_button.text() == "Add Kim Lee"
    select(dialog, "Alex Avery")
    assert dialog.handoff_button.text() == "Hand off to Alex Avery"
    assert dialog.add_button.text() == "Add Alex Avery"
    select(dialog, "Bo Brown")
    assert dialog.handoff_button.text() == "Hand off to Bo Brown" and dialog.handoff_button.isEnabled()
    dialog.handoff_button.click()
    assert dialog.result() == 1 and (dialog.mode, dialog.chosen_id) == ("handoff", "a3")


def test_participants_button_remove_rules(qtbot: QtBot) -> None:
    agents = {a.id: a for a in team()}
    me = agents["me"]
    button = ParticipantsButton(lambda: agents, lambda: me)
    qtbot.addWidget(button)
    conv = texan()
    conv.participant_ids = ["a5", "me"]
    button.set_conversation(conv)
    assert button.text() == "2 more"
    button.on_menu_about_to_show()
    actions = {a.text(): a for a in button.menu_.actions() if a.text()}
    assert not actions["Remove Pat Part"].isEnabled()  # an SDR can't remove someone else
    assert actions["Leave this conversation"].isEnabled()
    with qtbot.waitSignal(button.remove_requested) as blocker:
        actions["Leave this conversation"].trigger()
    assert blocker.args == ["c1", "me"]
    me = p.Agent(id="me", name="Sam", email="s", role=p.Role.MANAGER)
    button.on_menu_about_to_show()
    assert {a.text(): a for a in button.menu_.actions()}["Remove Pat Part"].isEnabled()


def test_calendar_share_button(qtbot: QtBot) -> None:
    agents = {a.id: a for a in team()}
    button = CalendarShareButton(lambda: agents, lambda: agents["me"])
    qtbot.addWidget(button)
    assert not button.isEnabled()
    button.set_conversation_id("c1")
    with qtbot.waitSignal(button.share_requested) as blocker:
        button.click()
    assert blocker.args == ["c1", "me"]
    button.on_menu_about_to_show()
    kim = next(a for a in button.menu_.actions() if a.text().startswith("Kim Lee"))
    with qtbot.waitSignal(button.share_requested) as blocker:
        kim.trigger()
    assert blocker.args == ["c1", "a2"]


def test_calendar_settings_dialog_validation(qtbot: QtBot) -> None:
    settings = p.CalendarSettings(
        agent_id="me",
        timezone="Europe/London",
        availability=[p.Weekly(weekday=0, start="09:00", end="12:00")],
    )
    dialog = CalendarSettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.save_button.isEnabled() and dialog.errors.text() == ""
    check, start, end = dialog.days[0]
    end.setTime(start.time().addSecs(-3600))
    assert not dialog.save_button.isEnabled() and "must be after the start" in dialog.errors.text()
    end.setTime(start.time().addSecs(15 * 60))
    assert "too short" in dialog.errors.text()
    end.setTime(start.time().addSecs(4 * 3600))
    dialog.timezone.setCurrentText("Mars/Olympus")
    assert "time zone" in dialog.errors.text() and not dialog.save_button.isEnabled()
    dialog.timezone.setCurrentText("America/Chicago")
    check.setChecked(False)
    assert "at least one day" in dialog.errors.text()
    dialog.days[2][0].setChecked(True)
    dialog.duration.setValue(45)
    dialog.buffer.setValue(15)
    dialog.notice.setValue(240)
    dialog.description.setText("Discovery call")
    assert dialog.save_button.isEnabled()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    result = dialog.settings()
    assert dialog.result() == 1
    assert (
        result.timezone == "America/Chicago" and result.duration_minutes == 45 and result.buffer_minutes == 15
    )
    assert result.min_notice_minutes == 240 and result.description == "Discovery call"
    assert [(w.weekday, w.start, w.end) for w in result.availability] == [(2, "09:00", "17:00")]


NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC).timestamp()


def meeting(mid: str, hours: float, cid: str = "c1") -> p.Meeting:
    start = NOW + hours * 3600
    return p.Meeting(
        id=mid,
        conversation_id=cid,
        agent_id="me",
        visitor_id="v",
        start=start,
        end=start + 1800,
        timezone="UTC",
        visitor_name=f"Visitor {mid}",
        company="Acme",
        ics_url=f"/meetings/{mid}.ics?token=t",
    )


def test_meetings_model_and_view(qtbot: QtBot) -> None:
    convs = {"c1": p.Conversation(id="c1", visitor=p.Visitor(id="v"), cql=3)}
    model = MeetingsModel(convs.get, zone=dt.UTC, clock=lambda: NOW)
    tester = ModelTester(None)
    tester.check(model)
    model.set_meetings([meeting("m3", 30), meeting("m1", 2), meeting("old", -5)])
    model.add_meeting(meeting("m2", 3, cid="c2"))
    model.add_meeting(meeting("m1", 2))  # again: replaced, not duplicated
    tester.check(model)
    assert [model.meeting(r).id for r in range(model.rowCount())] == ["m1", "m2", "m3"]  # type: ignore[union-attr]
    assert model.index(0, 0).data() == "Today 10:00\u201310:30 UTC"  # labelled, in the given zone
    assert model.index(2, 0).data() == "Tomorrow 14:00\u201314:30 UTC"
    assert model.index(0, 3).data() == "MQL" and model.index(1, 3).data() == ""
    assert model.count_today() == 2
    view = MeetingsView(model, "http://127.0.0.1:1")
    qtbot.addWidget(view)
    assert view.summary.text() == "2 today, 3 upcoming"
    with qtbot.waitSignal(view.conversation_open_requested) as blocker:
        view.on_table_double_clicked(model.index(1, 0))
    assert blocker.args == ["c2"]


def test_cql_models_pass_the_model_tester(qtbot: QtBot) -> None:
    history = CqlHistoryModel()
    history.set_history([p.CqlChange(level=1, previous=None, by_kind=p.AuthorKind.BOT, at=NOW)])
    ModelTester(None).check(history)
