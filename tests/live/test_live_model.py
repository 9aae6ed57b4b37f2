"""The Qt-free live list: frames applied in order, segments, tags, Engage hints and the opener."""

from __future__ import annotations

from typing import Any

from agent_app import protocol as p
from agent_app.display import display_name as conversation_name
from agent_app.display import visitor_name
from agent_app.live_visitors import (
    LiveVisitors,
    Segment,
    default_greeting,
    display_name,
    duration,
    engage_blocker,
    in_segment,
    opener_choices,
    status,
    tags,
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_live_reset(self) -> None:
        self.calls.append(("reset",))

    def on_live_inserted(self, index: int) -> None:
        self.calls.append(("inserted", index))

    def on_live_changed(self, index: int) -> None:
        self.calls.append(("changed", index))

    def on_live_about_to_remove(self, index: int) -> None:
        self.calls.append(("removing", index))

    def on_live_removed(self, index: int) -> None:
        self.calls.append(("removed", index))


def row(visitor_id: str, **fields: Any) -> p.LiveVisitor:
    return p.LiveVisitor(visitor_id=visitor_id, **fields)


def test_frames_apply_in_order_and_tell_the_listeners() -> None:
    live, seen = LiveVisitors(), Recorder()
    live.add_listener(seen)
    assert not live.known
    live.apply(p.LiveVisitorsFrame(visitors=[row("a"), row("b")], snapshot=True))
    live.apply(p.LiveVisitorsFrame(visitors=[row("c"), row("a", name="Ann")]))
    live.apply(p.LiveVisitorsFrame(removed=["b", "zz"]))
    assert [r.visitor_id for r in live.rows] == ["a", "c"] and live.get("a") == row("a", name="Ann")
    assert seen.calls == [("reset",), ("inserted", 2), ("changed", 0), ("removing", 1), ("removed", 1)]
    live.apply(p.LiveVisitorsFrame(visitors=[row("d")]))
    assert live.get("d") is live.rows[2]  # the index was rebuilt after the removal
    live.clear()
    assert not live.known and len(live) == 0 and seen.calls[-1] == ("reset",)


def test_segments_tags_and_status() -> None:
    dana = row("d", name="Dana Lee", email="d@globex.com", target_account=True, owner_id="me",
               live_page=True, returning=True, crm_source="Salesforce lead", conversation_id="c1",
               engaged_at=100.0, engaged_by="me")  # fmt: skip
    anon = row("a", company="Initech", owner_id="kim", dismissed_at=100.0)
    names = {"me": "Sam Chen", "kim": "Kim Lee"}.__getitem__
    for segment in Segment:
        assert in_segment(dana, segment, "me") == (segment is not Segment.NOT_CHATTING)
    assert [s for s in Segment if in_segment(anon, s, "me")] == [Segment.ALL, Segment.NOT_CHATTING]
    assert tags(dana, "me", names) == ["Target account", "Salesforce lead", "Mine", "Live page", "Returning"]
    assert tags(anon, "me", names) == ["Owner: Kim Lee"]
    assert display_name(anon) == "Visitor from Initech"
    assert display_name(row("x")) == "Visitor #x"
    assert status(dana, 200.0, names) == "Chatting (engaged by Sam Chen)"
    assert status(anon, 280.0, names) == "Dismissed a chat 3 min ago"
    assert (
        duration(59) == "59 s" and duration(3 * 60 + 5) == "3 min" and duration(3600 + 5 * 60) == "1 h 05 min"
    )


def test_a_visitor_is_named_in_the_live_list_as_in_the_queue_and_the_chat_header() -> None:
    """One rule (agent_app.display): an anonymous visitor is "Visitor #<short id>" everywhere, even with
    a known city (two anonymous visitors from one city stay apart)."""
    for visitor in (
        p.Visitor(id="v-7d1e9b3d", location="Austin, TX, US"),
        p.Visitor(id="v-2", company="Initech", location="Austin, TX, US"),
        p.Visitor(id="v-3", name="  Dana Lee ", company="Globex"),
    ):
        live_row = row(visitor.id, name=visitor.name, company=visitor.company, location=visitor.location)
        conversation = p.Conversation(id="c-1", visitor=visitor, created_at=0.0, updated_at=0.0)
        assert display_name(live_row) == visitor_name(visitor) == conversation_name(conversation)
    assert display_name(row("v-7d1e9b3d", location="Austin, TX, US")) == "Visitor #e9b3d"


def test_engage_hints_and_the_opener() -> None:
    assert engage_blocker(row("a", name="Ann", conversation_id="c"), 0) == "Ann already has an open chat"
    assert engage_blocker(row("a", dismissed_at=0.0), 65) == "Visitor #a dismissed a chat 1 min ago"
    assert engage_blocker(row("a", engaged_at=0.0), 120) == "Visitor #a was engaged 2 min ago"
    assert engage_blocker(row("a", engaged_at=0.0), 601) == ""
    assert default_greeting(row("a", name="Dana Lee", page_title="Pricing"), "Sam Chen") == (
        "Hi Dana! I'm Sam from the sales team. Anything I can help with on Pricing?"
    )
    assert (
        default_greeting(row("a", current_page="https://acme.test/"), "")
        == "Hi there! Anything I can help with?"
    )


def test_saved_replies_as_openers_expanded_for_the_visitor() -> None:
    me = p.Agent(id="me", name="Sam Chen", email="sam@x")
    replies = [
        p.SavedReply(
            id="1", shortcut="hi", title="Team hello", text="Hi {visitor_first_name}, {my_first_name} here"
        ),
        p.SavedReply(id="2", shortcut="cal", title="Calendar", text="Book: {calendar_link}", owner_id="me"),
        p.SavedReply(id="3", shortcut="typo", title="Typo", text="Hi {vistor_name}", owner_id="me"),
        p.SavedReply(id="4", shortcut="co", title="About you", text="How is {company} doing?", owner_id="me"),
    ]
    dana = row("d", name="Dana Lee", company="Globex")
    assert opener_choices(replies, dana, me) == [
        ("About you", "How is Globex doing?"),  # mine first, then the team's
        ("Team hello", "Hi Dana, Sam here"),
    ]
    assert opener_choices(replies, row("a"), None)[1] == ("Team hello", "Hi there, our team here")
