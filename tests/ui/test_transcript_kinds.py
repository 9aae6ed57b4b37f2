"""Team-only system lines (hand-off, assignment, booking) read as system lines, marked team only."""

from __future__ import annotations

from agent_app import protocol as p
from agent_app.store import MessageItem
from ui.conversation.transcript_model import MessageKind, kind_of


def _item(kind: p.AuthorKind, *, private: bool, author_id: str = "") -> MessageItem:
    return MessageItem(
        p.Message(
            id="m1",
            conversation_id="c1",
            author_kind=kind,
            text="Sam handed off to Alex",
            created_at=1.0,
            author_id=author_id,
            private=private,
        )
    )


def test_private_system_line_is_a_system_line_not_a_note() -> None:
    assert kind_of(_item(p.AuthorKind.SYSTEM, private=True), "a1") is MessageKind.SYSTEM
    assert kind_of(_item(p.AuthorKind.AGENT, private=True, author_id="a2"), "a1") is MessageKind.NOTE
    assert kind_of(_item(p.AuthorKind.AGENT, private=False, author_id="a2"), "a1") is MessageKind.AGENT


def test_team_only_system_line_says_so(qtbot: object) -> None:
    from agent_app.store import Store
    from ui.bridge import StoreBridge
    from ui.conversation.transcript_model import TranscriptModel

    store = Store()
    conv = p.Conversation(id="c1", visitor=p.Visitor(id="v1"))
    msgs = [
        p.Message(
            id="m1",
            conversation_id="c1",
            author_kind=p.AuthorKind.SYSTEM,
            text="Sam took it",
            created_at=1.0,
            private=True,
        ),
        p.Message(
            id="m2", conversation_id="c1", author_kind=p.AuthorKind.SYSTEM, text="Chat closed", created_at=2.0
        ),
    ]
    store.apply_snapshot(p.Snapshot(epoch="e", seq=1, agents=[], conversations=[conv], messages=msgs))
    model = TranscriptModel(StoreBridge(store))
    model.set_conversation("c1")
    texts = [model.index(r).data() for r in range(model.rowCount())]
    assert texts == ["Sam took it \N{MIDDLE DOT} team only", "Chat closed"]
