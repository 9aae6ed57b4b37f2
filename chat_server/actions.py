"""Agent actions on conversations: assign, close/reopen, CQL, participants, handoff, transcript."""

from __future__ import annotations

import msgspec

from agent_app.protocol import (
    CQL_LEVELS,
    MAX_NOTE_TEXT,
    Agent,
    AuthorKind,
    Conversation,
    ConversationClosed,
    ConversationReopened,
    ConversationStatus,
    CqlChange,
    CqlChanged,
    ErrorCode,
    Event,
    Message,
    ParticipantAdded,
    ParticipantRemoved,
)
from chat_server.errors import CommandError, forbidden, not_found
from chat_server.service import Service, check_text
from chat_server.visibility import can_assign, can_remove_participant, can_see, is_supervisor


class AgentActions:
    def __init__(self, service: Service) -> None:
        self.s = service

    def _target(self, agent_id: str) -> Agent:
        target = self.s.agent(agent_id)
        if target.disabled:
            raise CommandError(ErrorCode.INVALID, f"{target.name} is disabled")
        return target

    def assign(self, agent: Agent, conversation_id: str, assignee_id: str | None) -> Conversation:
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            if not can_assign(agent, conversation):
                raise forbidden("only the assignee or a manager can reassign this conversation")
            if assignee_id == conversation.assignee_id:
                return conversation
            before = msgspec.structs.replace(conversation)
            name = self._target(assignee_id).name if assignee_id else "the queue"
            conversation.assignee_id = assignee_id
            if assignee_id is None:
                conversation.assigned_via, conversation.assigned_by = "", ""
            else:  # taking it yourself from the queue is a "take"; giving it to someone an "assign"
                via = "take" if assignee_id == agent.id else "assign"
                conversation.assigned_via, conversation.assigned_by = via, agent.id
            text = (
                f"{agent.name} took the conversation"
                if assignee_id == agent.id
                else f"{agent.name} assigned the conversation to {name}"
            )
            self._team_line(conversation, text, before)
            if assignee_id is not None:
                self._joined(before, conversation, self.s.agent(assignee_id))
            self.s.assigned(conversation)
        return conversation

    def _team_line(
        self, conversation: Conversation, text: str, before: Conversation, events: list[Event] | None = None
    ) -> Message:
        """Who assigned whom, notes, CRM records: team only (docs/protocol.md, "What visitors see")."""
        return self.s.add_message(
            conversation, AuthorKind.SYSTEM, check_text(text, 3 * MAX_NOTE_TEXT), private=True, before=before,
            extra_events=events,
        )  # fmt: skip

    def _joined(self, before: Conversation, conversation: Conversation, person: Agent) -> None:
        """The visitor's line when someone new is in the chat: a name, nothing about how or why."""
        if person.id != before.assignee_id and person.id not in before.participant_ids:
            self.s.system_message(conversation, f"{person.name} joined the chat")

    def close(self, agent: Agent, conversation_id: str) -> Conversation:
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            if conversation.status == ConversationStatus.CLOSED:
                raise CommandError(ErrorCode.CONFLICT, "the conversation is already closed")
            before = msgspec.structs.replace(conversation)
            if conversation.assignee_id is None and not is_supervisor(agent):
                conversation.assignee_id = agent.id  # else it would vanish from the closer's own history
                conversation.assigned_via, conversation.assigned_by = "take", agent.id
            conversation.status = ConversationStatus.CLOSED
            conversation.closed_at = self.s.clock.now()
            conversation.waiting_since = None
            closed = ConversationClosed(conversation=conversation, by_id=agent.id)
            self.s.system_message(conversation, f"{agent.name} closed the conversation", before, [closed])
            self.s.closed(conversation)
        return conversation

    def reopen(self, agent: Agent, conversation_id: str) -> Conversation:
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            if conversation.status == ConversationStatus.OPEN:
                raise CommandError(ErrorCode.CONFLICT, "the conversation is already open")
            before = msgspec.structs.replace(conversation)
            conversation.status = ConversationStatus.OPEN
            conversation.closed_at = None
            reopened = ConversationReopened(conversation=conversation, by_id=agent.id)
            self.s.system_message(conversation, f"{agent.name} reopened the conversation", before, [reopened])
        return conversation

    def set_cql(self, agent: Agent, conversation_id: str, level: int | None) -> Conversation:
        """Last write wins; every change is kept in cql_history (who, when, from, to)."""
        if level is not None and level not in CQL_LEVELS:
            raise CommandError(ErrorCode.INVALID, f"level must be one of {CQL_LEVELS} or null")
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            change = CqlChange(
                level=level, previous=conversation.cql, by_kind=AuthorKind.AGENT, by_id=agent.id,
                by_name=agent.name, at=self.s.clock.now(),
            )  # fmt: skip
            conversation.cql = level
            conversation.cql_history = [*conversation.cql_history, change]
            conversation.updated_at = change.at
            self.s.storage.save_conversation(conversation)
            self.s.publish(
                conversation, conversation, [CqlChanged(conversation_id=conversation.id, change=change)]
            )
        return conversation

    def add_participant(
        self, agent: Agent, conversation_id: str, participant_id: str, note: str
    ) -> Conversation:
        if len(note) > MAX_NOTE_TEXT:
            raise CommandError(ErrorCode.TOO_LONG, f"note is longer than {MAX_NOTE_TEXT} characters")
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            target = self._target(participant_id)
            if participant_id in conversation.participant_ids:
                return conversation
            before = msgspec.structs.replace(conversation)
            conversation.participant_ids = [*conversation.participant_ids, participant_id]
            added = ParticipantAdded(conversation_id=conversation.id, agent_id=participant_id, by_id=agent.id,
                                     note=note)  # fmt: skip
            text = f"{agent.name} added {target.name}" + (f": {note}" if note else "")
            self._team_line(conversation, text, before, [added])
            self._joined(before, conversation, target)
        return conversation

    def remove_participant(self, agent: Agent, conversation_id: str, participant_id: str) -> Conversation:
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            if not can_remove_participant(agent, participant_id):
                raise forbidden("only the participant or a manager can remove a participant")
            if participant_id not in conversation.participant_ids:
                raise not_found("participant")
            before = msgspec.structs.replace(conversation)
            conversation.participant_ids = [p for p in conversation.participant_ids if p != participant_id]
            removed = ParticipantRemoved(
                conversation_id=conversation.id, agent_id=participant_id, by_id=agent.id
            )
            name = self.s.agent(participant_id).name
            self._team_line(conversation, f"{agent.name} removed {name}", before, [removed])
            if participant_id != conversation.assignee_id:
                self.s.system_message(conversation, f"{name} left the chat")
        return conversation

    def record_handoff(
        self,
        agent: Agent,
        conversation_id: str,
        to_agent_id: str,
        note: str,
        crm: str,
        reassign: bool = False,
    ) -> Message:
        """A hand-off: always a team-only line (notes and CRM ids never reach the visitor). Without
        ``reassign`` it records a CRM owner change; with it the chat itself goes to ``to_agent_id`` (any
        active teammate), and the previous assignee stays in the chat as a participant."""
        if len(note) > MAX_NOTE_TEXT:
            raise CommandError(ErrorCode.TOO_LONG, f"note is longer than {MAX_NOTE_TEXT} characters")
        if len(crm) > MAX_NOTE_TEXT:
            raise CommandError(ErrorCode.TOO_LONG, f"crm_record is longer than {MAX_NOTE_TEXT} characters")
        with self.s.storage.savepoint():
            conversation = self.s.visible_conversation(agent, conversation_id)
            target = self._target(to_agent_id)
            before = msgspec.structs.replace(conversation)
            if reassign:
                self._hand_over(agent, conversation, target)
                text = f"{agent.name} handed the chat off to {target.name}"
            else:
                text = f"{agent.name} handed off to {target.name}"
            text += f" ({crm})" if crm else ""
            text += f": {note}" if note else ""
            message = self.s.add_message(
                conversation, AuthorKind.SYSTEM, check_text(text, 3 * MAX_NOTE_TEXT), private=True,
                before=before,
            )  # fmt: skip
            if reassign:
                self._joined(before, conversation, target)
                self.s.assigned(conversation)
            return message

    def _hand_over(self, agent: Agent, conversation: Conversation, target: Agent) -> None:
        if not can_assign(agent, conversation):
            raise forbidden("only the assignee or a manager can hand this conversation off")
        if conversation.status == ConversationStatus.CLOSED:
            raise CommandError(ErrorCode.CONFLICT, "the conversation is closed; reopen it first")
        previous = conversation.assignee_id
        if previous == target.id:
            raise CommandError(ErrorCode.CONFLICT, f"{target.name} already has this conversation")
        participants = [p for p in conversation.participant_ids if p != target.id]
        if previous is not None and previous not in participants:
            participants.append(previous)  # the one who handed off keeps the context and can still help
        conversation.participant_ids = participants
        conversation.assignee_id = target.id
        conversation.assigned_via, conversation.assigned_by = "handoff", agent.id

    def transcript(
        self, agent: Agent, conversation_id: str, before: float | None, limit: int
    ) -> tuple[list[Message], bool]:
        conversation = self.s.storage.get_conversation(conversation_id)
        if conversation is None:
            raise not_found("conversation")
        if not can_see(agent, conversation):
            raise forbidden("this conversation is not visible to you")
        return self.s.storage.messages(
            conversation_id, before, max(1, min(limit, 1000)), include_private=True
        )
