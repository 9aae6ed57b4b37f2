"""agent_app.deeplink: sdr-agent-desk://conversation/<id> parsed strictly, with a clear sentence otherwise."""

from __future__ import annotations

import pytest

from agent_app.deeplink import MAX_LINK, ConversationLink, DeepLinkError, parse_link, split_args


@pytest.mark.parametrize(
    ("text", "conversation_id"),
    [
        ("sdr-agent-desk://conversation/8f3a1c0d9e2b4a6f7c11", "8f3a1c0d9e2b4a6f7c11"),  # the server's ids
        ("sdr-agent-desk://conversation/c_42-x", "c_42-x"),  # ids are opaque: any unreserved characters
        ("sdr-agent-desk://conversation/a.b~c/", "a.b~c"),  # a trailing slash (some mailers add one)
        ("  SDR-Agent-Desk://Conversation/abc  ", "abc"),  # scheme and host are case-insensitive
    ],
)
def test_valid_links(text: str, conversation_id: str) -> None:
    link = parse_link(text)
    assert link == ConversationLink(conversation_id)
    assert parse_link(link.url) == link


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://conversation/42", "is not an SDR Agent Desk link"),
        ("conversation/42", "is not an SDR Agent Desk link"),
        ("sdr-agent-desk://meeting/42", "cannot open “meeting” links"),
        ("sdr-agent-desk:conversation/42", "cannot open this link"),
        ("sdr-agent-desk://conversation/", "names no conversation"),
        ("sdr-agent-desk://conversation/../../etc", "does not name a conversation"),
        ("sdr-agent-desk://conversation/42?x=1", "does not name a conversation"),
        ("sdr-agent-desk://conversation/42#top", "does not name a conversation"),
        ("sdr-agent-desk://conversation/a%2Fb", "does not name a conversation"),
        ("sdr-agent-desk://conversation/a b", "does not name a conversation"),
        ("sdr-agent-desk://conversation/" + "x" * 129, "does not name a conversation"),
        ("sdr-agent-desk://conversation/" + "x" * MAX_LINK, "too long"),
        ("sdr-agent-desk://[bad/x", "is not a valid link"),
    ],
)
def test_bad_links_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DeepLinkError, match=message):
        parse_link(text)


def test_messages_never_carry_control_characters_or_huge_text() -> None:
    with pytest.raises(DeepLinkError) as bad:
        parse_link("https://example.com/\x1b[31m" + "y" * 500)
    assert "\x1b" not in str(bad.value) and len(str(bad.value)) < 200


def test_split_args_keeps_order_drops_repeats_and_reports_problems() -> None:
    links, problems = split_args(
        ["sdr-agent-desk://conversation/b", "", "sdr-agent-desk://conversation/a",
         "sdr-agent-desk://conversation/b/", "sdr-agent-desk://meeting/1"]
    )  # fmt: skip
    assert [link.conversation_id for link in links] == ["b", "a"]
    assert len(problems) == 1 and "meeting" in problems[0]
