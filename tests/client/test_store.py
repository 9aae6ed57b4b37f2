"""Store behaviours: seq dedupe, pending replaced by the server copy, unread counts, snapshots."""

from __future__ import annotations

import msgspec

from agent_app import protocol as p
from agent_app.store import Delivery, Store
from tests.client.conftest import Recorder

ME = p.Agent(id="me", name="Me", email="me@example.com")


def conv(cid: str = "c1") -> p.Conversation:
    return p.Conversation(id=cid, visitor=p.Visitor(id="v1"))


def msg(
    mid: str, text: str, at: float, *, kind: p.AuthorKind = p.AuthorKind.VISITOR, client_id: str = ""
) -> p.Message:
    author = "me" if kind is p.AuthorKind.AGENT else "v1"
    return p.Message(
        id=mid,
        conversation_id="c1",
        author_kind=kind,
        author_id=author,
        text=text,
        created_at=at,
        client_id=client_id,
    )


def frame(seq: int, event: p.Event) -> p.EventFrame:
    return p.EventFrame(seq=seq, epoch="e1", at=0.0, event=event)


def new_store() -> tuple[Store, Recorder]:
    store, recorder = Store(me=ME, epoch="e1"), Recorder()
    store.add_listener(recorder)
    return store, recorder


def test_old_and_repeated_seqs_are_ignored() -> None:
    store, recorder = new_store()
    assert store.apply_event_frame(frame(1, p.ConversationCreated(conversation=conv())))
    assert store.apply_event_frame(frame(2, p.MessageCreated(message=msg("m1", "hi", 1.0))))
    assert not store.apply_event_frame(frame(2, p.MessageCreated(message=msg("m1", "hi", 1.0))))
    assert not store.apply_event_frame(frame(1, p.MessageCreated(message=msg("m0", "old", 0.5))))
    assert [i.message.id for i in store.transcripts["c1"]] == ["m1"]
    assert recorder.added == [("c1", "m1")]
    assert store.seq == 2


def test_pending_send_is_replaced_by_the_server_copy() -> None:
    store, recorder = new_store()
    store.upsert_conversation(conv())
    command = p.SendMessage(id="cmd1", conversation_id="c1", text="hello")
    item = store.add_pending(command, ME, now=5.0)
    assert item.delivery is Delivery.PENDING
    store.set_delivery("c1", "cmd1", Delivery.SENT)  # the ack
    store.apply_event_frame(
        frame(3, p.MessageCreated(message=msg("m9", "hello", 5.1, kind=p.AuthorKind.AGENT, client_id="cmd1")))
    )
    assert len(store.transcripts["c1"]) == 1
    assert item.message.id == "m9" and item.delivery is Delivery.SENT
    # Fetching history later that includes the same message must not duplicate it.
    store.load_transcript("c1", [msg("m9", "hello", 5.1, kind=p.AuthorKind.AGENT, client_id="cmd1")])
    assert len(store.transcripts["c1"]) == 1
    assert recorder.added == [("c1", "cmd1")]
    assert store.unread.get("c1", 0) == 0  # my own message is never unread


def test_failed_delivery_keeps_the_row_with_the_error() -> None:
    store, _ = new_store()
    store.upsert_conversation(conv())
    item = store.add_pending(p.SendMessage(id="cmd1", conversation_id="c1", text="x"), ME, now=1.0)
    store.set_delivery("c1", "cmd1", Delivery.FAILED, "conversation closed")
    assert (item.delivery, item.error) == (Delivery.FAILED, "conversation closed")


def test_unread_counts_visitor_messages_until_marked_read() -> None:
    store, _ = new_store()
    store.upsert_conversation(conv())
    store.add_message(msg("m1", "a", 1.0))
    store.add_message(msg("m2", "b", 2.0))
    store.add_message(msg("m3", "c", 3.0, kind=p.AuthorKind.BOT))
    assert store.unread == {"c1": 2} and store.total_unread() == 2
    store.mark_read("c1")
    assert store.total_unread() == 0


def test_snapshot_replaces_everything_but_keeps_my_pending_sends() -> None:
    store, recorder = new_store()
    store.upsert_conversation(conv())
    store.upsert_conversation(conv("gone"))
    store.add_message(msg("m1", "a", 1.0))
    store.add_pending(p.SendMessage(id="cmd1", conversation_id="c1", text="typed"), ME, now=9.0)
    snap = p.Snapshot(
        epoch="e2",
        seq=40,
        agents=[ME],
        conversations=[conv()],
        messages=[msg("m1", "a", 1.0), msg("m2", "b", 2.0)],
    )
    store.apply_snapshot(snap)
    assert set(store.conversations) == {"c1"}
    assert [i.key for i in store.transcripts["c1"]] == ["m1", "m2", "cmd1"]
    assert store.transcripts["c1"][-1].delivery is Delivery.PENDING
    assert (store.epoch, store.seq, recorder.resets) == ("e2", 40, 1)


def test_late_history_is_inserted_in_time_order() -> None:
    store, _ = new_store()
    store.upsert_conversation(conv())
    store.add_message(msg("m3", "c", 3.0))
    store.load_transcript("c1", [msg("m1", "a", 1.0), msg("m2", "b", 2.0), msg("m3", "c", 3.0)])
    assert [i.key for i in store.transcripts["c1"]] == ["m1", "m2", "m3"]
    store.add_message(msg("m3", "c", 3.0))  # a replayed copy
    assert len(store.transcripts["c1"]) == 3


def test_new_epoch_in_welcome_resets_the_seq() -> None:
    store, _ = new_store()
    store.seq = 50
    store.apply_welcome(p.Welcome(ref="h", agent=ME, epoch="e1", seq=60, resume="replay"))
    assert store.seq == 50
    store.apply_welcome(p.Welcome(ref="h", agent=ME, epoch="e9", seq=3, resume="resync"))
    assert (store.epoch, store.seq) == ("e9", 0)


def test_history_is_missing_while_only_team_notes_and_my_pending_sends_are_held() -> None:
    """A chat moved to me arrives with the team-only routing note but none of the visitor's lines: the
    desk must still fetch the history (message_count counts public stored messages only)."""
    store, _ = new_store()
    store.upsert_conversation(p.Conversation(id="c1", visitor=p.Visitor(id="v1"), message_count=1))
    note = msgspec.structs.replace(msg("n1", "No answer", 2.0, kind=p.AuthorKind.SYSTEM), private=True)
    store.apply_event_frame(frame(1, p.MessageCreated(message=note)))
    store.add_pending(p.SendMessage(id="cmd1", conversation_id="c1", text="hello"), ME, now=3.0)
    assert store.missing_history("c1")
    store.load_transcript("c1", [msg("m1", "Do you have SSO?", 1.0)])
    assert not store.missing_history("c1")
