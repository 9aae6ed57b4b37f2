"""Test data for UI tests: a Store filled with protocol entities and a session that records calls."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent_app import protocol as p
from agent_app.store import Delivery, MessageItem, Store

ME = p.Agent(
    id="a-me", name="Dana Whitfield", email="dana@example.com", presence=p.Presence.AVAILABLE, online=True
)
TEAMMATE = p.Agent(id="a-2", name="Marcus Lee", email="marcus@example.com")

_PEOPLE = [
    ("Priya Raman", "Northwind Analytics", "priya@northwind.io", "Austin, TX, US"),
    ("", "Globex Corporation", "", "Berlin, DE"),
    ("Tom Becker", "Initech", "tom.becker@initech.com", "Chicago, IL, US"),
    ("Aiko Tanaka", "Umbrella Health", "aiko@umbrella.health", "Tokyo, JP"),
    ("", "", "", ""),
    ("Sofia Alvarez", "Stark Logistics", "sofia@starklog.com", "Madrid, ES"),
    ("James O'Neil", "Hooli", "james@hooli.xyz", "Palo Alto, CA, US"),
    ("Lena Fischer", "Vandelay Industries", "lena@vandelay.com", "Hamburg, DE"),
]
_PREVIEWS = [
    "Hi! Do you integrate with Salesforce?",
    "What does pricing look like for 50 seats?",
    "Can I get a demo this week?",
    "We're evaluating you vs. Drift — what's different?",
    "Is there an on-prem option?",
    "Thanks, that helps a lot.",
]


def conversation(i: int, now: float, **changes: Any) -> p.Conversation:
    name, company, email, location = _PEOPLE[i % len(_PEOPLE)]
    visitor = p.Visitor(
        id=f"v-{i:05d}",
        name=name,
        company=company,
        email=email,
        location=location,
        current_page="https://example.com/pricing",
        pages=[
            p.PageView(url="https://example.com/", title="Home", at=now - 600),
            p.PageView(url="https://example.com/pricing", title="Pricing", at=now - 120),
        ],
        referrer="https://www.google.com/",
        utm={"utm_source": "google", "utm_campaign": "brand"},
    )
    fields: dict[str, Any] = dict(
        id=f"c-{i:05d}",
        visitor=visitor,
        created_at=now - 900 - i * 60,
        updated_at=now - i * 60,
        last_message_at=now - i * 60,
        last_message_preview=_PREVIEWS[i % len(_PREVIEWS)],
        last_message_author=p.AuthorKind.VISITOR,
        message_count=4,
    )
    fields.update(changes)
    return p.Conversation(**fields)


def message(cid: str, kind: p.AuthorKind, text: str, at: float, **changes: Any) -> p.Message:
    fields: dict[str, Any] = dict(
        id=f"m-{uuid.uuid4().hex[:10]}", conversation_id=cid, author_kind=kind, text=text, created_at=at
    )
    fields.update(changes)
    return p.Message(**fields)


def make_store(n: int = 30, now: float | None = None) -> Store:
    """A signed-in store: a mix of waiting (SLA running, warning, breached), mine, teammate's and closed."""
    now = time.time() if now is None else now
    store = Store(me=ME)
    store.agents = {ME.id: ME, TEAMMATE.id: TEAMMATE}
    for i in range(n):
        kind = i % 6
        changes: dict[str, Any] = {}
        if kind == 0:  # waiting, SLA running
            changes = dict(waiting_since=now - 8 - i, sla_due_at=now + 22 - i % 5)
        elif kind == 1:  # waiting, last 10 s
            changes = dict(waiting_since=now - 24, sla_due_at=now + 6)
        elif kind == 2:  # breached
            changes = dict(waiting_since=now - 75 - i, sla_due_at=now - 45 - i, sla_breached=True)
        elif kind == 3:
            changes = dict(assignee_id=ME.id, cql=i % 4, participant_ids=[ME.id])
        elif kind == 4:
            changes = dict(assignee_id=TEAMMATE.id, participant_ids=[TEAMMATE.id, ME.id], cql=0)
        else:
            changes = dict(status=p.ConversationStatus.CLOSED, closed_at=now - 3000, assignee_id=ME.id, cql=3)
        store.conversations[f"c-{i:05d}"] = conversation(i, now, **changes)
        if i % 4 == 0:
            store.unread[f"c-{i:05d}"] = 1 + i % 3
    return store


def fill_transcript(store: Store, cid: str, now: float) -> None:
    """One transcript with every kind of row (and yesterday's messages, for a day separator)."""
    conv = store.conversations[cid]
    name = conv.visitor.name or "Visitor"
    rows = [
        message(
            cid,
            p.AuthorKind.VISITOR,
            "Hello again — following up on yesterday's call.",
            now - 90_000,
            author_name=name,
        ),
        message(
            cid,
            p.AuthorKind.BOT,
            "Hi there! 👋 What brings you to Example today?",
            now - 400,
            author_name="Bot",
        ),
        message(
            cid,
            p.AuthorKind.VISITOR,
            "We need a chat tool that syncs with Salesforce. Do you integrate?",
            now - 380,
            author_name=name,
        ),
        message(cid, p.AuthorKind.SYSTEM, f"{ME.name} joined the conversation", now - 300),
        message(
            cid,
            p.AuthorKind.AGENT,
            "Hi! Yes — leads and transcripts land in Salesforce automatically.",
            now - 290,
            author_id=ME.id,
            author_name=ME.name,
        ),
        message(
            cid,
            p.AuthorKind.AGENT,
            "Priya is in my territory, I'll take it from here.",
            now - 250,
            author_id=TEAMMATE.id,
            author_name=TEAMMATE.name,
            private=True,
        ),
        message(
            cid,
            p.AuthorKind.AGENT,
            "Happy to help with the pilot sizing as well.",
            now - 200,
            author_id=TEAMMATE.id,
            author_name=TEAMMATE.name,
        ),
        message(
            cid,
            p.AuthorKind.VISITOR,
            "<b>Great</b> — can you show me <img src=http://127.0.0.1:1/x.png> "
            "the dashboard? A very long line to check the wrapping of bubbles in the transcript view.",
            now - 120,
            author_name=name,
        ),
    ]
    store.transcripts[cid] = []
    for m in rows:
        store.add_message(m)
    store.unread.pop(cid, None)
    for text, delivery in (
        ("Sure! Sending you a calendar link now.", Delivery.SENT),
        ("Does Thursday 2pm work for you?", Delivery.FAILED),
        ("I'll also loop in our solutions engineer.", Delivery.PENDING),
    ):
        cmd = p.SendMessage(id=uuid.uuid4().hex, conversation_id=cid, text=text)
        item = store.add_pending(cmd, ME, now - 60 if delivery is not Delivery.PENDING else now - 5)
        if delivery is Delivery.FAILED:
            store.set_delivery(cid, cmd.id, Delivery.FAILED, "server unavailable")
        elif delivery is Delivery.SENT:
            item.delivery = Delivery.SENT


@dataclass
class RecordingSession:
    """The Session's UI-facing methods, recording calls (widget tests; the real one is tested elsewhere)."""

    store: Store
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    state: str = "online"
    detail: str = ""
    transcript_pages: list[list[p.Message]] = field(default_factory=list)

    def send_message(self, conversation_id: str, text: str, private: bool = False) -> MessageItem:
        self.calls.append(("send_message", conversation_id, text, private))
        cmd = p.SendMessage(id=uuid.uuid4().hex, conversation_id=conversation_id, text=text, private=private)
        assert self.store.me is not None
        return self.store.add_pending(cmd, self.store.me, time.time())

    def retry(self, conversation_id: str, client_id: str) -> None:
        self.calls.append(("retry", conversation_id, client_id))
        self.store.set_delivery(conversation_id, client_id, Delivery.PENDING)

    def typing(self, conversation_id: str, active: bool) -> None:
        self.calls.append(("typing", conversation_id, active))

    async def close_conversation(self, conversation_id: str) -> None:
        self.calls.append(("close_conversation", conversation_id))

    async def reopen_conversation(self, conversation_id: str) -> None:
        self.calls.append(("reopen_conversation", conversation_id))

    async def get_transcript(self, conversation_id: str, before: float | None = None) -> list[p.Message]:
        self.calls.append(("get_transcript", conversation_id, before))
        page = self.transcript_pages.pop(0) if self.transcript_pages else []
        self.store.load_transcript(conversation_id, page)
        return page

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]
