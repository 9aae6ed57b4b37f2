"""Agent command handlers: one small function per command type, in a table later modules extend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from agent_app import protocol as p
from chat_server import calendar_commands as cal
from chat_server import capacity_commands, reports, saved_replies, viewing
from chat_server.errors import CommandError, not_yet
from chat_server.visibility import can_see

if TYPE_CHECKING:
    from chat_server.context import Context


@dataclass
class AgentSession:
    ctx: Context
    agent_id: str
    token_hash: str
    ws: Any = None  # the connection the commands come from (live-visitor watching is per connection)

    @property
    def agent(self) -> p.Agent:
        return self.ctx.hub.agents[self.agent_id]


def _b(value: Any) -> Any:
    return msgspec.to_builtins(value)


def send_message(s: AgentSession, c: p.SendMessage) -> dict[str, Any]:
    message = s.ctx.service.post_agent_message(s.agent, c.conversation_id, c.text, c.private, c.id)
    return {"message": _b(message)}


def set_presence(s: AgentSession, c: p.SetPresence) -> dict[str, Any]:
    # The reason is shown to teammates next to the presence: short, one line, no control characters.
    if len(c.reason) > p.MAX_PRESENCE_REASON:
        raise CommandError(p.ErrorCode.TOO_LONG, f"the reason is over {p.MAX_PRESENCE_REASON} characters")
    if any(not ch.isprintable() for ch in c.reason):
        raise CommandError(p.ErrorCode.INVALID, "the reason must be one line of plain text")
    return {"agent": _b(s.ctx.service.set_presence(s.agent, c.presence, c.reason))}


def assign(s: AgentSession, c: p.AssignConversation) -> dict[str, Any]:
    return {"conversation": _b(s.ctx.actions.assign(s.agent, c.conversation_id, c.agent_id))}


def close(s: AgentSession, c: p.CloseConversation) -> dict[str, Any]:
    return {"conversation": _b(s.ctx.actions.close(s.agent, c.conversation_id))}


def reopen(s: AgentSession, c: p.ReopenConversation) -> dict[str, Any]:
    return {"conversation": _b(s.ctx.actions.reopen(s.agent, c.conversation_id))}


def set_cql(s: AgentSession, c: p.SetCql) -> dict[str, Any]:
    return {"conversation": _b(s.ctx.actions.set_cql(s.agent, c.conversation_id, c.level))}


def add_participant(s: AgentSession, c: p.AddParticipant) -> dict[str, Any]:
    conversation = s.ctx.actions.add_participant(s.agent, c.conversation_id, c.agent_id, c.note)
    return {"conversation": _b(conversation)}


def remove_participant(s: AgentSession, c: p.RemoveParticipant) -> dict[str, Any]:
    return {"conversation": _b(s.ctx.actions.remove_participant(s.agent, c.conversation_id, c.agent_id))}


def record_handoff(s: AgentSession, c: p.RecordHandoff) -> dict[str, Any]:
    message = s.ctx.actions.record_handoff(
        s.agent, c.conversation_id, c.to_agent_id, c.note, c.crm_record, c.reassign
    )
    return {"message": _b(message)}


def update_visitor(s: AgentSession, c: p.UpdateVisitor) -> dict[str, Any]:
    conversation, visitor = s.ctx.service.agent_update_visitor(s.agent, c)
    return {"visitor": _b(visitor), "conversation": _b(conversation)}


def typing(s: AgentSession, c: p.SetTyping) -> dict[str, Any]:
    """Ephemeral: to the visitor (no preview, ever) and to the other agents who see the conversation."""
    agent = s.agent
    conversation = s.ctx.service.visible_conversation(agent, c.conversation_id)
    typing = p.TypingFrame(conversation_id=c.conversation_id, author_kind=p.AuthorKind.AGENT,
                           author_name=agent.name, active=c.active)  # fmt: skip
    # The visitor learns who types by name only; teammates also get the agent's id.
    s.ctx.hub.to_visitor(conversation.visitor.id, p.encode_bytes(typing), after_commit=False)
    frame = p.encode_bytes(msgspec.structs.replace(typing, author_id=agent.id))
    others = [a.id for a in s.ctx.hub.agents.values() if a.id != agent.id and can_see(a, conversation)]
    s.ctx.hub.to_agents_now(others, frame)
    s.ctx.hub.viewing.typing((s.agent_id, s.token_hash), c.conversation_id, c.active)
    return {}


def transcript(s: AgentSession, c: p.GetTranscript) -> dict[str, Any]:
    messages, more = s.ctx.actions.transcript(s.agent, c.conversation_id, c.before, c.limit)
    return {"messages": _b(messages), "more": more}


def list_agents(s: AgentSession, c: p.ListAgents) -> dict[str, Any]:
    return {"agents": _b(s.ctx.hub.all_agent_views())}


def sign_out(s: AgentSession, c: p.SignOut) -> dict[str, Any]:
    s.ctx.storage.revoke_token(s.token_hash, s.ctx.clock.now())
    return {}


def watch_live_visitors(s: AgentSession, c: p.WatchLiveVisitors) -> dict[str, Any]:
    return {"count": s.ctx.live.watch(s.ws, s.agent, c.active)}


def engage(s: AgentSession, c: p.EngageVisitor) -> dict[str, Any]:
    return s.ctx.live.engage(s.agent, c.visitor_id, c.text, c.id)  # type: ignore[no-any-return]


def _later(feature: str) -> Callable[[AgentSession, Any], dict[str, Any]]:
    def handler(s: AgentSession, c: Any) -> dict[str, Any]:
        raise not_yet(feature)

    return handler


# Later issues register their handlers here (e.g. HANDLERS[p.ShareCalendar] = share_calendar).
HANDLERS: dict[type[Any], Callable[[AgentSession, Any], dict[str, Any]]] = {
    p.SendMessage: send_message,
    p.SetPresence: set_presence,
    p.AssignConversation: assign,
    p.CloseConversation: close,
    p.ReopenConversation: reopen,
    p.SetCql: set_cql,
    p.AddParticipant: add_participant,
    p.RemoveParticipant: remove_participant,
    p.RecordHandoff: record_handoff,
    p.UpdateVisitor: update_visitor,
    p.SetTyping: typing,
    p.GetTranscript: transcript,
    p.ListAgents: list_agents,
    p.SignOut: sign_out,
    p.ListMeetings: cal.list_meetings,
    p.ShareCalendar: cal.share_calendar,
    p.GetCalendarSettings: cal.get_calendar_settings,
    p.UpdateCalendarSettings: cal.update_calendar_settings,
    p.ConnectCalendar: cal.connect_calendar,
    p.CancelMeeting: cal.cancel_meeting,
    p.RescheduleMeeting: cal.reschedule_meeting,
    p.GetOpenSlots: cal.get_open_slots,
    **saved_replies.HANDLERS,
    **viewing.HANDLERS,
    **reports.HANDLERS,
    **capacity_commands.HANDLERS,
    p.WatchLiveVisitors: watch_live_visitors,
    p.EngageVisitor: engage,
}
# Reads and ephemeral frames are not recorded for idempotency (re-running them is harmless).
NOT_IDEMPOTENT: set[type[Any]] = {
    p.SetTyping,
    p.GetTranscript,
    p.ListAgents,
    p.ListMeetings,
    p.GetCalendarSettings,
    p.GetOpenSlots,
    p.WatchLiveVisitors,  # a snapshot: re-sending it must send a fresh one
    *saved_replies.READS,
    *viewing.EPHEMERAL,
    *reports.READS,
}
