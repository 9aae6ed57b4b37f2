"""The visitor simulator against the real chat server: conversations, order, typing and answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from agent_app import protocol as p
from sandbox.demo_data import PERSONAS_BY_KEY, Persona
from sandbox.visitor_sim import SimulatedVisitor
from sandbox.workspace import AgentLink

PERSONA = Persona(
    "test", "Jane Test", "jane.test@acme-robotics.com", "Acme Robotics", "VP Sales", "San Jose, CA",
    "America/Los_Angeles", 420, ("/integrations/salesforce", "/customers"),
    ("Hi, do you integrate with Salesforce?", "We have 420 people.", "Who should I talk to?"),
)  # fmt: skip


@contextlib.asynccontextmanager
async def visiting(visitor: SimulatedVisitor) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(visitor.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _conversation_with(agent: AgentLink, texts: tuple[str, ...]) -> str | None:
    for cid in agent.conversations:
        said = agent.texts(cid, p.AuthorKind.VISITOR)
        if all(t in said for t in texts):
            return cid
    return None


async def test_visitor_conversation_reaches_an_sdr(chat_server: Any) -> None:
    visitor = SimulatedVisitor(chat_server.url, PERSONA, speed=0.001, linger=0)
    async with AgentLink.connect(chat_server.url, "alex@demo.sdr") as alex, visiting(visitor) as task:
        cid = await alex.wait_for(lambda: _conversation_with(alex, PERSONA.script), within=20)
        await asyncio.wait_for(task, 20)
    assert visitor.sent[: len(PERSONA.script)] == list(PERSONA.script)
    said = alex.texts(cid, p.AuthorKind.VISITOR)
    assert [t for t in said if t in PERSONA.script] == list(PERSONA.script)  # in order
    conversation = alex.conversations[cid]
    assert conversation.visitor.email == PERSONA.email  # update_profile after the second message
    assert conversation.visitor.company == PERSONA.company
    assert [v.url for v in conversation.visitor.pages][-2:] == [
        "https://www.example-saas.com/integrations/salesforce",
        "https://www.example-saas.com/customers",
    ]
    assert any(t.preview and t.conversation_id == cid for t in alex.typing)  # typed before sending
    assert visitor.conversation_id == cid and visitor.visitor_token


async def test_visitor_answers_the_sdr_with_an_email(chat_server: Any) -> None:
    visitor = SimulatedVisitor(chat_server.url, PERSONA, speed=0.001, linger=30)
    async with AgentLink.connect(chat_server.url, "alex@demo.sdr") as alex, visiting(visitor):
        cid = await alex.wait_for(lambda: _conversation_with(alex, PERSONA.script), within=20)
        await alex.request(p.SendMessage, conversation_id=cid, text="Happy to help! What's your email?")
        answer = f"Sure, it's {PERSONA.email}"
        await alex.wait_for(lambda: answer in alex.texts(cid, p.AuthorKind.VISITOR), within=20)
        await alex.request(
            p.SendMessage, conversation_id=cid, text="Great. How many people are on your team?"
        )
        await alex.wait_for(lambda: "We're about 420 people." in alex.texts(cid), within=20)
    assert [m.text for m in visitor.received if m.author_kind == p.AuthorKind.AGENT] == [
        "Happy to help! What's your email?",
        "Great. How many people are on your team?",
    ]


async def test_same_seed_same_choices() -> None:
    a = SimulatedVisitor("ws://127.0.0.1:1", PERSONAS_BY_KEY["peter"])
    b = SimulatedVisitor("ws://127.0.0.1:1", PERSONAS_BY_KEY["peter"])
    assert [a.rng.random() for _ in range(5)] == [b.rng.random() for _ in range(5)]
    assert a.origin == "http://127.0.0.1:1"
