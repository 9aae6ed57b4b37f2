"""Unit tests of the Qt-free notification policy: what is new, focus, coalescing, rate limits,
alerts on assignment, and withdrawing every notice once it no longer applies."""

from __future__ import annotations

import msgspec

from agent_app import protocol as p
from agent_app.notify_policy import NoticeKind, NotifyPolicy, NotifyPrefs

ME = p.Agent(id="a1", name="Alex Rivera", email="alex@example.com", presence=p.Presence.AVAILABLE)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def conv(
    cid: str, *, assignee: str | None = None, created: float = 1_000_000.0, **kw: object
) -> p.Conversation:
    visitor = p.Visitor(id=f"v-{cid}", name=f"Visitor {cid}", company="Acme", location="Austin, TX")
    return p.Conversation(id=cid, visitor=visitor, assignee_id=assignee, created_at=created, **kw)  # type: ignore[arg-type]


def msg(
    cid: str, text: str = "hello", *, at: float = 1_000_000.0, kind: p.AuthorKind = p.AuthorKind.VISITOR
) -> p.Message:
    return p.Message(id=f"m-{cid}-{text}", conversation_id=cid, author_kind=kind, text=text, created_at=at)


def policy(clock: Clock, **kw: object) -> NotifyPolicy:
    pol = NotifyPolicy(clock=clock, **kw)  # type: ignore[arg-type]
    pol.set_me(ME)
    return pol


def test_new_waiting_chat_notifies_when_available() -> None:
    pol = policy(Clock())
    [n] = pol.on_conversation(conv("c1", last_message_preview="Do you integrate with HubSpot?"), True)
    assert n.kind is NoticeKind.NEW_CHAT and n.conversation_id == "c1"
    assert n.title == "New chat: Visitor c1"
    assert "Acme, Austin, TX" in n.body and "HubSpot" in n.body
    assert pol.on_conversation(conv("c1"), False) == []  # announced once


def test_new_chat_silent_when_away_or_assigned_elsewhere_or_toggled_off() -> None:
    clock = Clock()
    pol = policy(clock)
    pol.set_me(p.Agent(id="a1", name="A", email="a@x", presence=p.Presence.AWAY))
    assert pol.on_conversation(conv("c1"), True) == []
    pol.set_me(ME)
    assert pol.on_conversation(conv("c2", assignee="a2"), True) == []
    pol.prefs = NotifyPrefs(new_chats=False)
    assert pol.on_conversation(conv("c3"), True) == []


def test_chat_routed_to_me_notifies_even_when_away() -> None:
    pol = policy(Clock())
    pol.set_me(p.Agent(id="a1", name="A", email="a@x", presence=p.Presence.AWAY))
    assert pol.on_conversation(conv("c1"), True) == []  # waiting, but I am Away
    routed = conv("c1", assignee="a1", routing=p.Routing(agent_id="a1", rule="US-West"))
    [n] = pol.on_conversation(routed, False)  # an older server: no assigned_via, the routing says it
    assert n.kind is NoticeKind.ASSIGNED and n.title == "Routed to you: Visitor c1 (Acme)"


def test_message_only_when_unfocused_or_other_conversation() -> None:
    clock = Clock()
    pol = policy(clock, per_conversation_interval=0.0)
    c = conv("c1", assignee="a1")
    pol.set_focus(True, "c1")
    assert pol.on_message(c, msg("c1", "one")) == []  # I'm looking at it
    pol.set_focus(True, "c9")
    [n] = pol.on_message(c, msg("c1", "two"))  # another conversation is open
    assert n.kind is NoticeKind.MESSAGE and n.body == "two" and n.title == "Visitor c1"
    clock.now += 5
    pol.set_focus(False, "c1")
    assert len(pol.on_message(c, msg("c1", "three", at=clock.now))) == 1  # window not active


def test_message_ignored_when_not_mine_or_not_from_visitor() -> None:
    pol = policy(Clock())
    assert pol.on_message(conv("c1", assignee="a2"), msg("c1")) == []
    assert pol.on_message(conv("c1", assignee="a1"), msg("c1", kind=p.AuthorKind.BOT)) == []
    participant = conv("c2", assignee="a2", participant_ids=["a1"])
    assert len(pol.on_message(participant, msg("c2"))) == 1


def test_rate_limit_per_conversation_then_counts_what_was_skipped() -> None:
    clock = Clock()
    pol = policy(clock, per_conversation_interval=15.0)
    c = conv("c1", assignee="a1")
    assert len(pol.on_message(c, msg("c1", "a"))) == 1
    clock.now += 3
    assert pol.on_message(c, msg("c1", "b", at=clock.now)) == []
    clock.now += 3
    assert pol.on_message(c, msg("c1", "c", at=clock.now)) == []
    clock.now += 10
    [n] = pol.on_message(c, msg("c1", "d", at=clock.now))
    assert n.title == "Visitor c1 (3 new messages)" and n.body == "d"
    # another conversation is not limited by the first one
    assert len(pol.on_message(conv("c2", assignee="a1"), msg("c2", at=clock.now))) == 1


def test_burst_is_coalesced_into_one_summary() -> None:
    clock = Clock()
    pol = policy(clock, burst_limit=3, burst_window=2.0)
    shown = []
    for i in range(8):
        shown += pol.on_conversation(conv(f"c{i}", created=clock.now), True)
        clock.now += 0.1
    assert len(shown) == 3
    assert pol.flush() == []  # still inside the quiet period
    clock.now += 2.5
    [summary] = pol.flush()
    assert summary.kind is NoticeKind.SUMMARY and summary.title == "5 new chats"
    assert summary.conversation_id is None
    assert pol.flush() == []


def test_replay_after_reconnect_gives_one_summary() -> None:
    clock = Clock()
    pol = policy(clock)
    pol.begin_catch_up()
    for i in range(5):
        assert pol.on_conversation(conv(f"c{i}", created=clock.now - 600), True) == []
    mine = conv("c0", assignee="a1")
    for i in range(12):
        assert pol.on_message(mine, msg("c0", f"m{i}", at=clock.now)) == []
    assert pol.flush() == []  # not while catching up
    pol.end_catch_up()
    [summary] = pol.flush()
    assert summary.title == "5 new chats and 12 messages while you were away"


def test_stale_events_count_as_while_away_without_catch_up_flag() -> None:
    clock = Clock()
    pol = policy(clock, stale_after=60.0)
    assert pol.on_conversation(conv("c1", created=clock.now - 3600), True) == []
    clock.now += 2.1
    [summary] = pol.flush()
    assert summary.title == "1 new chat while you were away" and summary.conversation_id == "c1"


def test_participant_added_me_and_sla_warning() -> None:
    clock = Clock()
    pol = policy(clock)
    c = conv("c1", assignee="a2")
    added = p.ParticipantAdded(conversation_id="c1", agent_id="a1", by_id="a2", note="Territory is yours")
    [n] = pol.on_participant_added(added, c)
    assert n.kind is NoticeKind.PARTICIPANT and n.body.endswith("“Territory is yours”")
    assert (
        pol.on_participant_added(p.ParticipantAdded(conversation_id="c1", agent_id="a3", by_id="a2"), c) == []
    )
    [sla] = pol.on_sla(conv("c2"), False, clock.now + 20)
    assert sla.kind is NoticeKind.SLA and sla.urgent and "20 s" in sla.body
    assert pol.on_sla(conv("c3"), True, clock.now) == []  # breach: the warning was enough
    assert pol.on_sla(conv("c4"), False, clock.now - 5) == []  # replayed, already due


def test_disabled_prefs_silence_everything() -> None:
    pol = policy(Clock(), prefs=NotifyPrefs(enabled=False))
    assert pol.on_conversation(conv("c1"), True) == []
    assert pol.on_message(conv("c1", assignee="a1"), msg("c1")) == []


# ------------------------------------------------------------ alerts on assignment (issue 9, defect 2)

TEAM = {
    "a1": ME,
    "a2": p.Agent(id="a2", name="Sam Chen", email="sam@example.com"),
    "a3": p.Agent(id="a3", name="Casey Morgan", email="casey@example.com"),
}


def team_policy(clock: Clock, **kw: object) -> NotifyPolicy:
    pol = policy(clock, **{"burst_limit": 100, **kw})
    pol.set_agent_lookup(TEAM.get)
    return pol


def dana(
    cid: str = "c1", *, assignee: str | None = None, created: float = 1_000_000.0, **kw: object
) -> p.Conversation:
    visitor = p.Visitor(id=f"v-{cid}", name="Dana Lee", company="Acme Corp", location="Austin, TX")
    return p.Conversation(id=cid, visitor=visitor, assignee_id=assignee, created_at=created, **kw)  # type: ignore[arg-type]


def test_routed_to_me_names_visitor_company_cql_and_rule() -> None:
    pol = team_policy(Clock())
    assert len(pol.on_conversation(dana(last_message_preview="Pricing for 300 seats?"), True)) == 1
    routing = p.Routing(agent_id="a1", rule="us-west, line 4", aligned_agent_id="a1", line=4)
    said = {"last_message_preview": "Pricing for 300 seats?", "last_message_author": p.AuthorKind.VISITOR}
    routed = dana(assignee="a1", routing=routing, assigned_via="routing", cql=2, **said)
    [n] = pol.on_conversation(routed, False)
    assert n.kind is NoticeKind.ASSIGNED and n.conversation_id == "c1" and n.urgent  # the SLA clock runs
    assert n.title == "Routed to you: Dana Lee (Acme Corp)"
    first, second = n.body.split("\n")
    assert first == "Rule us-west, line 4 · CQL ⚡⚡ Better · Austin, TX"
    assert second == "Pricing for 300 seats?"
    assert pol.on_conversation(routed, False) == []  # the same assignment is announced once


def test_assignment_quotes_the_visitor_not_the_bot() -> None:
    pol = team_policy(Clock())
    pol.on_conversation(dana(), True)
    pol.on_message(dana(), msg("c1", "We have 300 reps on Salesforce"))
    bot_last = dana(assignee="a1", assigned_via="routing", last_message_preview="Connecting you now…",
                    last_message_author=p.AuthorKind.BOT)  # fmt: skip
    [n] = pol.on_conversation(bot_last, False)
    assert n.body.endswith("We have 300 reps on Salesforce")
    # the reason the visitor gave the bot says most
    answered = dana("c2", assigned_via="routing", assignee="a1")
    answered.visitor.answers = {"reason": "Need a demo for the sales team"}
    [m] = pol.on_conversation(answered, True)
    assert m.body.endswith("Need a demo for the sales team")


def test_handoff_and_assign_say_who_did_it() -> None:
    pol = team_policy(Clock())
    pol.on_conversation(dana("c1", assignee="a2"), True)
    [handoff] = pol.on_conversation(
        dana("c1", assignee="a1", assigned_via="handoff", assigned_by="a2"), False
    )
    assert handoff.title == "Sam Chen handed this chat to you: Dana Lee (Acme Corp)"
    pol.on_conversation(dana("c2", assignee="a2", cql=0), True)
    [assign] = pol.on_conversation(
        dana("c2", assignee="a1", assigned_via="assign", assigned_by="a3", cql=0), False
    )
    assert assign.title == "Casey Morgan assigned you: Dana Lee (Acme Corp)"
    assert "CQL: not qualified" in assign.body
    # a hand-off makes the conversation visible to me for the first time: it arrives as created
    [fresh] = pol.on_conversation(dana("c3", assignee="a1", assigned_via="handoff", assigned_by="a3"), True)
    assert fresh.title.startswith("Casey Morgan handed this chat to you")
    # handed back to me later: announced again
    pol.on_conversation(dana("c1", assignee="a2", assigned_via="handoff", assigned_by="a1"), False)
    assert (
        len(pol.on_conversation(dana("c1", assignee="a1", assigned_via="handoff", assigned_by="a2"), False))
        == 1
    )


def test_an_answered_chat_handed_to_me_alerts_and_stays_until_i_see_it() -> None:
    pol = team_policy(Clock())
    pol.on_conversation(dana("c1", assignee="a2", first_response_at=1.0), True)
    handed = dana("c1", assignee="a1", first_response_at=1.0, assigned_via="handoff", assigned_by="a2")
    [n] = pol.on_conversation(handed, False)
    assert not n.urgent  # nobody is waiting on a first reply
    # first sight: a hand-off made an answered chat visible to me
    [fresh] = pol.on_conversation(
        dana("c2", assignee="a1", first_response_at=1.0, assigned_via="handoff"), True
    )
    assert pol.drain_withdrawals() == [] and pol.live_keys() == [n.key, fresh.key]
    pol.on_conversation(handed, False)
    pol.set_focus(True, "c1")
    assert pol.drain_withdrawals() == [n.key]


def test_no_alert_when_i_took_it_myself_and_the_new_chat_notice_goes() -> None:
    pol = team_policy(Clock())
    [new] = pol.on_conversation(dana(), True)
    assert new.key
    assert pol.on_conversation(dana(assignee="a1", assigned_via="take", assigned_by="a1"), False) == []
    assert pol.drain_withdrawals() == [new.key]
    pol.on_conversation(dana("c2"), True)
    assert (
        pol.on_conversation(dana("c2", assignee="a1", assigned_via="assign", assigned_by="a1"), False) == []
    )


def test_no_alert_for_conversations_that_were_mine_before_the_policy_saw_them() -> None:
    """After a snapshot (sign-in, resync) the store already holds my chats: an update is not an assignment."""
    pol = team_policy(Clock())
    pol.sync([dana("c1", assignee="a1", assigned_via="routing")])
    assert (
        pol.on_conversation(dana("c1", assignee="a1", assigned_via="routing", message_count=3), False) == []
    )


def test_routing_replaces_the_pending_new_chat_notice() -> None:
    pol = team_policy(Clock())
    [new] = pol.on_conversation(dana(), True)
    [routed] = pol.on_conversation(dana(assignee="a1", assigned_via="routing",
                                        routing=p.Routing(agent_id="a1", rule="us-west")), False)  # fmt: skip
    assert routed.replaces == new.key and routed.key != new.key
    assert pol.drain_withdrawals() == []  # the service replaces it; nothing else to close
    assert pol.live_keys() == [routed.key]


def test_participant_invite_names_who_invited_and_the_visitor() -> None:
    pol = team_policy(Clock())
    added = p.ParticipantAdded(conversation_id="c1", agent_id="a1", by_id="a2", note="EMEA account, yours")
    [n] = pol.on_participant_added(added, dana(assignee="a2", cql=3))
    assert n.title == "Sam Chen added you to the chat with Dana Lee (Acme Corp)"
    assert n.body == "CQL ⚡⚡⚡ MQL · Austin, TX\n“EMEA account, yours”"
    [plain] = pol.on_participant_added(p.ParticipantAdded(conversation_id="c2", agent_id="a1", by_id="a3"),
                                       dana("c2", assignee="a3"))  # fmt: skip
    assert plain.body.endswith("Casey Morgan asked for your help.")


# ------------------------------------------------------------ withdrawing (issue 9, defect 3)


def test_answered_withdraws_new_chat_sla_and_assignment_but_not_messages() -> None:
    clock = Clock()
    pol = team_policy(clock, per_conversation_interval=0.0)
    [sla] = pol.on_sla(dana(), False, clock.now + 10)
    [routed] = pol.on_conversation(dana(assignee="a1", assigned_via="routing"), True)
    assert routed.replaces == ""  # an SLA warning is not replaced by an assignment...
    [sla2] = pol.on_sla(dana(assignee="a1", assigned_via="routing"), False, clock.now + 10)
    assert sla2.replaces == routed.key  # ...but the warning replaces the assignment notice
    assert pol.drain_withdrawals() == [sla.key]  # and the older warning is not shown twice
    [message] = pol.on_message(dana(assignee="a1"), msg("c1", "still there?"))
    answered = dana(assignee="a1", assigned_via="routing", first_response_at=clock.now)
    assert pol.on_conversation(answered, False) == []
    assert pol.drain_withdrawals() == [sla2.key]
    assert pol.live_keys() == [message.key]


def test_my_reply_withdraws_the_message_notices_of_that_chat() -> None:
    pol = team_policy(Clock(), per_conversation_interval=0.0)
    mine = dana(assignee="a1", first_response_at=1.0)
    [n] = pol.on_message(mine, msg("c1", "hello?"))
    [other] = pol.on_message(dana("c2", assignee="a1"), msg("c2", "hi"))
    reply = msgspec.structs.replace(msg("c1", "Hi!", kind=p.AuthorKind.AGENT), author_id="a1")
    assert pol.on_message(mine, reply) == []
    assert pol.drain_withdrawals() == [n.key]
    assert pol.live_keys() == [other.key]


def test_taken_by_a_teammate_withdraws_unless_i_take_part() -> None:
    clock = Clock()
    pol = team_policy(clock, per_conversation_interval=0.0)
    pol.sync([dana("c3", assignee="a1")])  # c3 was mine already
    [new] = pol.on_conversation(dana("c1"), True)
    [sla] = pol.on_sla(dana("c2"), False, clock.now + 10)
    assert pol.drain_withdrawals() == []
    pol.on_conversation(dana("c1", assignee="a2", assigned_via="take", assigned_by="a2"), False)
    assert pol.drain_withdrawals() == [new.key]
    # a chat of mine handed to a teammate who keeps me as participant: messages still apply, the rest not
    [message] = pol.on_message(dana("c3", assignee="a1"), msg("c3", "q"))
    pol.on_conversation(dana("c3", assignee="a2", participant_ids=["a1"]), False)
    assert pol.drain_withdrawals() == []
    pol.on_conversation(dana("c3", assignee="a2"), False)  # and then removed me
    assert pol.drain_withdrawals() == [message.key]
    pol.on_conversation(dana("c2", assignee="a3", assigned_via="take", assigned_by="a3"), False)
    assert pol.drain_withdrawals() == [sla.key]


def test_closed_or_gone_withdraws_everything_of_the_chat() -> None:
    clock = Clock()
    pol = team_policy(clock, per_conversation_interval=0.0)
    [n1] = pol.on_message(dana("c1", assignee="a1"), msg("c1", "bye"))
    added = p.ParticipantAdded(conversation_id="c1", agent_id="a1", by_id="a2")
    [n2] = pol.on_participant_added(added, dana("c1", assignee="a1"))
    pol.on_conversation(dana("c1", assignee="a1", status=p.ConversationStatus.CLOSED), False)
    assert sorted(pol.drain_withdrawals()) == sorted([n1.key, n2.key])
    [n3] = pol.on_conversation(dana("c2"), True)
    pol.forget("c2")  # revoked / removed from the store
    assert pol.drain_withdrawals() == [n3.key]


def test_viewing_the_chat_withdraws_its_notices() -> None:
    pol = team_policy(Clock(), per_conversation_interval=0.0)
    [n1] = pol.on_message(dana("c1", assignee="a1"), msg("c1", "one"))
    [n2] = pol.on_message(dana("c2", assignee="a1"), msg("c2", "two"))
    pol.set_focus(False, "c1")  # open but the window is in the background: not seen
    assert pol.drain_withdrawals() == []
    pol.set_focus(True, "c1")
    assert pol.drain_withdrawals() == [n1.key]
    assert pol.live_keys() == [n2.key]


def test_a_newer_message_notice_replaces_the_older_one_of_the_chat() -> None:
    pol = team_policy(Clock(), per_conversation_interval=0.0)
    [n1] = pol.on_message(dana("c1", assignee="a1"), msg("c1", "one"))
    [n2] = pol.on_message(dana("c1", assignee="a1"), msg("c1", "two"))
    assert n2.replaces == n1.key and pol.live_keys() == [n2.key]


def test_summary_withdrawn_once_all_its_content_was_seen() -> None:
    clock = Clock()
    pol = team_policy(clock)
    pol.begin_catch_up()
    for cid in ("c1", "c2"):
        pol.on_conversation(dana(cid, created=clock.now - 600), True)
    pol.on_message(dana("c3", assignee="a1"), msg("c3", "hello"))
    pol.end_catch_up()
    [summary] = pol.flush()
    assert summary.title == "2 new chats and 1 message while you were away" and summary.key
    pol.on_conversation(dana("c1", assignee="a2", assigned_via="take", assigned_by="a2"), False)
    pol.set_focus(True, "c3")
    assert pol.drain_withdrawals() == []  # c2 still waits
    pol.on_conversation(dana("c2", status=p.ConversationStatus.CLOSED), False)
    assert pol.drain_withdrawals() == [summary.key]


def test_what_resolved_while_held_is_left_out_of_the_summary() -> None:
    clock = Clock()
    pol = team_policy(clock)
    pol.begin_catch_up()
    for cid in ("c1", "c2", "c3"):
        pol.on_conversation(dana(cid, created=clock.now - 600), True)
    pol.on_conversation(dana("c2", assignee="a2", assigned_via="take", assigned_by="a2"), False)
    pol.end_catch_up()
    [summary] = pol.flush()
    assert summary.title == "2 new chats while you were away"


def test_sync_after_a_snapshot_withdraws_what_no_longer_applies() -> None:
    clock = Clock()
    pol = team_policy(clock)
    [n1] = pol.on_conversation(dana("c1"), True)
    [n2] = pol.on_conversation(dana("c2"), True)
    [n3] = pol.on_conversation(dana("c3"), True)
    pol.sync([dana("c1"), dana("c2", assignee="a2")])  # c2 taken, c3 gone while we were disconnected
    assert sorted(pol.drain_withdrawals()) == sorted([n2.key, n3.key])
    assert pol.live_keys() == [n1.key]


def test_a_notice_the_user_closed_is_forgotten() -> None:
    pol = team_policy(Clock())
    [n] = pol.on_conversation(dana(), True)
    pol.notice_closed(n.key)
    pol.on_conversation(dana(status=p.ConversationStatus.CLOSED), False)
    assert pol.drain_withdrawals() == [] and pol.live_keys() == []
