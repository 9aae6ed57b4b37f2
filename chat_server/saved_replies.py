"""Saved replies: list, create, update, delete; who may edit what; limits; live events to who sees them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol, cast

import msgspec

from agent_app import protocol as p
from chat_server.errors import CommandError, forbidden, not_found
from chat_server.security import new_id
from chat_server.visibility import is_supervisor

if TYPE_CHECKING:
    from chat_server.agent_commands import AgentSession
    from chat_server.context import Context

_SHORTCUT = re.compile(p.SAVED_REPLY_SHORTCUT_PATTERN)


class ReplyStore(Protocol):
    """The part of the storage these rules use (SqliteStorage gets it from RepliesSql)."""

    def saved_replies_for(self, agent_id: str) -> list[p.SavedReply]: ...

    def get_saved_reply(self, reply_id: str) -> p.SavedReply | None: ...

    def count_saved_replies(self, owner_id: str | None) -> int: ...

    def saved_reply_by_shortcut(self, owner_id: str | None, shortcut: str) -> p.SavedReply | None: ...

    def save_saved_reply(self, reply: p.SavedReply) -> None: ...

    def delete_saved_reply(self, reply_id: str) -> None: ...

    def newest_seq(self, agent_id: str) -> int: ...


def _store(ctx: Context) -> ReplyStore:
    return cast(ReplyStore, ctx.storage)


def _checked(store: ReplyStore, owner_id: str | None, shortcut: str, title: str, text: str,
             reply_id: str = "") -> tuple[str, str, str]:  # fmt: skip
    """Normalised (shortcut, title, text), or CommandError naming the first problem."""
    shortcut, title = shortcut.strip().lower().lstrip("/"), " ".join(title.split())
    if not shortcut or not _SHORTCUT.fullmatch(shortcut):
        raise CommandError(
            p.ErrorCode.INVALID, "the shortcut may hold only lowercase letters, digits, - and _ (e.g. greet)"
        )
    if len(shortcut) > p.MAX_SAVED_REPLY_SHORTCUT:
        raise CommandError(
            p.ErrorCode.TOO_LONG, f"the shortcut is over {p.MAX_SAVED_REPLY_SHORTCUT} characters"
        )
    if not title:
        raise CommandError(p.ErrorCode.INVALID, "the title is empty")
    if len(title) > p.MAX_SAVED_REPLY_TITLE:
        raise CommandError(p.ErrorCode.TOO_LONG, f"the title is over {p.MAX_SAVED_REPLY_TITLE} characters")
    if not text.strip():
        raise CommandError(p.ErrorCode.INVALID, "the reply text is empty")
    if len(text) > p.MAX_MESSAGE_TEXT:
        raise CommandError(
            p.ErrorCode.TOO_LONG, f"the text is over {p.MAX_MESSAGE_TEXT} characters (a message's limit)"
        )
    clash = store.saved_reply_by_shortcut(owner_id, shortcut)
    if clash is not None and clash.id != reply_id:
        whose = "the team" if owner_id is None else "you"
        raise CommandError(p.ErrorCode.CONFLICT, f"/{shortcut} is already used by {whose} (“{clash.title}”)")
    return shortcut, title, text.strip()


def _editable(store: ReplyStore, agent: p.Agent, reply_id: str) -> p.SavedReply:
    """The reply if ``agent`` may change it. Someone else's personal reply is not_found (not even its
    existence is shown); a team reply is forbidden to non-managers."""
    reply = store.get_saved_reply(reply_id)
    if reply is None or (reply.owner_id is not None and reply.owner_id != agent.id):
        raise not_found("saved reply")
    if reply.owner_id is None and not is_supervisor(agent):
        raise forbidden("only managers change team replies")
    return reply


def _audience(ctx: Context, owner_id: str | None) -> list[str]:
    if owner_id is not None:
        return [owner_id]
    return [a.id for a in ctx.hub.agents.values() if not a.disabled]


def _broadcast(ctx: Context, owner_id: str | None, event: p.Event) -> None:
    ctx.hub.to_agents((agent_id, event) for agent_id in _audience(ctx, owner_id))


def list_saved_replies(s: AgentSession, c: p.ListSavedReplies) -> dict[str, Any]:
    store = _store(s.ctx)
    replies = store.saved_replies_for(s.agent_id)
    return {"replies": msgspec.to_builtins(replies), "seq": store.newest_seq(s.agent_id)}


def create_saved_reply(s: AgentSession, c: p.CreateSavedReply) -> dict[str, Any]:
    ctx, agent, store = s.ctx, s.agent, _store(s.ctx)
    if c.team and not is_supervisor(agent):
        raise forbidden("only managers create team replies; save it as a personal reply")
    owner_id = None if c.team else agent.id
    shortcut, title, text = _checked(store, owner_id, c.shortcut, c.title, c.text)
    if store.count_saved_replies(owner_id) >= p.MAX_SAVED_REPLIES:
        whose = "The team has" if owner_id is None else "You have"
        raise CommandError(
            p.ErrorCode.CONFLICT,
            f"{whose} {p.MAX_SAVED_REPLIES} saved replies, the most allowed; delete one first",
        )
    reply = p.SavedReply(
        id=new_id(), owner_id=owner_id, shortcut=shortcut, title=title, text=text,
        updated_at=ctx.clock.now(), updated_by=agent.id,
    )  # fmt: skip
    store.save_saved_reply(reply)
    _broadcast(ctx, owner_id, p.SavedReplyChanged(reply=reply))
    return {"reply": msgspec.to_builtins(reply)}


def update_saved_reply(s: AgentSession, c: p.UpdateSavedReply) -> dict[str, Any]:
    ctx, agent, store = s.ctx, s.agent, _store(s.ctx)
    reply = _editable(store, agent, c.reply_id)
    shortcut, title, text = _checked(store, reply.owner_id, c.shortcut, c.title, c.text, reply.id)
    reply = msgspec.structs.replace(
        reply, shortcut=shortcut, title=title, text=text, updated_at=ctx.clock.now(), updated_by=agent.id
    )
    store.save_saved_reply(reply)
    _broadcast(ctx, reply.owner_id, p.SavedReplyChanged(reply=reply))
    return {"reply": msgspec.to_builtins(reply)}


def delete_saved_reply(s: AgentSession, c: p.DeleteSavedReply) -> dict[str, Any]:
    ctx, store = s.ctx, _store(s.ctx)
    reply = _editable(store, s.agent, c.reply_id)
    store.delete_saved_reply(reply.id)
    _broadcast(ctx, reply.owner_id, p.SavedReplyDeleted(reply_id=reply.id, owner_id=reply.owner_id))
    return {}


HANDLERS: dict[type[Any], Any] = {
    p.ListSavedReplies: list_saved_replies,
    p.CreateSavedReply: create_saved_reply,
    p.UpdateSavedReply: update_saved_reply,
    p.DeleteSavedReply: delete_saved_reply,
}
READS: set[type[Any]] = {p.ListSavedReplies}
