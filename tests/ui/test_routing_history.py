"""The routing history in the conversation header, on a real server whose rep doesn't answer in time:
the team sees who was tried, why and when (plain text, model/view); the new rep's alert says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from PySide6.QtCore import Qt

from agent_app import protocol as p
from agent_app.notify_policy import NoticeKind, NotifyPolicy
from agent_app.routing_history import step_text, summary
from agent_app.timezones import reader_zone
from chat_server.app import run_server
from tests.client.conftest import Visitor
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, agent_login, make_config
from ui.conversation.routing_history import RoutingHistoryButton, RoutingHistoryModel

PLAYBOOK = """
pages = ["/nowhere"]  # the visitor's page isn't a bot page: routed at once
[sla]
first_response_seconds = 1
warning_seconds = 0.5
fallback_after = 1
max_hops = 1
"""


def reassigned(conv: p.Conversation | None) -> bool:
    return conv is not None and any(s.action == "reassigned" for s in conv.routing_audit)


async def test_the_routing_history_shows_who_was_tried_why_and_when(qtbot: Any, tmp_path: Path) -> None:
    playbook = tmp_path / "playbook.toml"
    playbook.write_text(PLAYBOOK)
    async with run_server(make_config(tmp_path, playbook=str(playbook))) as server:
        add = server.admin.add_agent
        add("maria@example.com", "Maria Manager", PASSWORD, "", "manager")  # away: never routed to
        add("sam@example.com", "Sam <b>Chen</b>", PASSWORD, "", "sdr")
        add("tina@example.com", "Tina Lee", PASSWORD, "", "sdr")
        reps = []
        for email in ("sam@example.com", "tina@example.com"):
            client, _ = await agent_login(server, email)
            await client.ok(p.SetPresence(id=f"presence-{email}", presence=p.Presence.AVAILABLE))
            reps.append(client)
        async with signed_in_desk(qtbot, server.url, tmp_path, "maria@example.com", PASSWORD) as desk:
            window, store = desk.window, desk.store
            assert desk.features is not None
            button = desk.features.routing_history.button
            async with Visitor(server.url) as visitor:
                await visitor.say("Hi, is anyone there?")
                cid = visitor.conversation_id
                await until(lambda: cid in store.conversations, "the chat reaches the manager's desk")
                window.open_conversation(cid)
                await until(lambda: button.isVisible() and button.text() == "Routing", "routed once")
                assert button.model.rowCount() == 1
                await until(lambda: reassigned(store.conversations.get(cid)), "the rep didn't answer", 15)
                await until(lambda: button.text() == "Routing: 2 tried", "the button follows")
            conv = store.conversations[cid]
            first, second = conv.routing_audit[0].agent_name, conv.routing_audit[-1].agent_name
            assert {first, second} == {"Sam <b>Chen</b>", "Tina Lee"}
            model = button.model
            rows = [model.data(model.index(i, 0)) for i in range(model.rowCount())]
            assert rows[0].endswith(f"Routed to {first} — pool 'default'")
            assert rows[1].endswith(f"Moved on from {first} — no answer in 1 s")
            assert rows[-1].endswith(f"Routed to {second} — pool 'default'; {first} didn't answer in 1 s")
            assert rows == [step_text(s, reader_zone(store.me)) for s in conv.routing_audit]
            button.click()
            popup = button.popup
            await until(popup.isVisible, "the popup opens")
            assert popup.view.model() is model and popup.view.model().rowCount() == len(rows)
            assert not popup.grab().isNull()
            popup.grab().save(str(tmp_path / "routing-history.png"))
            popup.hide()
        for client in reps:
            await client.close()


def test_the_model_is_plain_text_and_the_button_hides_without_routing(qtbot: Any) -> None:
    steps = [
        p.RoutingStep(at=1_700_000_000.0, action="routed", agent_id="s", agent_name="<i>Sam</i>", reason="x"),
        p.RoutingStep(at=1_700_000_030.0, action="queued", reason="everyone available is at capacity"),
        p.RoutingStep(at=1_700_000_031.0, action="offered_meeting"),
    ]
    model = RoutingHistoryModel(lambda: None)
    model.set_steps(steps)
    texts = [model.data(model.index(i, 0)) for i in range(3)]
    assert texts[0].endswith("Routed to <i>Sam</i> — x")  # shown literally by the list's delegate
    assert texts[1].endswith("Waiting in the queue — everyone available is at capacity")
    assert texts[2].endswith("Offered the visitor to leave an email")
    assert model.data(model.index(0, 0), RoutingHistoryModel.StepRole) == steps[0]
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "Routed to <i>Sam</i> — x"
    button = RoutingHistoryButton(lambda: None)
    qtbot.addWidget(button)
    conv = p.Conversation(id="c", visitor=p.Visitor(id="v"))
    button.set_conversation(conv)
    assert button.isHidden() and summary(conv) == ""
    button.set_conversation(p.Conversation(id="c", visitor=p.Visitor(id="v"), routing_audit=steps))
    assert not button.isHidden() and button.text() == "Routing"


def test_the_new_rep_s_alert_says_why_it_came_to_them() -> None:
    me = p.Agent(id="jordan", name="Jordan Lee", email="j@x", presence=p.Presence.AVAILABLE)
    policy = NotifyPolicy(clock=lambda: 1_700_000_031.0)
    policy.set_me(me)
    steps = [
        p.RoutingStep(at=1_700_000_000.0, action="routed", agent_id="sam", agent_name="Sam Chen",
                      reason="aligned SDR"),
        p.RoutingStep(at=1_700_000_030.0, action="reassigned", agent_id="sam", reason="no answer in 30 s"),
        p.RoutingStep(at=1_700_000_030.0, action="routed", agent_id="jordan", agent_name="Jordan Lee",
                      reason="backup for rule 'us-east'; Sam Chen didn't answer in 30 s"),
    ]  # fmt: skip
    conv = p.Conversation(
        id="c1",
        visitor=p.Visitor(id="v", name="Dana"),
        assignee_id="jordan",
        assigned_via="routing",
        routing_audit=steps,
        updated_at=1_700_000_030.0,
        created_at=1_700_000_000.0,
    )
    notices = policy.on_conversation(conv, True)
    assert [n.kind for n in notices] == [NoticeKind.ASSIGNED]
    assert notices[0].title == "Routed to you: Dana"
    assert notices[0].body.splitlines()[0] == "Sam Chen didn't answer in 30 s"


def test_the_previous_rep_s_routed_alert_is_withdrawn_when_the_chat_moves_on() -> None:
    sam = p.Agent(id="sam", name="Sam Chen", email="s@x", presence=p.Presence.AVAILABLE)
    policy = NotifyPolicy(clock=lambda: 1_700_000_031.0)
    policy.set_me(sam)
    routed = p.Conversation(
        id="c1", visitor=p.Visitor(id="v", name="Dana"), assignee_id="sam", assigned_via="routing",
        created_at=1_700_000_000.0, updated_at=1_700_000_000.0,
    )  # fmt: skip
    [alert] = policy.on_conversation(routed, True)
    assert alert.title == "Routed to you: Dana"
    moved = msgspec.structs.replace(routed, assignee_id="jordan", participant_ids=["sam"])
    assert policy.on_conversation(moved, False) == []
    assert alert.key in policy.drain_withdrawals()
