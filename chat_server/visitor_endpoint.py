"""The /visitor websocket: a visitor token continues one conversation; a visitor sees only its own."""

from __future__ import annotations

from functools import partial
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent_app import protocol as p
from chat_server.calendar_commands import before_booking, book_slot
from chat_server.context import BadFrames, Context, bad_frame, run_command, wait_for_hello
from chat_server.errors import CommandError
from chat_server.security import new_id, new_token, token_hash
from chat_server.service import visitor_message, visitor_view
from chat_server.visibility import can_see

MAX_PAGES = 50  # page history kept per visitor
MAX_FIELD = 200


def _add_page(visitor: p.Visitor, url: str, title: str, at: float) -> None:
    if not url:
        return
    visitor.current_page = url[:2000]
    visitor.pages = [*visitor.pages, p.PageView(url=url[:2000], title=title[:MAX_FIELD], at=at)][-MAX_PAGES:]


async def _hello(
    ctx: Context, ws: ServerConnection, bad: BadFrames
) -> tuple[p.VisitorHello, p.Visitor] | None:
    command = await wait_for_hello(ctx, ws, bad, p.decode_visitor_command, p.VisitorHello)
    if command is None:
        return None
    if command.version != p.PROTOCOL_VERSION:
        await ws.close(p.CloseCode.UNSUPPORTED_VERSION, f"this server speaks version {p.PROTOCOL_VERSION}")
        return None
    storage = ctx.storage
    await storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
    now = ctx.clock.now()
    visitor = storage.visitor_by_token(token_hash(command.visitor_token)) if command.visitor_token else None
    with storage.savepoint():
        if visitor is None:
            # An unknown token (forged, or from a reset database) just starts a new visitor: it can
            # never reach anyone else's conversation, and the widget keeps working.
            token = new_token()
            utm = dict(list(command.utm.items())[:20])
            visitor = p.Visitor(
                id=new_id(), referrer=command.referrer[:2000], utm=utm, first_seen=now, last_seen=now
            )
            _add_page(visitor, command.page_url, command.page_title, now)
            storage.add_visitor(visitor, token_hash(token))
        else:
            token = command.visitor_token
            visitor.returning = True
            if command.page_url and command.page_url != visitor.current_page:
                _add_page(visitor, command.page_url, command.page_title, now)
            ctx.service.update_visitor(visitor)
    await storage.commit()
    return msgspec.structs.replace(command, visitor_token=token), visitor


def _welcome(ctx: Context, ws: ServerConnection, hello: p.VisitorHello, visitor: p.Visitor) -> None:
    """Transcript from committed data, then registration as live, without yielding in between."""
    view = ctx.storage.committed()
    conversation = view.latest_conversation(visitor.id)
    messages = view.recent_messages(conversation.id, 200, include_private=False) if conversation else []
    welcome = p.VisitorWelcome(
        ref=hello.id, visitor_token=hello.visitor_token, visitor=visitor,
        conversation=visitor_view(conversation) if conversation else None,
        messages=[visitor_message(m) for m in messages],
    )  # fmt: skip
    # Unbounded: the transcript is at most 200 messages, and nothing else was queued before it.
    ctx.hub.send(ws, p.encode_bytes(welcome), bounded=False)
    ctx.hub.add_visitor_conn(visitor.id, ws)
    if ctx.live is not None:  # "On site now": from the first page load, before any chat
        ctx.live.connected(visitor.id)


async def serve_visitor(ctx: Context, ws: ServerConnection) -> None:
    bad = BadFrames(ctx.config.bad_frames_per_minute)
    started = await _hello(ctx, ws, bad)
    if started is None:
        return
    hello, visitor = started
    _welcome(ctx, ws, hello, visitor)
    session = VisitorSession(ctx, ws, visitor.id)
    try:
        # Reads the next command only once the visitor has read (most of) the answers so far.
        while await ctx.hub.writable(ws):
            raw = await ws.recv()
            try:
                command = p.decode_visitor_command(raw)
            except p.ProtocolError as exc:
                if await bad_frame(ctx, ws, bad, exc):
                    return
                continue
            if isinstance(command, p.BookSlot):  # re-reads the rep's connected calendar first
                await before_booking(ctx, command)
            idempotent = not isinstance(command, p.VisitorTyping)
            action = partial(session.handle, command)
            prefetch = visitor.id if isinstance(command, p.VisitorSendMessage) else ""
            await run_command(ctx, ws, f"visitor:{visitor.id}", command.id, action, idempotent, prefetch)
    except ConnectionClosed:
        pass
    finally:
        ctx.hub.remove_visitor_conn(visitor.id, ws)
        if ctx.live is not None:
            ctx.live.disconnected(visitor.id)


class VisitorSession:
    def __init__(self, ctx: Context, ws: ServerConnection, visitor_id: str) -> None:
        self.ctx = ctx
        self.ws = ws
        self.visitor_id = visitor_id

    def _visitor(self) -> p.Visitor:
        visitor = self.ctx.storage.get_visitor(self.visitor_id)
        assert visitor is not None  # visitors are never deleted
        return visitor

    def handle(self, command: Any) -> dict[str, Any]:
        service, now = self.ctx.service, self.ctx.clock.now()
        if isinstance(command, p.VisitorSendMessage):
            if not self.ctx.visitor_buckets.take(self.visitor_id):  # per visitor: all tabs, reloads
                raise CommandError(p.ErrorCode.RATE_LIMITED, "too many messages; wait a few seconds")
            conversation, message = service.post_visitor_message_by_id(
                self.visitor_id, command.text, command.id, self.ws
            )
            return {"message": msgspec.to_builtins(message), "conversation_id": conversation.id}
        if isinstance(command, p.VisitorPageView):
            visitor = self._visitor()
            _add_page(visitor, command.url, command.title, now)
            return {"visitor": msgspec.to_builtins(service.update_visitor(visitor))}
        if isinstance(command, p.VisitorUpdateProfile):
            visitor = self._visitor()
            for name in ("name", "email", "company", "phone"):
                value = getattr(command, name)
                if value is not None:
                    if len(value) > MAX_FIELD:
                        raise CommandError(
                            p.ErrorCode.TOO_LONG, f"{name} is longer than {MAX_FIELD} characters"
                        )
                    setattr(visitor, name, value.strip())
            return {"visitor": msgspec.to_builtins(service.update_visitor(visitor))}
        if isinstance(command, p.VisitorTyping):
            self._typing(command)
            return {}
        if isinstance(command, p.BookSlot):
            return book_slot(self.ctx, self.visitor_id, command)
        if isinstance(command, p.DismissEngage) and self.ctx.live is not None:
            return self.ctx.live.dismiss(self.visitor_id)  # type: ignore[no-any-return]
        raise CommandError(p.ErrorCode.INVALID, f"{type(command).__name__} is not accepted now")

    def _typing(self, command: p.VisitorTyping) -> None:
        """Agents who see the conversation get what the visitor is typing (the sneak peek)."""
        conversation = self.ctx.storage.latest_conversation(self.visitor_id)
        if conversation is None or conversation.status == p.ConversationStatus.CLOSED:
            return
        frame = p.encode_bytes(
            p.TypingFrame(conversation_id=conversation.id, author_kind=p.AuthorKind.VISITOR,
                          author_id=self.visitor_id, active=command.active, preview=command.preview[:500])
        )  # fmt: skip
        hub = self.ctx.hub
        hub.to_agents_now([a.id for a in hub.agents.values() if can_see(a, conversation)], frame)
