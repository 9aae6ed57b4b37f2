"""The Session's commands: my sends (via the durable outbox), requests awaiting their ack, typing.

Split from session.py, which owns the connection; this half only needs a live socket or the outbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from agent_app import protocol as p
from agent_app.errors import AgentAppError, NotConnected
from agent_app.outbox import Outbox
from agent_app.store import Delivery, MessageItem, Store

TYPING_REFRESH = 3.0  # resend "typing" at most this often while the agent keeps typing


def _id() -> str:
    return uuid.uuid4().hex


class CommandsMixin:
    # Provided by Session.
    store: Store
    outbox: Outbox
    clock: Callable[[], float]
    request_timeout: float
    _ws: ClientConnection | None
    _waiting: dict[str, asyncio.Future[dict[str, Any]]]
    _outbox_changed: asyncio.Event
    _typing_sent: dict[str, tuple[bool, float]]
    _signing_out: bool

    def _send_later(self, command: p.AgentCommand) -> None: ...
    def _set_token(self, token: str) -> None: ...

    # ------------------------------------------------------------------ messages (outbox)

    def send_message(self, conversation_id: str, text: str, private: bool = False) -> MessageItem:
        """Shown at once as PENDING, kept in the durable outbox, delivered exactly once when online."""
        me = self.store.me
        if me is None:
            raise AgentAppError("sign in before sending messages")
        text = text.strip()
        if not text:
            raise AgentAppError("the message is empty")
        if len(text) > p.MAX_MESSAGE_TEXT:
            raise AgentAppError(f"the message is too long ({len(text)} of {p.MAX_MESSAGE_TEXT} characters)")
        command = p.SendMessage(id=_id(), conversation_id=conversation_id, text=text, private=private)
        now = self.clock()
        self.outbox.add(command, author=me, now=now)  # durable before the UI shows it
        item = self.store.add_pending(command, me, now)
        self._outbox_changed.set()
        return item

    def retry(self, conversation_id: str, client_id: str) -> None:
        """FAILED -> PENDING and re-sent (same id: the server remembers only successful commands)."""
        item = next(
            (i for i in self.store.transcripts.get(conversation_id, []) if i.message.client_id == client_id),
            None,
        )
        if item is None or item.delivery is not Delivery.FAILED:
            return
        message = item.message
        command = p.SendMessage(
            id=client_id, conversation_id=conversation_id, text=message.text, private=message.private
        )
        author = self.store.me or p.Agent(id=message.author_id, name=message.author_name, email="")
        self.outbox.add(command, author=author, now=message.created_at)
        self.store.set_delivery(conversation_id, client_id, Delivery.PENDING)
        self._outbox_changed.set()

    # ------------------------------------------------------------------ requests

    async def request(self, command: p.AgentCommand) -> dict[str, Any]:
        """Send a command and return its ack result. Raises CommandError, NotConnected."""
        ws = self._ws
        if ws is None:
            raise NotConnected("offline: the server is not connected")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command.id] = future
        try:
            await ws.send(p.encode(command))
            return await asyncio.wait_for(asyncio.shield(future), self.request_timeout)
        except TimeoutError:
            raise NotConnected(f"no answer from the server within {self.request_timeout:.0f} s") from None
        except (OSError, ConnectionClosed) as exc:
            raise NotConnected(f"the connection was lost: {exc}") from exc
        finally:
            self._waiting.pop(command.id, None)

    async def set_presence(self, presence: p.Presence, reason: str = "") -> None:
        """``reason``: why the desk itself sets it (auto-away: "screen locked"...); "" = the user chose."""
        await self.request(p.SetPresence(id=_id(), presence=presence, reason=reason))

    async def close_conversation(self, conversation_id: str) -> None:
        await self.request(p.CloseConversation(id=_id(), conversation_id=conversation_id))

    async def reopen_conversation(self, conversation_id: str) -> None:
        await self.request(p.ReopenConversation(id=_id(), conversation_id=conversation_id))

    async def assign(self, conversation_id: str, agent_id: str | None) -> None:
        await self.request(p.AssignConversation(id=_id(), conversation_id=conversation_id, agent_id=agent_id))

    async def set_cql(self, conversation_id: str, level: int | None) -> None:
        await self.request(p.SetCql(id=_id(), conversation_id=conversation_id, level=level))

    async def add_participant(self, conversation_id: str, agent_id: str, note: str = "") -> None:
        command = p.AddParticipant(id=_id(), conversation_id=conversation_id, agent_id=agent_id, note=note)
        await self.request(command)

    async def remove_participant(self, conversation_id: str, agent_id: str) -> None:
        await self.request(p.RemoveParticipant(id=_id(), conversation_id=conversation_id, agent_id=agent_id))

    async def share_calendar(self, conversation_id: str, agent_id: str) -> None:
        await self.request(p.ShareCalendar(id=_id(), conversation_id=conversation_id, agent_id=agent_id))

    async def get_transcript(self, conversation_id: str, before: float | None = None) -> list[p.Message]:
        """Older history, also merged into the store's transcript."""
        result = await self.request(p.GetTranscript(id=_id(), conversation_id=conversation_id, before=before))
        messages = p.convert(result.get("messages", []), list[p.Message])
        self.store.load_transcript(conversation_id, messages)
        return messages

    async def list_agents(self) -> list[p.Agent]:
        result = await self.request(p.ListAgents(id=_id()))
        return p.convert(result.get("agents", []), list[p.Agent])

    async def set_capacity(self, agent_id: str, max_chats: int) -> p.Agent:
        """Managers: at most ``max_chats`` open chats routed to the agent (0 = no limit)."""
        result = await self.request(p.SetCapacity(id=_id(), agent_id=agent_id, max_chats=max_chats))
        return p.convert(result["agent"], p.Agent)

    async def list_meetings(self) -> list[p.Meeting]:
        result = await self.request(p.ListMeetings(id=_id()))
        return p.convert(result.get("meetings", []), list[p.Meeting])

    async def watch_live_visitors(self, active: bool = True) -> int:
        """Live visitors on this connection (a snapshot frame, then changes); again after a reconnect."""
        result = await self.request(p.WatchLiveVisitors(id=_id(), active=active))
        return int(result.get("count", 0))

    async def engage(self, visitor_id: str, text: str) -> p.Conversation:
        """Start a chat with a visitor on the site; the conversation is in the store when this returns."""
        text = text.strip()
        if not text:
            raise AgentAppError("the message is empty")
        result = await self.request(p.EngageVisitor(id=_id(), visitor_id=visitor_id, text=text))
        return p.convert(result["conversation"], p.Conversation)

    async def sign_out(self) -> None:
        """Revoke this token on the server; run() then ends in SIGNED_OUT and token listeners get ""."""
        self._signing_out = True
        try:
            await self.request(p.SignOut(id=_id()))
        finally:
            self._set_token("")

    def typing(self, conversation_id: str, active: bool) -> None:
        """Fire and forget, throttled: "typing" at most every few seconds, "stopped" once."""
        if self._ws is None:
            return
        now = self.clock()
        last = self._typing_sent.get(conversation_id)
        if last is not None:
            was_active, at = last
            if active == was_active and (not active or now - at < TYPING_REFRESH):
                return
        elif not active:
            return
        self._typing_sent[conversation_id] = (active, now)
        self._send_later(p.SetTyping(id=_id(), conversation_id=conversation_id, active=active))
