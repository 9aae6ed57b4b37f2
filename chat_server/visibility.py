"""The one authorisation rule: which agent sees (and may act on) which conversation."""

from __future__ import annotations

from agent_app.protocol import Agent, Conversation, ConversationStatus, Role


def is_supervisor(agent: Agent) -> bool:
    return agent.role in (Role.MANAGER, Role.ADMIN)


def can_see(agent: Agent, conversation: Conversation) -> bool:
    """Managers/admins see everything; an sdr sees open unassigned conversations and any conversation
    (open or closed) they are the assignee or a participant of. Acting requires seeing."""
    if agent.disabled:
        return False
    if is_supervisor(agent):
        return True
    if conversation.assignee_id == agent.id or agent.id in conversation.participant_ids:
        return True
    return conversation.status == ConversationStatus.OPEN and conversation.assignee_id is None


def can_assign(agent: Agent, conversation: Conversation) -> bool:
    """Reassigning: the current assignee, a supervisor, or anyone who sees it while it is unassigned."""
    if not can_see(agent, conversation):
        return False
    return is_supervisor(agent) or conversation.assignee_id in (None, agent.id)


def can_remove_participant(agent: Agent, participant_id: str) -> bool:
    return is_supervisor(agent) or agent.id == participant_id
