"""Visitors get only what docs/protocol.md promises: every frame of a full scenario is scanned for the
team's internal ids, command ids, CRM ids, notes, routing rules and territories."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from agent_app import protocol as p
from chat_server import run_server
from tests.server.conftest import PASSWORD, Client, agent_login, make_config, open_ws

NOTE_PARTICIPANT = "PRIVNOTE-participant-budget-is-2M"
NOTE_HANDOFF = "PRIVNOTE-handoff-owns-renewal"
CRM_ID = "00Q5e00000SECRETLEAD"
LEAD_SOURCE = "PRIVSOURCE-salesforce-lead"
CMD = "agentcmd-"  # every agent command id starts with it


class VisitorRecorder:
    """A visitor over a real websocket that keeps every raw frame it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.raw: list[str] = []
        self.task = asyncio.create_task(self._read())
        self.n = 0

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.client.ws:
                self.raw.append(raw if isinstance(raw, str) else raw.decode())

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.raw]

    async def until(self, what: str, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        deadline = time.monotonic() + 10
        while not predicate(self.frames()):
            assert time.monotonic() < deadline, f"visitor never saw {what}: {self.raw[-5:]}"
            await asyncio.sleep(0.01)

    async def send(self, frame: Any) -> dict[str, Any]:
        self.n += 1
        frame.id = f"v{self.n}"
        await self.client.send(frame)
        await self.until(f"the answer to {frame.id}", lambda fs: any(f.get("ref") == frame.id for f in fs))
        return next(f for f in self.frames() if f.get("ref") == frame.id)

    def bot_messages(self) -> list[str]:
        return [
            f["event"]["message"]["text"]
            for f in self.frames()
            if f["type"] == "event"
            and f["event"]["kind"] == "message_created"
            and f["event"]["message"]["author_kind"] == "bot"
        ]

    async def close(self) -> None:
        await self.client.close()
        await self.task


_n = 0


def cmd() -> str:
    global _n
    _n += 1
    return f"{CMD}{_n}"


async def test_no_internal_data_reaches_the_visitor_in_a_full_scenario(tmp_path: Path) -> None:
    async with run_server(make_config(tmp_path, playbook="")) as server:  # the built-in bot and routing
        add = server.admin.add_agent
        casey = add("casey@demo.sdr", "Casey Morgan", PASSWORD, "global-queue", "manager")
        alex = add("alex@demo.sdr", "Alex Rivera", PASSWORD, "US-West", "sdr")
        sam = add("sam@demo.sdr", "Sam Chen", PASSWORD, "US-Central", "sdr")
        clients: dict[str, Client] = {}
        for agent in (casey, alex, sam):
            client, _ = await agent_login(server, agent.email)
            await client.ok(p.SetPresence(id=cmd(), presence=p.Presence.AVAILABLE))
            clients[agent.id] = client
        boss = clients[casey.id]

        vis_client = await open_ws(server.url, "/visitor")
        visitor = VisitorRecorder(vis_client)
        hello = await visitor.send(p.VisitorHello(id="", page_url="https://acme.test/pricing"))
        token = hello["visitor_token"]
        # the bot's questions: reason (the first message), email, company, team size
        await visitor.send(p.VisitorSendMessage(id="", text="We want a demo and a quote for enterprise"))
        # greeting + question 1, then one question per answer
        for asked, answer in ((2, "jane@bigco.com"), (3, "BigCo"), (4, "5000")):
            await visitor.until(f"bot message {asked}", lambda fs, n=asked: len(visitor.bot_messages()) >= n)
            await visitor.send(p.VisitorSendMessage(id="", text=answer))
        created = await boss.event(p.ConversationCreated)
        conversation_id = created.event.conversation.id
        routed = await boss.event(p.ConversationUpdated, wait=10)
        while routed.event.conversation.assignee_id is None:
            routed = await boss.event(p.ConversationUpdated, wait=10)

        # assign, add a participant with a note, hand off with a note and a CRM id, CQL, CRM facts
        await boss.ok(p.AssignConversation(id=cmd(), conversation_id=conversation_id, agent_id=sam.id))
        owner = clients[sam.id]
        await owner.ok(p.AssignConversation(id=cmd(), conversation_id=conversation_id, agent_id=sam.id))
        await owner.ok(p.SendMessage(id=cmd(), conversation_id=conversation_id, text="Hi Jane, Sam here"))
        await owner.ok(p.SetTyping(id=cmd(), conversation_id=conversation_id, active=True))
        await owner.ok(
            p.AddParticipant(
                id=cmd(), conversation_id=conversation_id, agent_id=alex.id, note=NOTE_PARTICIPANT
            )
        )
        await owner.ok(p.SetCql(id=cmd(), conversation_id=conversation_id, level=3))
        await owner.ok(
            p.UpdateVisitor(
                id=cmd(), conversation_id=conversation_id, country="US", region="WA", source=LEAD_SOURCE
            )
        )
        await owner.ok(
            p.RecordHandoff(
                id=cmd(), conversation_id=conversation_id, to_agent_id=alex.id, note=NOTE_HANDOFF,
                crm_record=CRM_ID, reassign=True,
            )
        )  # fmt: skip
        helper = clients[alex.id]
        await helper.ok(p.SendMessage(id=cmd(), conversation_id=conversation_id, text="Alex here"))
        await helper.ok(p.SendMessage(id=cmd(), conversation_id=conversation_id, text="x", private=True))
        shared = await helper.ok(p.ShareCalendar(id=cmd(), conversation_id=conversation_id, agent_id=alex.id))
        await visitor.until(
            "the booking card",
            lambda fs: any(f.get("event", {}).get("message", {}).get("card") for f in fs),
        )
        card = next(
            f["event"]["message"]["card"]
            for f in visitor.frames()
            if f.get("event", {}).get("message", {}).get("card")
        )
        assert shared["message"]["card"]["agent_id"] == alex.id  # the team sees the real id ...
        slot = card["slots"][0]["start"]  # the visitor books with the reference it was given
        booked = await visitor.send(
            p.BookSlot(id="", agent_id=card["agent_id"], start=slot, email="j@bigco.com")
        )
        assert booked["type"] == "ack", booked
        await helper.ok(p.CloseConversation(id=cmd(), conversation_id=conversation_id))
        await visitor.until("the close", lambda fs: any("closed" in r for r in visitor.raw))
        await visitor.close()

        # the welcome transcript of a returning visitor
        again = VisitorRecorder(await open_ws(server.url, "/visitor"))
        welcome = await again.send(p.VisitorHello(id="", visitor_token=token))
        assert welcome["type"] == "visitor_welcome" and welcome["messages"]
        await again.close()

        team_view = await boss.ok(p.GetTranscript(id=cmd(), conversation_id=conversation_id))
        conversation = server.storage.get_conversation(conversation_id)
        assert conversation is not None and conversation.routing is not None
        assert conversation.routing_audit  # who routing tried, and why: the team's, never the visitor's
        for client in clients.values():
            await client.close()

    team_texts = " ".join(m["text"] for m in team_view["messages"])
    assert NOTE_PARTICIPANT in team_texts and NOTE_HANDOFF in team_texts and CRM_ID in team_texts
    secrets = {
        "agent id": [casey.id, alex.id, sam.id],
        "agent email": [casey.email, alex.email, sam.email],
        "command id": [CMD],
        "CRM id": [CRM_ID],
        "note": [NOTE_PARTICIPANT, NOTE_HANDOFF, "PRIVNOTE", LEAD_SOURCE],
        "routing rule": [r for r in (conversation.routing.rule, conversation.routing.pool) if r],
        "territory": ["US-West", "US-Central", "global-queue"],
        "playbook rule": ["Enterprise asking to buy", "Business email"],
        "assignment": ["assigned_via", "assignee_id", "participant_ids", "cql", "routing", "handoff"],
        "routing audit": ["routing_audit", *{s.reason for s in conversation.routing_audit if s.reason}],
    }
    seen = visitor.raw + again.raw
    assert len(seen) > 15
    leaks = [
        f"{what} {needle!r} in {raw[:300]}"
        for what, needles in secrets.items()
        for needle in needles
        for raw in seen
        if needle.lower() in raw.lower()
    ]
    assert not leaks, "\n".join(leaks)
    # what the visitor may see: people joining by name, and who answers
    texts = " ".join(m["text"] for m in welcome["messages"])
    assert "Sam Chen joined the chat" in texts and "Alex Rivera joined the chat" in texts
    assert "Alex here" in texts and "Hi Jane, Sam here" in texts


def test_protocol_doc_lists_every_field_with_its_default() -> None:
    """docs/protocol.md "Schemas" is what another client is written from: every field of every command
    and data object must be there (a field added to agent_app/protocol.py without docs fails here)."""
    import typing

    import msgspec

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    schemas = doc[doc.index("## Schemas") :]
    missing = []
    for cls in (p.Agent, p.Visitor, p.PageView, p.Conversation, p.Routing, p.RoutingStep, p.CqlChange,
                p.Message, p.BookingCard, p.Slot, p.Meeting, p.CalendarSettings, p.Weekly, p.SavedReply,
                p.LiveVisitor, p.Report, p.ReportRow, p.ReportChat):  # fmt: skip
        start = schemas.index(f"#### {cls.__name__}\n")
        section = schemas[start : schemas.find("\n#### ", start + 1)]
        missing += [f"{cls.__name__}.{f.encode_name}" for f in msgspec.structs.fields(cls)
                    if f"| `{f.encode_name}` |" not in section]  # fmt: skip
    for cls in {*typing.get_args(p.AgentCommand), *typing.get_args(p.VisitorCommand)}:
        tag = cls.__struct_config__.tag
        row = next((line for line in schemas.splitlines() if line.startswith(f"| `{tag}` |")), "")
        missing += [f"{tag}.{f.encode_name}" for f in msgspec.structs.fields(cls)
                    if f.name != "id" and f"`{f.encode_name}`" not in row]  # fmt: skip
    assert not missing, f"docs/protocol.md Schemas lacks {missing}"
