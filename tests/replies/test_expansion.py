"""Variables, fallbacks, unknown tokens, search ranking and the store's merge of list + live events."""

from __future__ import annotations

import pytest

from agent_app import protocol as p
from agent_app import saved_replies as sr
from agent_app.store import NullListener, Store

ME = p.Agent(id="a1", name="Sam  Sdr", email="sam@example.com")


def _values(**visitor: str) -> dict[str, str]:
    return sr.values_for(p.Visitor(id="v1", **visitor), ME)


def test_every_variable_expands_from_what_is_known() -> None:
    text = (
        "Hi {visitor_first_name} ({visitor_name}) from {company}, "
        "I'm {my_first_name} ({my_name}). {calendar_link}"
    )
    out = sr.expand(text, _values(name="Ann  Lee", company="Acme Corp"))
    assert out.text == (f"Hi Ann (Ann Lee) from Acme Corp, I'm Sam (Sam Sdr). {sr.CALENDAR_TEXT}")
    assert out.unknown == () and out.shares_calendar


@pytest.mark.parametrize(
    ("visitor", "expected"),
    [
        ({}, "Hi there, welcome to your company!"),
        ({"name": "   "}, "Hi there, welcome to your company!"),
        ({"name": "ann@acme.example"}, "Hi there, welcome to your company!"),  # an email is no name
        ({"name": "Ann", "company": "Acme"}, "Hi Ann, welcome to Acme!"),
    ],
)
def test_unknown_values_fall_back_so_no_raw_variable_reaches_a_visitor(
    visitor: dict[str, str], expected: str
) -> None:
    out = sr.expand("Hi {visitor_first_name}, welcome to {company}!", _values(**visitor))
    assert out.text == expected and "{" not in out.text


def test_no_visitor_and_no_me_still_expand() -> None:
    out = sr.expand("{ visitor_first_name }/{my_name}/{VISITOR_NAME}", sr.values_for(None, None))
    assert out.text == "there/our team/there" and not out.shares_calendar


def test_unknown_variables_stay_visible_and_are_reported_once() -> None:
    out = sr.expand(
        "Hi {first_name}, see {first_name} and {visitor_first_name}; {} and {1x} stay", _values(name="Ann")
    )
    assert out.text == "Hi {first_name}, see {first_name} and Ann; {} and {1x} stay"
    assert out.unknown == ("{first_name}",)
    assert sr.unknown_tokens("{first_name} {company}") == ["{first_name}"]


def test_problems_mirror_the_server_limits() -> None:
    assert sr.problems("greet", "Greeting", "Hi {visitor_first_name}") == []
    assert any("shortcut" in m for m in sr.problems("", "t", "x"))
    assert any("no spaces" in m for m in sr.problems("Has Space", "t", "x"))
    assert sr.problems("/Greet", "t", "x") == []  # the server stores it as "greet"
    assert any("title" in m for m in sr.problems("a", " ", "x"))
    assert any("limit" in m for m in sr.problems("a", "t", "x" * (p.MAX_MESSAGE_TEXT + 1)))
    assert any("{first}" in m for m in sr.problems("a", "t", "Hi {first}"))


def _reply(rid: str, shortcut: str, title: str, text: str = "x", owner: str | None = "a1") -> p.SavedReply:
    return p.SavedReply(id=rid, shortcut=shortcut, title=title, text=text, owner_id=owner)


def test_search_ranks_shortcut_then_title_then_text_mine_before_the_teams() -> None:
    replies = [
        _reply("1", "pricing", "Pricing page", "our plans start at"),
        _reply("2", "greet", "Greeting", owner=None),
        _reply("3", "greet-eu", "Greeting (EU)"),
        _reply("4", "hello", "Warm greeting"),
        _reply("5", "bye", "Goodbye", "it was great talking to you"),
    ]
    assert [r.id for r in sr.search(replies, "/gre")] == ["3", "2", "4", "5"]
    assert [r.id for r in sr.search(replies, "greet")] == ["2", "3", "4"]
    assert [r.id for r in sr.search(replies, "plans")] == ["1"]
    assert sr.search(replies, "zzz") == []
    assert len(sr.search(replies, "")) == 5


def test_can_edit_follows_the_server_rule() -> None:
    manager = p.Agent(id="m", name="M", email="m@x", role=p.Role.MANAGER)
    team = _reply("t", "t", "t", owner=None)
    assert sr.can_edit(_reply("1", "a", "a"), ME) and not sr.can_edit(_reply("1", "a", "a", owner="a2"), ME)
    assert not sr.can_edit(team, ME) and sr.can_edit(team, manager) and sr.can_edit(None, manager)


class _Count(NullListener):
    def __init__(self) -> None:
        self.n = 0

    def on_saved_replies_changed(self) -> None:
        self.n += 1


def _frame(seq: int, event: p.Event) -> p.EventFrame:
    return p.EventFrame(seq=seq, epoch="e", at=0.0, event=event)


def test_a_list_older_than_the_events_already_applied_does_not_undo_them() -> None:
    store, heard = Store(epoch="e"), _Count()
    store.add_listener(heard)
    store.apply_event_frame(_frame(5, p.SavedReplyChanged(reply=_reply("new", "n", "New"))))
    store.apply_event_frame(_frame(6, p.SavedReplyDeleted(reply_id="old")))
    store.apply_event_frame(_frame(7, p.SavedReplyChanged(reply=_reply("edited", "e", "Edited v2"))))
    # The list was read at seq 4: before all three changes.
    store.apply_saved_replies(
        [_reply("old", "o", "Old"), _reply("edited", "e", "Edited v1"), _reply("k", "k", "K")], 4
    )
    assert {r: store.saved_replies[r].title for r in store.saved_replies} == {
        "new": "New",
        "edited": "Edited v2",
        "k": "K",
    }
    # A list read later (seq 7) is the truth: it wins over everything before it.
    store.apply_saved_replies([_reply("k", "k", "K2")], 7)
    assert list(store.saved_replies) == ["k"] and store.saved_replies["k"].title == "K2"
    assert heard.n == 5
