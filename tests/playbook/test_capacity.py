"""Per-rep capacity: routing passes over reps holding ``max_chats`` open chats (audit "at capacity 1/1"),
a chat nobody has room for waits in the queue and is routed when a slot frees (a close or a hand-off),
and the limit is set with ``python -m chat_server agents set-capacity``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest

from agent_app import protocol as p
from chat_server.actions import AgentActions
from chat_server.admin import Admin, AdminError
from chat_server.cli import main as cli
from chat_server.playbook import Playbook
from chat_server.routing import CAPACITY_QUEUE, load_table
from chat_server.storage.sqlite import SqliteStorage
from tests.playbook.conftest import TERRITORIES, Desk, build_desk

NY = {"country": "US", "region": "NY"}  # the table's us-east rule: Sam Chen


def set_capacity(d: Desk, agent_id: str, max_chats: int) -> None:
    """As ``agents set-capacity`` does from another process: the running server's agent cache is not
    reloaded, routing reads the limit as stored."""
    Admin(d.storage).set_capacity(d.agent(agent_id).email, max_chats)


def audit(conv: p.Conversation) -> list[tuple[str, str | None, str]]:
    return [(s.action, s.agent_id, s.reason) for s in conv.routing_audit]


@pytest.fixture
async def backed_up(tmp_path: Path, playbook: Playbook) -> Desk:
    routing = dataclasses.replace(playbook.routing, backups={"us-east": ("alex@demo.sdr",)})
    d = build_desk(
        tmp_path / "chat.sqlite3",
        dataclasses.replace(playbook, routing=routing),
        table=load_table(TERRITORIES),
    )
    await d.automation.start()
    return d


async def test_a_rep_at_capacity_is_skipped_for_the_next_in_territory_order(backed_up: Desk) -> None:
    d = backed_up
    for who in ("sam", "alex"):
        d.set_presence(who, p.Presence.AVAILABLE)
    set_capacity(d, "sam", 1)
    _, first = await d.visitor_says("Hi", page="/blog", **NY)
    assert first.assignee_id == "sam"
    _, second = await d.visitor_says("Hello there", page="/blog", **NY)
    assert second.assignee_id == "alex" and second.assigned_via == "routing"
    assert audit(second) == [
        ("skipped", "sam", "aligned SDR, at capacity 1/1"),
        ("routed", "alex", "backup for rule 'us-east'; Sam Chen is at capacity 1/1"),
    ]
    assert second.routing is not None and second.routing.aligned_agent_id == "sam"
    notes = [m.text for m in d.transcript(second.id) if m.private]
    routed = "Routed to Alex Rivera: Sam Chen is at capacity 1/1"
    assert f"{routed} (rule 'us-east', line 7, backup for rule 'us-east')" in notes
    # a closed chat frees the slot: the next one goes to Sam again
    with d.storage.savepoint():
        AgentActions(d.service).close(d.agent("sam"), first.id)
    await d.storage.commit()
    await d.settle()
    _, third = await d.visitor_says("Anyone?", page="/blog", **NY)
    assert third.assignee_id == "sam" and audit(third) == [("routed", "sam", "aligned SDR")]


async def test_pool_members_at_capacity_are_skipped(tmp_path: Path, playbook: Playbook) -> None:
    pools: dict[str, tuple[str, ...]] = {"us-round-robin": ("sam@demo.sdr", "alex@demo.sdr")}
    routing = dataclasses.replace(playbook.routing, pools=pools)
    d = build_desk(
        tmp_path / "chat.sqlite3",
        dataclasses.replace(playbook, routing=routing),
        table=load_table(TERRITORIES),
    )
    for who in ("sam", "alex"):
        d.set_presence(who, p.Presence.AVAILABLE)
        set_capacity(d, who, 1)
    _, a = await d.visitor_says("Hi", page="/blog", country="US")  # us-unknown-state: the pool
    _, b = await d.visitor_says("Hi", page="/blog", country="US")
    assert {a.assignee_id, b.assignee_id} == {"sam", "alex"}
    assert audit(b) == [
        ("skipped", a.assignee_id, "at capacity 1/1"),
        ("routed", b.assignee_id, "pool 'us-round-robin'"),
    ]
    _, c = await d.visitor_says("Hi", page="/blog", country="US")
    assert c.assignee_id is None
    assert sorted(audit(c)[:2]) == [
        ("skipped", "alex", "at capacity 1/1"),
        ("skipped", "sam", "at capacity 1/1"),
    ]
    assert audit(c)[2] == ("queued", None, CAPACITY_QUEUE)


async def test_when_everyone_is_full_the_chat_waits_and_is_routed_when_a_slot_frees(desk: Desk) -> None:
    d = desk
    d.set_presence("sam", p.Presence.AVAILABLE)
    set_capacity(d, "sam", 1)
    _, first = await d.visitor_says("Hi", page="/blog", **NY)
    assert first.assignee_id == "sam"
    _, waiting = await d.visitor_says("Hello", page="/blog", **NY)
    assert waiting.assignee_id is None
    assert audit(waiting)[:4] == [
        ("skipped", "sam", "aligned SDR, at capacity 1/1"),
        ("skipped", "alex", "away"),  # the rule's backups (chat_server/playbook.toml), in order
        ("skipped", "jordan", "away"),
        ("queued", None, CAPACITY_QUEUE),
    ]
    assert audit(waiting)[4][0] == "offered_meeting"  # the visitor isn't left hanging meanwhile
    bots = [m.text for m in d.transcript(waiting.id) if m.author_kind == p.AuthorKind.BOT]
    assert bots[0].startswith("Everyone on the team is busy right now")
    # nothing frees up for 40 s: the waiting chat stays in the queue (and nothing is added to its audit)
    await d.scheduler.advance(40)
    assert (
        d.conversation(waiting.id).assignee_id is None and len(d.conversation(waiting.id).routing_audit) == 5
    )

    with d.storage.savepoint():
        AgentActions(d.service).close(d.agent("sam"), first.id)
    await d.storage.commit()
    await d.settle()
    conv = d.conversation(waiting.id)
    assert conv.assignee_id == "sam" and conv.assigned_via == "routing"
    assert audit(conv)[-1] == ("routed", "sam", "aligned SDR; a chat slot freed up")
    assert conv.sla_due_at == d.clock.now() + 30 and not conv.sla_breached  # Sam's own 30 s from now
    sam = [
        e for e in d.events("sam") if isinstance(e, p.ConversationUpdated) and e.conversation.id == waiting.id
    ]
    assert sam[-1].conversation.assignee_id == "sam"
    await d.scheduler.advance(30)  # Sam doesn't answer either: nobody else is available, it stays
    assert d.conversation(waiting.id).assignee_id == "sam"


async def test_a_hand_off_frees_a_slot_too(desk: Desk) -> None:
    d = desk
    for who in ("sam", "jordan"):
        d.set_presence(who, p.Presence.AVAILABLE)
    set_capacity(d, "sam", 1)
    set_capacity(d, "jordan", 0)
    d.set_presence("jordan", p.Presence.AWAY)
    _, first = await d.visitor_says("Hi", page="/blog", **NY)
    _, waiting = await d.visitor_says("Hello", page="/blog", **NY)
    assert waiting.assignee_id is None
    with d.storage.savepoint():
        AgentActions(d.service).record_handoff(d.agent("sam"), first.id, "jordan", "", "", reassign=True)
    await d.storage.commit()
    await d.settle()
    assert d.conversation(waiting.id).assignee_id == "sam"


async def test_fallback_skips_reps_at_capacity(desk: Desk) -> None:
    d = desk
    for who in ("sam", "alex"):
        d.set_presence(who, p.Presence.AVAILABLE)
    set_capacity(d, "alex", 1)
    _, busy = await d.visitor_says("Hi", page="/blog", country="US", region="CA")  # us-west: Alex
    assert busy.assignee_id == "alex"
    await d.agent_says("alex", busy.id, "Hi, Alex here")  # answered: it stays Alex's
    _, conv = await d.visitor_says("Hi", page="/blog", **NY)
    await d.scheduler.advance(30)
    conv = d.conversation(conv.id)
    # Sam's chat can't go to Alex (full); nobody else is available: it stays with Sam
    assert conv.assignee_id == "sam"
    assert ("skipped", "alex", "at capacity 1/1") in audit(conv)
    assert audit(conv)[-1] == ("missed", "sam", "no answer in 30 s; nobody else available")


def test_cli_sets_and_lists_the_capacity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "server.sqlite3"
    assert cli(["agents", "add", "--db", str(db), "--email", "ana@example.com", "--name", "Ana",
                "--password", "correct horse"]) == 0  # fmt: skip
    assert cli(["agents", "set-capacity", "ana@example.com", "3", "--db", str(db)]) == 0
    assert "ana@example.com now has at most 3 open chats" in capsys.readouterr().out
    assert cli(["agents", "list", "--db", str(db)]) == 0
    assert "max 3" in capsys.readouterr().out
    storage = SqliteStorage(str(db))
    try:
        record = storage.agent_by_email("ana@example.com")
        assert record is not None and record.agent.max_chats == 3
        with pytest.raises(AdminError, match="from 0 \\(no limit\\) to 100"):
            Admin(storage).set_capacity("ana@example.com", -1)
    finally:
        storage.close()
    assert cli(["agents", "set-capacity", "ana@example.com", "0", "--db", str(db)]) == 0
    assert "ana@example.com now has no chat limit" in capsys.readouterr().out
    assert cli(["agents", "set-capacity", "ana@example.com", "1000", "--db", str(db)]) == 1
    assert "the chat limit must be a whole number" in capsys.readouterr().err
    assert cli(["agents", "set-capacity", "nobody@example.com", "2", "--db", str(db)]) == 1


def test_max_chats_travels_in_the_agent() -> None:
    agent = p.Agent(id="a", name="A", email="a@x", max_chats=2)
    assert msgspec.json.decode(msgspec.json.encode(agent), type=p.Agent).max_chats == 2
    assert b"max_chats" not in msgspec.json.encode(p.Agent(id="a", name="A", email="a@x"))  # 0 = no limit


async def test_a_manager_sets_a_limit_from_the_desk_and_everyone_sees_it(tmp_path: Path) -> None:
    from chat_server.app import run_server
    from tests.server.conftest import agent_login, make_config, provision

    async with run_server(make_config(tmp_path)) as server:
        team = provision(server)
        boss, _ = await agent_login(server, team.manager.email)
        sam, _ = await agent_login(server, team.sdr1.email)
        try:
            result = await boss.ok(p.SetCapacity(id="cap-1", agent_id=team.sdr1.id, max_chats=3))
            assert p.convert(result["agent"], p.Agent).max_chats == 3
            limits = []
            while 3 not in limits:  # the first presence_changed is Sam's own sign-in
                seen = await sam.event(p.PresenceChanged, wait=5)
                assert isinstance(seen.event, p.PresenceChanged)
                limits.append(seen.event.agent.max_chats)
            stored = server.storage.get_agent(team.sdr1.id)
            assert stored is not None and stored.max_chats == 3
            refused = await sam.call(p.SetCapacity(id="cap-2", agent_id=team.sdr1.id, max_chats=9))
            assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.FORBIDDEN
            bad = await boss.call(p.SetCapacity(id="cap-3", agent_id=team.sdr1.id, max_chats=101))
            assert isinstance(bad, p.Error) and bad.code == p.ErrorCode.INVALID
            gone = await boss.call(p.SetCapacity(id="cap-4", agent_id="nobody", max_chats=1))
            assert isinstance(gone, p.Error) and gone.code == p.ErrorCode.NOT_FOUND
            stored = server.storage.get_agent(team.sdr1.id)
            assert stored is not None and stored.max_chats == 3
        finally:
            await boss.close()
            await sam.close()
