"""Saved replies through the real server: CRUD, who sees and edits what, limits, live events, upgrades."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from tests.server.conftest import Team, agent_login, cid, make_config, provision


def _create(
    text: str = "Hi {visitor_first_name}!", *, team: bool = False, shortcut: str = "greet"
) -> p.CreateSavedReply:
    return p.CreateSavedReply(id=cid("sr"), shortcut=shortcut, title="Greeting", text=text, team=team)


async def test_crud_of_a_personal_reply_and_the_list_of_mine_and_the_team(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    maria, _ = await agent_login(server, "maria@example.com")
    mine = p.convert((await sam.ok(_create()))["reply"], p.SavedReply)
    assert mine.owner_id == team.sdr1.id and mine.shortcut == "greet" and mine.updated_by == team.sdr1.id
    shared = p.convert(
        (await maria.ok(_create("Welcome!", team=True, shortcut="welcome")))["reply"], p.SavedReply
    )
    assert shared.owner_id is None

    listed = await sam.ok(p.ListSavedReplies(id=cid()))
    assert {r["id"] for r in listed["replies"]} == {mine.id, shared.id}
    assert listed["seq"] >= 1  # the team reply's event is already in Sam's stream

    edit = p.UpdateSavedReply(
        id=cid(), reply_id=mine.id, shortcut="hello", title="Hello", text="Hello {visitor_first_name}"
    )
    updated = p.convert((await sam.ok(edit))["reply"], p.SavedReply)
    assert (updated.shortcut, updated.title, updated.text) == ("hello", "Hello", "Hello {visitor_first_name}")
    assert updated.updated_at >= mine.updated_at

    await sam.ok(p.DeleteSavedReply(id=cid(), reply_id=mine.id))
    listed = await sam.ok(p.ListSavedReplies(id=cid()))
    assert [r["id"] for r in listed["replies"]] == [shared.id]
    gone = await sam.call(p.DeleteSavedReply(id=cid(), reply_id=mine.id))
    assert isinstance(gone, p.Error) and gone.code == p.ErrorCode.NOT_FOUND


async def test_an_sdr_cannot_write_team_replies_nor_see_or_touch_another_sdrs(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    tina, _ = await agent_login(server, "tina@example.com")
    maria, _ = await agent_login(server, "maria@example.com")
    refused = await sam.call(_create(team=True))
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.FORBIDDEN
    shared = (await maria.ok(_create("Welcome!", team=True)))["reply"]
    for command in (
        p.UpdateSavedReply(id=cid(), reply_id=shared["id"], shortcut="x", title="x", text="mine now"),
        p.DeleteSavedReply(id=cid(), reply_id=shared["id"]),
    ):
        answer = await sam.call(command)
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.FORBIDDEN, answer

    tinas = (await tina.ok(_create("Tina's own")))["reply"]
    assert tinas["id"] not in {r["id"] for r in (await sam.ok(p.ListSavedReplies(id=cid())))["replies"]}
    # Not even a manager reads or edits someone's personal replies: they are personal.
    assert tinas["id"] not in {r["id"] for r in (await maria.ok(p.ListSavedReplies(id=cid())))["replies"]}
    for client in (sam, maria):
        answer = await client.call(
            p.UpdateSavedReply(id=cid(), reply_id=tinas["id"], shortcut="t", title="t", text="t")
        )
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.NOT_FOUND, answer
        answer = await client.call(p.DeleteSavedReply(id=cid(), reply_id=tinas["id"]))
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.NOT_FOUND, answer


async def test_limits_on_text_title_shortcut_and_count(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    bad = [
        (
            p.CreateSavedReply(id=cid(), shortcut="long", title="t", text="x" * (p.MAX_MESSAGE_TEXT + 1)),
            p.ErrorCode.TOO_LONG,
        ),
        (
            p.CreateSavedReply(id=cid(), shortcut="t", title="x" * (p.MAX_SAVED_REPLY_TITLE + 1), text="x"),
            p.ErrorCode.TOO_LONG,
        ),
        (p.CreateSavedReply(id=cid(), shortcut="blank", title="t", text="   "), p.ErrorCode.INVALID),
        (p.CreateSavedReply(id=cid(), shortcut="", title="t", text="x"), p.ErrorCode.INVALID),
        (p.CreateSavedReply(id=cid(), shortcut="has space", title="t", text="x"), p.ErrorCode.INVALID),
        (p.CreateSavedReply(id=cid(), shortcut="ok", title="  ", text="x"), p.ErrorCode.INVALID),
    ]
    for command, code in bad:
        answer = await sam.call(command)
        assert isinstance(answer, p.Error) and answer.code == code, (command, answer)
    assert (await sam.ok(_create("at the limit " + "x" * (p.MAX_MESSAGE_TEXT - 13))))["reply"]
    duplicate = await sam.call(_create("again"))
    assert isinstance(duplicate, p.Error) and duplicate.code == p.ErrorCode.CONFLICT
    assert "/greet" in duplicate.message

    for n in range(p.MAX_SAVED_REPLIES - 1):
        await sam.send(p.CreateSavedReply(id=f"bulk{n}", shortcut=f"r{n}", title=f"Reply {n}", text="x"))
    for n in range(p.MAX_SAVED_REPLIES - 1):
        assert isinstance(await sam.reply(f"bulk{n}"), p.Ack)
    full = await sam.call(_create(shortcut="one-more"))
    assert isinstance(full, p.Error) and full.code == p.ErrorCode.CONFLICT and "200" in full.message
    # The cap is per owner: Tina is not affected by Sam's replies.
    tina, _ = await agent_login(server, "tina@example.com")
    assert (await tina.ok(_create()))["reply"]


async def test_changes_reach_the_other_open_clients_live(server: ChatServer, team: Team) -> None:
    sam_laptop, _ = await agent_login(server, "sam@example.com")
    sam_desktop, _ = await agent_login(server, "sam@example.com")
    tina, _ = await agent_login(server, "tina@example.com")
    maria, _ = await agent_login(server, "maria@example.com")

    mine = (await sam_laptop.ok(_create()))["reply"]
    seen = await sam_desktop.event(p.SavedReplyChanged)
    assert seen.seq > 0 and seen.event.reply.id == mine["id"]

    shared = (await maria.ok(_create("Welcome!", team=True)))["reply"]
    for client in (sam_desktop, tina):
        frame = await client.event(p.SavedReplyChanged)
        assert frame.event.reply.id == shared["id"] and frame.event.reply.owner_id is None
    await sam_laptop.ok(p.DeleteSavedReply(id=cid(), reply_id=mine["id"]))
    deleted = await sam_desktop.event(p.SavedReplyDeleted)
    assert deleted.event.reply_id == mine["id"]
    # Tina never heard about Sam's personal reply: the next event she gets is the team one's deletion.
    await maria.ok(p.DeleteSavedReply(id=cid(), reply_id=shared["id"]))
    frame = await tina.event(p.SavedReplyDeleted)
    assert frame.event.reply_id == shared["id"]
    assert all(
        not (
            isinstance(f.event, p.SavedReplyChanged | p.SavedReplyDeleted)
            and mine["id"]
            in (getattr(f.event, "reply_id", ""), getattr(getattr(f.event, "reply", None), "id", ""))
        )
        for f in tina.events
    )


async def test_missed_changes_are_replayed_on_resume(server: ChatServer, team: Team) -> None:
    tina, welcome = await agent_login(server, "tina@example.com")
    await tina.close()
    maria, _ = await agent_login(server, "maria@example.com")
    shared = (await maria.ok(_create("Welcome!", team=True)))["reply"]
    tina, again = await agent_login(server, "tina@example.com", epoch=welcome.epoch, last_seq=welcome.seq)
    assert again.resume == "replay"
    frame = await tina.event(p.SavedReplyChanged)
    assert frame.event.reply.id == shared["id"]


@pytest.mark.one_storage  # a SQLite file from before saved replies (PostgreSQL: numbered migrations)
async def test_an_existing_database_file_gains_the_table(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with run_server(config) as first:
        provision(first)
    with contextlib.closing(sqlite3.connect(config.db_path)) as conn:  # a file from before saved replies
        conn.execute("DROP TABLE saved_replies")
        conn.commit()
    async with run_server(config) as second:
        sam, _ = await agent_login(second, "sam@example.com")
        assert (await sam.ok(_create()))["reply"]
        assert len((await sam.ok(p.ListSavedReplies(id=cid())))["replies"]) == 1
