"""On site now and who is viewing/typing, across server processes: a visitor's widget and the SDR who
watches or engages her, or two agents in one chat, may be connected to different processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision
from tests.cluster.procs import ServerProcess
from tests.server.conftest import Client, cid


class LiveList:
    """An agent connection watching "On site now", applying frames like a desk does."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.rows: dict[str, p.LiveVisitor] = {}

    async def start(self) -> None:
        await self.client.send(p.WatchLiveVisitors(id=cid("w")))
        self._apply(await self.client.frame_of(p.LiveVisitorsFrame))

    def _apply(self, frame: p.LiveVisitorsFrame) -> None:
        if frame.snapshot:
            self.rows.clear()
        self.rows.update({row.visitor_id: row for row in frame.visitors})
        for visitor_id in frame.removed:
            self.rows.pop(visitor_id, None)

    async def until(
        self, what: str, ok: Callable[[dict[str, p.LiveVisitor]], bool], wait: float = 10
    ) -> None:
        try:
            async with asyncio.timeout(wait):
                while not ok(self.rows):
                    self._apply(await self.client.frame_of(p.LiveVisitorsFrame, wait=wait))
        except TimeoutError:
            raise AssertionError(f"never saw {what}: {self.rows}") from None


async def chat_seen_on_two_processes(
    cluster: Cluster, email_a: str, email_b: str
) -> tuple[ServerProcess, ServerProcess, Client, Client, str]:
    """Two processes A and B, an agent on each, a visitor on A whose first message both agents got:
    (A, B, the agent on A, the agent on B, the conversation id)."""
    a, b = await cluster.spawn(), await cluster.spawn()
    on_a, _ = await cluster.agent(a.url, email_a)
    on_b, _ = await cluster.agent(b.url, email_b)
    visitor, _ = await cluster.visitor(a.url)
    result = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="hi, pricing?"))
    await on_a.event(p.MessageCreated)
    await on_b.event(p.MessageCreated)
    return a, b, on_a, on_b, str(result["conversation_id"])


async def viewers_become(client: Client, conversation_id: str, want: list[str], wait: float = 10) -> None:
    """Until the desk is told that ``want`` (sorted) view the chat."""
    async with asyncio.timeout(wait):
        while True:
            frame = await client.frame_of(p.ViewersFrame, wait=wait)
            if frame.conversation_id == conversation_id and frame.agent_ids == want:
                return


async def test_a_visitor_on_a_is_listed_and_engaged_by_an_sdr_on_b(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    sdr, _ = await cluster.agent(b.url, staff.sdr1.email)
    await sdr.frame_of(p.Snapshot)
    live = LiveList(sdr)
    await live.start()
    visitor, welcome = await cluster.visitor(a.url)
    visitor_id = welcome.visitor.id
    await visitor.ok(p.VisitorPageView(id=cid("pv"), url="https://example.com/pricing", title="Pricing"))
    await live.until("the visitor on A", lambda rows: visitor_id in rows)
    await live.until("her page", lambda rows: rows[visitor_id].current_page.endswith("/pricing"))

    # A second watcher on B that signs in later gets her in its snapshot.
    later, _ = await cluster.agent(b.url, staff.manager.email)
    late_list = LiveList(later)
    await late_list.start()
    assert visitor_id in late_list.rows

    result = await sdr.ok(
        p.EngageVisitor(id=cid("e"), visitor_id=visitor_id, text="Need a hand with pricing?")
    )
    conversation_id = result["conversation"]["id"]
    async with asyncio.timeout(10):  # the pop-up reaches her widget on A
        while True:
            frame = await visitor.recv(10)
            event = frame.event if isinstance(frame, p.EventFrame) else None
            if isinstance(event, p.MessageCreated) and event.message.text == "Need a hand with pricing?":
                break
    await live.until("her row engaged", lambda rows: rows[visitor_id].conversation_id == conversation_id)

    # A teammate on A is refused while she has the open chat.
    manager, _ = await cluster.agent(a.url, staff.manager.email)
    again = await manager.call(p.EngageVisitor(id=cid("e2"), visitor_id=visitor_id, text="Hello?"))
    assert isinstance(again, p.Error) and again.code == p.ErrorCode.CONFLICT, again

    # She closes the pop-up on A: the chat closes, and nobody on any process engages her again this visit.
    assert (await visitor.ok(p.DismissEngage(id=cid("d"))))["closed"] is True
    await live.until("her row dismissed", lambda rows: rows[visitor_id].dismissed_at is not None)
    refused = await sdr.call(p.EngageVisitor(id=cid("e3"), visitor_id=visitor_id, text="Still there?"))
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.CONFLICT, refused
    assert "dismissed" in refused.message


async def test_two_reps_on_two_processes_engaging_at_once_start_one_chat(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    sdr, _ = await cluster.agent(b.url, staff.sdr1.email)
    manager, _ = await cluster.agent(a.url, staff.manager.email)
    live = LiveList(sdr)
    await live.start()
    _, welcome = await cluster.visitor(a.url)
    visitor_id = welcome.visitor.id
    await live.until("the visitor on A", lambda rows: visitor_id in rows)
    for round_ in range(3):  # (a race: a few rounds, each on a fresh visitor)
        answers = await asyncio.gather(
            sdr.call(p.EngageVisitor(id=cid("es"), visitor_id=visitor_id, text=f"Hi from Sam {round_}")),
            manager.call(
                p.EngageVisitor(id=cid("em"), visitor_id=visitor_id, text=f"Hi from Maria {round_}")
            ),
        )
        assert sorted(type(x).__name__ for x in answers) == ["Ack", "Error"], answers
        if round_ < 2:
            _, welcome = await cluster.visitor(a.url)
            visitor_id = welcome.visitor.id
            await live.until("the next visitor", lambda rows, v=visitor_id: v in rows)


async def test_a_killed_processs_visitors_leave_the_list_elsewhere(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    manager, _ = await cluster.agent(b.url, staff.manager.email)
    live = LiveList(manager)
    await live.start()
    _, welcome = await cluster.visitor(a.url)
    await live.until("the visitor on A", lambda rows: welcome.visitor.id in rows)
    await a.kill9()
    await live.until("her row gone", lambda rows: welcome.visitor.id not in rows, wait=30)


async def test_agents_on_two_processes_see_each_other_viewing_and_typing(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    _, _, manager, sdr, conversation_id = await chat_seen_on_two_processes(
        cluster, staff.manager.email, staff.sdr1.email
    )

    await manager.ok(p.SetViewing(id=cid("v1"), conversation_id=conversation_id))
    answer = await sdr.ok(p.SetViewing(id=cid("v2"), conversation_id=conversation_id))

    both = sorted([staff.manager.id, staff.sdr1.id])
    if answer["agent_ids"] != both:  # (the manager's viewing may still be on its way to B)
        await viewers_become(sdr, conversation_id, both)
    await viewers_become(manager, conversation_id, both)

    await manager.ok(p.SetTyping(id=cid("t"), conversation_id=conversation_id, active=True))
    typing = await sdr.frame_of(p.TypingFrame, wait=10)
    assert typing.author_id == staff.manager.id and typing.active

    await sdr.ok(p.SetViewing(id=cid("v3"), conversation_id=None))  # Tina closes it: Maria alone again
    await viewers_become(manager, conversation_id, [staff.manager.id])


async def test_a_viewer_and_typist_on_b_who_loses_the_chat_is_dropped_on_a(cluster: Cluster) -> None:
    """Tina (on A) answers a waiting chat that Sam (on B) has open and types in: it is hers now and Sam
    can't see it; Tina's desk stops showing him as viewer and typist at once, and B forgets him too."""
    staff = provision(cluster.dsn)
    _, b, tina, sam, conversation_id = await chat_seen_on_two_processes(
        cluster, staff.sdr2.email, staff.sdr1.email
    )

    await tina.ok(p.SetViewing(id=cid("v1"), conversation_id=conversation_id))
    await sam.ok(p.SetViewing(id=cid("v2"), conversation_id=conversation_id))
    await sam.ok(p.SetTyping(id=cid("t"), conversation_id=conversation_id, active=True))
    await viewers_become(tina, conversation_id, sorted([staff.sdr1.id, staff.sdr2.id]))
    typing = await tina.frame_of(p.TypingFrame, wait=10)
    assert (typing.author_id, typing.active) == (staff.sdr1.id, True)

    await tina.ok(p.SendMessage(id=cid("r"), conversation_id=conversation_id, text="Hi! Happy to help."))
    await sam.event(p.ConversationRevoked, wait=10, conversation_id=conversation_id)
    await viewers_become(tina, conversation_id, [staff.sdr2.id])
    stopped = await tina.frame_of(p.TypingFrame, wait=10)
    assert (stopped.author_id, stopped.active) == (staff.sdr1.id, False)

    # B forgot him as well: a manager opening it on B sees Tina and himself, not Sam.
    boss, _ = await cluster.agent(b.url, staff.manager.email)
    await viewers_ack(boss, conversation_id, sorted([staff.sdr2.id, staff.manager.id]))


async def viewers_ack(client: Client, conversation_id: str, want: list[str]) -> None:
    answer = await client.ok(p.SetViewing(id=cid("v"), conversation_id=conversation_id))
    assert answer["agent_ids"] == want, answer
