"""Unit tests of the Qt-free notification policy: what is new, focus, coalescing, rate limits."""

from __future__ import annotations

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
    routed = conv("c1", assignee="a1", routing=p.Routing(agent_id="a1", rule="US-West"))
    [n] = pol.on_conversation(routed, False)
    assert n.title.startswith("New chat routed to you")


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
    assert n.kind is NoticeKind.PARTICIPANT and n.body == "Territory is yours"
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
