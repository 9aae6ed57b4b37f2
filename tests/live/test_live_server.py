"""Live visitors on a real server: page reports, segments, who sees whom, engage, its refusals, dismiss."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.clock import FakeClock
from chat_server.playbook import loads_playbook
from chat_server.storage.base import VisitorFacts
from tests.server.conftest import Client, Team, agent_login, cid, make_config, provision, visitor_login
from tests.server.test_confidentiality import CMD, VisitorRecorder, cmd

PLAYBOOK = """
pages = ["/pricing", "/demo"]
target_accounts = ["globex.com", "Initech"]
"""


class LiveList:
    """An agent connection watching the live list: applies its frames like a client would."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.rows: dict[str, p.LiveVisitor] = {}
        self.frames: list[p.LiveVisitorsFrame] = []

    async def start(self) -> int:
        await self.client.send(p.WatchLiveVisitors(id=cid("w")))
        snapshot = await self.client.frame_of(p.LiveVisitorsFrame)
        assert snapshot.snapshot
        self._apply(snapshot)
        return len(snapshot.visitors)

    def _apply(self, frame: p.LiveVisitorsFrame) -> None:
        self.frames.append(frame)
        if frame.snapshot:
            self.rows.clear()
        for row in frame.visitors:
            self.rows[row.visitor_id] = row
        for visitor_id in frame.removed:
            self.rows.pop(visitor_id, None)

    async def until(self, what: str, predicate: Callable[[dict[str, p.LiveVisitor]], bool]) -> None:
        deadline = time.monotonic() + 5
        while not predicate(self.rows):
            assert time.monotonic() < deadline, f"never saw {what}: {self.rows}"
            self._apply(await self.client.frame_of(p.LiveVisitorsFrame, wait=5))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    config = make_config(tmp_path, live_grace_seconds=0.05)
    async with run_server(config, FakeClock(time.time())) as running:
        running.ctx.live.playbook = loads_playbook(PLAYBOOK)
        running.ctx.live.throttle_seconds = 0.05
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


async def watching(server: ChatServer, email: str) -> LiveList:
    client, _ = await agent_login(server, email)
    live = LiveList(client)
    await live.start()
    return live


def clock(server: ChatServer) -> FakeClock:
    assert isinstance(server.clock, FakeClock)
    return server.clock


async def test_a_visitor_is_listed_from_the_first_page_load_follows_pages_and_leaves(
    server: ChatServer, team: Team
) -> None:
    boss = await watching(server, team.manager.email)
    assert boss.rows == {}
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/blog/post", page_title="Blog")
    vid = welcome.visitor.id
    await boss.until("the visitor", lambda rows: vid in rows)
    row = boss.rows[vid]
    assert row.current_page == "https://acme.test/blog/post" and row.page_title == "Blog"
    assert not row.live_page and not row.returning and not row.target_account and row.pages_viewed == 1
    assert row.conversation_id == "" and row.owner_id is None

    clock(server).advance(40)
    await visitor.ok(p.VisitorPageView(id=cid("pv"), url="https://acme.test/pricing", title="Pricing"))
    await boss.until("the pricing page", lambda rows: rows[vid].current_page.endswith("/pricing"))
    row = boss.rows[vid]
    assert row.live_page and row.page_title == "Pricing" and row.pages_viewed == 2
    assert row.last_seen - row.since == pytest.approx(40)  # time on site

    await visitor.close()
    await boss.until("the visitor leaving", lambda rows: vid not in rows)
    await boss.client.close()


async def test_a_page_load_within_the_grace_keeps_the_visit_and_a_later_visit_is_returning(
    server: ChatServer, team: Team
) -> None:
    server.ctx.live.grace_seconds = 30  # a page load: the widget reconnects at once
    boss = await watching(server, team.manager.email)
    first, welcome = await visitor_login(server, page_url="https://acme.test/")
    vid, token = welcome.visitor.id, welcome.visitor_token
    await boss.until("the visitor", lambda rows: vid in rows)
    since = boss.rows[vid].since
    await first.close()
    clock(server).advance(5)
    second, _ = await visitor_login(server, token, page_url="https://acme.test/features")
    await boss.until("the next page", lambda rows: rows[vid].current_page.endswith("/features"))
    assert boss.rows[vid].since == since and not boss.rows[vid].returning
    removals = [f for f in boss.frames if vid in f.removed]
    assert removals == []  # never flickered out of the list
    server.ctx.live.grace_seconds = 0.05  # now the visitor really leaves
    await second.close()
    await boss.until("the visitor leaving", lambda rows: vid not in rows)

    clock(server).advance(2 * 3600)  # tomorrow, say
    third, _ = await visitor_login(server, token, page_url="https://acme.test/pricing")
    await boss.until("the returning visitor", lambda rows: vid in rows)
    assert boss.rows[vid].returning and boss.rows[vid].since > since
    await third.close()
    await boss.client.close()


async def test_segments_target_account_and_known_lead(server: ChatServer, team: Team) -> None:
    boss = await watching(server, team.manager.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/pricing")
    vid = welcome.visitor.id
    await boss.until("the visitor", lambda rows: vid in rows)
    assert not boss.rows[vid].target_account
    await visitor.ok(p.VisitorUpdateProfile(id=cid("u"), name="Dana Lee", email="dana@eu.globex.com"))
    await boss.until("the target account", lambda rows: rows[vid].target_account)
    assert boss.rows[vid].name == "Dana Lee" and boss.rows[vid].email == "dana@eu.globex.com"

    # a known lead: an agent reported CRM facts about the visitor earlier (update_visitor stores them)
    token, conversation, _ = await server.seed_visitor_message("hello", name="Jo", company="Initech")
    with server.storage.savepoint():
        server.storage.save_visitor_facts(conversation.visitor.id, VisitorFacts(source="Salesforce lead"))
    await server.storage.commit()
    other, _ = await visitor_login(server, token, page_url="https://acme.test/demo")
    jo = conversation.visitor.id
    await boss.until("the known lead", lambda rows: jo in rows)
    row = boss.rows[jo]
    assert row.crm_source == "Salesforce lead" and row.target_account  # Initech, by name
    assert row.conversation_id == conversation.id and row.live_page
    for ws in (visitor, other, boss.client):
        await ws.close()


async def test_reps_see_only_visitors_they_may_see(server: ChatServer, team: Team) -> None:
    sam, tina, boss = (
        await watching(server, team.sdr1.email),
        await watching(server, team.sdr2.email),
        await watching(server, team.manager.email),
    )
    token, conversation, _ = await server.seed_visitor_message("pricing?", name="Ann")
    visitor, _ = await visitor_login(server, token, page_url="https://acme.test/pricing")
    vid = conversation.visitor.id
    for watcher in (sam, tina, boss):  # an unassigned chat: everyone may pick it up
        await watcher.until("the visitor", lambda rows: vid in rows)
    await sam.client.ok(
        p.AssignConversation(id=cid("a"), conversation_id=conversation.id, agent_id=team.sdr1.id)
    )
    await tina.until("the visitor gone from Tina's list", lambda rows: vid not in rows)
    await sam.until("Sam as the owner", lambda rows: rows[vid].owner_id == team.sdr1.id)
    await boss.until("Sam as the owner", lambda rows: rows[vid].owner_id == team.sdr1.id)
    # a rep who watches later gets a snapshot without it
    late, _ = await agent_login(server, team.sdr2.email)
    assert await LiveList(late).start() == 0
    for ws in (visitor, sam.client, tina.client, boss.client, late):
        await ws.close()


async def test_engage_opens_a_chat_the_widget_shows_with_the_reps_name_and_nothing_private(
    server: ChatServer, team: Team
) -> None:
    sam = await watching(server, team.sdr1.email)
    recorder = VisitorRecorder(await _open_visitor(server))
    hello = await recorder.send(p.VisitorHello(id="", page_url="https://acme.test/pricing"))
    vid = hello["visitor"]["id"]
    await sam.until("the visitor", lambda rows: vid in rows)

    ack = await sam.client.ok(p.EngageVisitor(id=cmd(), visitor_id=vid, text="Hi! Questions about pricing?"))
    conversation = p.convert(ack["conversation"], p.Conversation)
    assert conversation.assignee_id == team.sdr1.id and conversation.assigned_via == "engage"
    assert ack["message"]["text"] == "Hi! Questions about pricing?"
    created = await sam.client.event(p.ConversationCreated)
    assert created.event.conversation.id == conversation.id
    await recorder.until("the opener", lambda fs: any(_text(f) == "Hi! Questions about pricing?" for f in fs))
    opener = next(f["event"]["message"] for f in recorder.frames() if _text(f))
    assert opener["author_name"] == "Sam Sdr" and opener["author_kind"] == "agent"
    await sam.until("the engaged row", lambda rows: rows[vid].conversation_id == conversation.id)
    assert sam.rows[vid].engaged_by == team.sdr1.id and sam.rows[vid].engaged_at is not None

    # the visitor dismisses the pop-up: the chat closes, the rep is told (team-only), the row says so
    dismissed = await recorder.send(p.DismissEngage(id=""))
    assert dismissed["type"] == "ack" and dismissed["result"] == {"closed": True}
    closed = await sam.client.event(p.ConversationClosed)
    assert closed.event.conversation.id == conversation.id
    note = await sam.client.event(p.MessageCreated)
    # The desk's name for an anonymous visitor (agent_app.display), not a second spelling of it.
    name = f"Visitor #{vid[-5:]}"
    assert note.event.message.text == f"{name} dismissed the chat" and note.event.message.private
    await sam.until("dismissed", lambda rows: rows[vid].dismissed_at is not None)
    assert sam.rows[vid].conversation_id == ""

    refused = await sam.client.call(p.EngageVisitor(id=cmd(), visitor_id=vid, text="Still there?"))
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.CONFLICT
    assert refused.message == f"{name} dismissed a chat 0 s ago"
    await recorder.close()
    await sam.client.close()

    secrets = [team.sdr1.id, team.sdr1.email, CMD, "assigned_via", "engage", "live_visitors", "US-West"]
    leaks = [f"{s!r} in {raw[:200]}" for s in secrets for raw in recorder.raw if s.lower() in raw.lower()]
    assert not leaks, leaks


async def test_engage_refusals_open_chat_cooldown_size_left_and_not_yours(
    server: ChatServer, team: Team
) -> None:
    sam = await watching(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/pricing")
    vid = welcome.visitor.id
    await sam.until("the visitor", lambda rows: vid in rows)

    async def engage(client: Client, text: str = "Hi there") -> p.Ack | p.Error:
        return await client.call(p.EngageVisitor(id=cid("e"), visitor_id=vid, text=text))

    too_long = await engage(sam.client, "x" * 1001)
    assert isinstance(too_long, p.Error) and too_long.code == p.ErrorCode.TOO_LONG
    empty = await engage(sam.client, "   ")
    assert isinstance(empty, p.Error) and empty.code == p.ErrorCode.INVALID
    first = await engage(sam.client)
    assert isinstance(first, p.Ack)
    conversation_id = first.result["conversation"]["id"]
    again = await engage(tina)  # Tina does not see Sam's chat, nor its visitor
    assert isinstance(again, p.Error) and again.code == p.ErrorCode.FORBIDDEN
    boss = await watching(server, team.manager.email)
    manager = boss.client
    busy = await engage(manager)
    assert isinstance(busy, p.Error) and busy.code == p.ErrorCode.CONFLICT
    assert busy.message == f"Visitor #{vid[-5:]} already has an open chat"

    await sam.client.ok(p.CloseConversation(id=cid("c"), conversation_id=conversation_id))
    clock(server).advance(120)
    soon = await engage(manager)
    assert isinstance(soon, p.Error) and soon.code == p.ErrorCode.RATE_LIMITED
    assert soon.message == f"Sam Sdr engaged Visitor #{vid[-5:]} 2 min ago; try again in 8 min"
    clock(server).advance(8 * 60)
    later = await engage(manager)
    assert isinstance(later, p.Ack), later

    await visitor.close()
    await boss.until("the visitor leaving", lambda rows: vid not in rows)
    gone = await engage(manager)
    assert isinstance(gone, p.Error) and gone.code == p.ErrorCode.NOT_FOUND
    for ws in (sam.client, tina, manager):
        await ws.close()


async def test_updates_are_throttled_per_visitor(server: ChatServer, team: Team) -> None:
    server.ctx.live.throttle_seconds = 0.3
    boss = await watching(server, team.manager.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/")
    vid = welcome.visitor.id
    await boss.until("the visitor", lambda rows: vid in rows)
    started = time.monotonic()
    for n in range(20):
        await visitor.ok(p.VisitorPageView(id=cid("pv"), url=f"https://acme.test/p{n}"))
    await boss.until("the last page", lambda rows: rows[vid].current_page.endswith("/p19"))
    elapsed = time.monotonic() - started
    upserts = [f for f in boss.frames if any(r.visitor_id == vid for r in f.visitors) and not f.snapshot]
    assert len(upserts) <= elapsed / 0.3 + 2, (len(upserts), elapsed)
    await visitor.close()
    await boss.client.close()


async def test_the_playbook_file_names_the_target_accounts(tmp_path: Path) -> None:
    path = tmp_path / "playbook.toml"
    path.write_text('pages = ["/pricing"]\ntarget_accounts = ["Globex.com", " "]\n')
    async with run_server(make_config(tmp_path, playbook=str(path))) as server:
        assert server.ctx.live.playbook.target_accounts == ("globex.com",)


async def _open_visitor(server: ChatServer) -> Client:
    from tests.server.conftest import open_ws

    return await open_ws(server.url, "/visitor")


def _text(frame: dict[str, Any]) -> str:
    message = frame.get("event", {}).get("message", {})
    return str(message.get("text", "")) if message.get("author_kind") == "agent" else ""


async def test_closing_or_reopening_a_chat_updates_the_row(server: ChatServer, team: Team) -> None:
    sam = await watching(server, team.sdr1.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/pricing")
    vid = welcome.visitor.id
    await sam.until("the visitor", lambda rows: vid in rows)
    ack = await sam.client.ok(p.EngageVisitor(id=cid("e"), visitor_id=vid, text="Hi!"))
    conversation_id = ack["conversation"]["id"]
    await sam.until("chatting", lambda rows: rows[vid].conversation_id == conversation_id)
    await sam.client.ok(p.CloseConversation(id=cid("c"), conversation_id=conversation_id))
    await sam.until("not chatting any more", lambda rows: rows[vid].conversation_id == "")
    await sam.client.ok(p.ReopenConversation(id=cid("r"), conversation_id=conversation_id))
    await sam.until("chatting again", lambda rows: rows[vid].conversation_id == conversation_id)
    await visitor.close()
    await sam.client.close()


async def test_dismissing_the_pop_up_of_an_answered_chat_changes_nothing(
    server: ChatServer, team: Team
) -> None:
    sam = await watching(server, team.sdr1.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/pricing")
    vid = welcome.visitor.id
    await sam.until("the visitor", lambda rows: vid in rows)
    ack = await sam.client.ok(p.EngageVisitor(id=cid("e"), visitor_id=vid, text="Hi!"))
    await visitor.ok(p.VisitorSendMessage(id=cid("m"), text="Hi Sam, yes please"))
    await sam.client.ok(p.SendMessage(id=cid("s"), conversation_id=ack["conversation"]["id"], text="Great!"))
    assert await visitor.ok(p.DismissEngage(id=cid("d"))) == {"closed": False}
    conversation = server.storage.get_conversation(ack["conversation"]["id"])
    assert conversation is not None and conversation.status == p.ConversationStatus.OPEN
    assert server.ctx.live.visits[vid].dismissed_at is None
    await visitor.close()
    await sam.client.close()


async def test_forgetting_all_visits_tells_the_watchers_and_a_late_close_is_ignored(
    server: ChatServer, team: Team
) -> None:
    """The demo seeds past chats through /visitor, then forgets those visits (sandbox/workspace.py): a
    watcher's rows go, and a seeded widget's close arriving afterwards changes nothing."""
    boss = await watching(server, team.manager.email)
    visitor, welcome = await visitor_login(server, page_url="https://acme.test/")
    vid = welcome.visitor.id
    await boss.until("the visitor", lambda rows: vid in rows)
    server.ctx.live.forget_all()
    await boss.until("the visitor gone", lambda rows: vid not in rows)
    assert server.ctx.live.visits == {}
    await visitor.close()  # its disconnect finds no visit: nothing is scheduled
    late, _ = await agent_login(server, team.manager.email)
    await late.send(p.WatchLiveVisitors(id=cid("w")))
    assert (await late.frame_of(p.LiveVisitorsFrame)).visitors == []
    await late.close()
    await boss.client.close()
