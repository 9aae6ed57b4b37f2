"""Re-emits the Qt-free store's listener callbacks as Qt signals, so widgets and models stay thin."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from agent_app import protocol as p
from agent_app.store import MessageItem, Store


class StoreBridge(QObject):
    """Listens to a :class:`Store` and re-emits what happened.

    Signals:
        reset: the store was replaced wholesale (a resync snapshot or a cache load).
        conversation_changed(Conversation, bool): a conversation was created (True) or updated.
        conversation_removed(str): the conversation with this id is gone from view.
        message_added(str, int, MessageItem): conversation id, row index in its transcript, the row.
        message_changed(str, int, MessageItem): a row's content or delivery state changed.
        agent_changed(Agent): presence or profile of a teammate (or me) changed.
        meeting_booked(Meeting), meeting_updated(Meeting): booked, or moved (same id); meeting_cancelled(str).
        sla_event(str, bool, float): conversation id, breached?, due time.
        participant_added(ParticipantAdded), typing_changed(TypingFrame).
        saved_replies_changed: my or the team's saved replies were loaded, added, edited or deleted.
    """

    reset = Signal()
    conversation_changed = Signal(object, bool)
    conversation_removed = Signal(str)
    message_added = Signal(str, int, object)
    message_changed = Signal(str, int, object)
    agent_changed = Signal(object)
    meeting_booked = Signal(object)
    meeting_updated = Signal(object)
    meeting_cancelled = Signal(str)
    sla_event = Signal(str, bool, float)
    participant_added = Signal(object)
    typing_changed = Signal(object)
    saved_replies_changed = Signal()

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        store.add_listener(self)

    # StoreListener protocol: called synchronously on the GUI thread (the qasync loop runs there).
    def on_reset(self) -> None:
        self.reset.emit()

    def on_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        self.conversation_changed.emit(conversation, created)

    def on_conversation_removed(self, conversation_id: str) -> None:
        self.conversation_removed.emit(conversation_id)

    def on_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        self.message_added.emit(conversation_id, index, item)

    def on_message_changed(self, conversation_id: str, index: int, item: MessageItem) -> None:
        self.message_changed.emit(conversation_id, index, item)

    def on_agent_changed(self, agent: p.Agent) -> None:
        self.agent_changed.emit(agent)

    def on_meeting_booked(self, meeting: p.Meeting) -> None:
        self.meeting_booked.emit(meeting)

    def on_meeting_updated(self, meeting: p.Meeting) -> None:
        self.meeting_updated.emit(meeting)

    def on_meeting_cancelled(self, meeting_id: str) -> None:
        self.meeting_cancelled.emit(meeting_id)

    def on_sla_event(self, conversation_id: str, breached: bool, due_at: float) -> None:
        self.sla_event.emit(conversation_id, breached, due_at)

    def on_participant_added(self, event: p.ParticipantAdded) -> None:
        self.participant_added.emit(event)

    def on_typing_changed(self, frame: p.TypingFrame) -> None:
        self.typing_changed.emit(frame)

    def on_saved_replies_changed(self) -> None:
        self.saved_replies_changed.emit()
