"""The conversation pane: header, transcript, typing line and composer for the open conversation."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from agent_app import protocol as p
from agent_app.errors import AgentAppError, StorageError
from agent_app.store import MessageItem
from ui.bridge import StoreBridge
from ui.conversation.composer import Composer
from ui.conversation.header import ConversationHeader
from ui.conversation.transcript_model import TranscriptModel
from ui.conversation.transcript_view import TranscriptView
from ui.style import named
from ui.tasks import TaskRunner

if TYPE_CHECKING:
    from agent_app.session import Session

log = logging.getLogger(__name__)
DRAFT_SAVE_MS = 700  # a pause in typing this long writes the draft to disk (a crash loses at most that)


class DraftKeeper(Protocol):
    """Where drafts outlive the app (agent_app.cache.ClientCache)."""

    def load_drafts(self) -> dict[str, tuple[str, bool]]: ...
    def save_draft(self, conversation_id: str, text: str, private: bool) -> None: ...


TYPING_TIMEOUT_MS = 30_000  # a "typing" we never hear the end of is dropped after this long
PREVIEW_CHARS = 140


class ConversationView(QWidget):
    """Everything about one open conversation. Slots read widget state and call one session method."""

    def __init__(
        self, bridge: StoreBridge, session: Session, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conversationView")
        self.bridge, self.store, self.session, self.runner = bridge, bridge.store, session, runner
        self.conversation_id = ""
        self._drafts: dict[str, tuple[str, bool]] = {}
        self._no_more_history: set[str] = set()
        self._loading_history = False

        self.header = ConversationHeader(self)
        self.model = TranscriptModel(bridge, parent=self)
        self.transcript = TranscriptView(self.model, self)
        self.typing_label = named(QLabel(self), "typingLabel")
        self.typing_label.setTextFormat(Qt.TextFormat.PlainText)
        self.typing_label.setWordWrap(False)
        self.typing_label.hide()
        self.composer = Composer(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.typing_label)
        layout.addWidget(self.composer)

        self._typing_timeout = QTimer(self, singleShot=True, interval=TYPING_TIMEOUT_MS)
        self._typing_timeout.timeout.connect(self.typing_label.hide)
        self._clock_refresh = QTimer(self, interval=30_000)  # "5 min ago" labels
        self._clock_refresh.timeout.connect(self.transcript.viewport().update)
        self._clock_refresh.start()
        self._keeper: DraftKeeper | None = None
        self._draft_save = QTimer(self, singleShot=True, interval=DRAFT_SAVE_MS)
        self._draft_save.timeout.connect(self.save_draft)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.composer.message_submitted.connect(self.on_composer_message_submitted)
        self.composer.typing_changed.connect(self.on_composer_typing_changed)
        self.composer.reopen_requested.connect(self.reopen)
        self.composer.edit.textChanged.connect(self._draft_save.start)
        self.composer.note_toggle.toggled.connect(self._draft_save.start)
        self.header.close_requested.connect(self.close_conversation)
        self.header.reopen_requested.connect(self.reopen)
        self.transcript.retry_clicked.connect(self.on_transcript_retry_clicked)
        self.transcript.top_reached.connect(self.load_older)
        self.bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        self.bridge.typing_changed.connect(self.on_bridge_typing_changed)
        self.bridge.message_added.connect(self.on_bridge_message_added)

    # ------------------------------------------------------------------ API

    def open(self, conversation_id: str) -> None:
        """Show a conversation: keeps the previous draft, marks this one read, fetches history if short."""
        if conversation_id == self.conversation_id:
            return
        if self.conversation_id:
            self.composer.stop_typing()  # -> typing(previous, False) while the id is still the old one
            self.save_draft()
            self._drafts[self.conversation_id] = (self.composer.text(), self.composer.is_private())
        self.conversation_id = conversation_id
        self.model.set_conversation(conversation_id)
        text, private = self._drafts.pop(conversation_id, ("", False))
        self.composer.set_text(text)
        self.composer.set_private(private)
        self._draft_save.stop()  # showing a draft is not an edit
        self.composer.show_error("")
        self.typing_label.hide()
        conv = self.store.conversations.get(conversation_id)
        if conv is not None:
            self._show_conversation(conv)
            self.store.mark_read(conversation_id)
            if self.store.missing_history(conversation_id):
                self.load_older()

    def set_draft_keeper(self, keeper: DraftKeeper) -> None:
        """Keep drafts on disk from now on, and take back those left by the last run (typed text is
        never lost: not by switching chats, quitting, or a crash)."""
        self._keeper = keeper
        try:
            saved = keeper.load_drafts()
        except StorageError as exc:
            log.warning("drafts from the last run are unreadable: %s", exc)
            return
        for cid, draft in saved.items():
            if cid == self.conversation_id and not self.composer.text().strip():
                self.composer.set_text(draft[0])
                self.composer.set_private(draft[1])
            elif cid != self.conversation_id:
                self._drafts.setdefault(cid, draft)

    def save_draft(self) -> None:
        """Write the open conversation's draft now (called after a typing pause, on switching, on close)."""
        self._draft_save.stop()
        if self._keeper is None or not self.conversation_id:
            return
        try:
            self._keeper.save_draft(self.conversation_id, self.composer.text(), self.composer.is_private())
        except StorageError as exc:  # the draft is still in the box; only the crash copy is missing
            log.warning("draft not kept on disk: %s", exc)

    def is_closed(self) -> bool:
        conv = self.store.conversations.get(self.conversation_id)
        return conv is not None and conv.status is p.ConversationStatus.CLOSED

    def toggle_closed(self) -> None:
        if self.is_closed():
            self.reopen()
        else:
            self.close_conversation()

    def close_conversation(self) -> None:
        if self.conversation_id:
            self.runner.run(
                self.session.close_conversation(self.conversation_id),
                what="Close the conversation",
                busy=self.header.status_button,
            )

    def reopen(self) -> None:
        if self.conversation_id:
            self.runner.run(
                self.session.reopen_conversation(self.conversation_id),
                what="Reopen the conversation",
                busy=self.header.status_button,
            )

    def retry_failed(self) -> None:
        for key in self.model.failed_keys():
            self.session.retry(self.conversation_id, key)

    def load_older(self) -> None:
        cid = self.conversation_id
        if not cid or self._loading_history or cid in self._no_more_history:
            return
        self._loading_history = True

        def done(messages: list[p.Message]) -> None:
            self._loading_history = False
            if not messages:
                self._no_more_history.add(cid)

        def failed(exc: Exception) -> None:
            self._loading_history = False

        self.runner.run(
            self.session.get_transcript(cid, before=self.model.oldest_time()),
            what="Load older messages",
            on_success=done,
            on_error=failed,
            key=("history", cid),
        )

    # ------------------------------------------------------------------ slots

    def on_composer_message_submitted(self, text: str, private: bool) -> None:
        try:
            self.session.send_message(self.conversation_id, text, private)
        except AgentAppError as exc:
            self.composer.set_text(text)
            self.composer.show_error(str(exc))
            return
        self.transcript.scroll_to_end()

    def on_composer_typing_changed(self, active: bool) -> None:
        if self.conversation_id:
            self.session.typing(self.conversation_id, active)

    def on_transcript_retry_clicked(self, client_id: str) -> None:
        self.session.retry(self.conversation_id, client_id)

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id == self.conversation_id:
            self._show_conversation(conversation)

    def on_bridge_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        if conversation_id != self.conversation_id:
            return
        if item.message.author_kind is p.AuthorKind.VISITOR:
            self.typing_label.hide()
            if self.isVisible():  # after the store finished counting it as unread
                QTimer.singleShot(0, self, lambda: self.store.mark_read(conversation_id))

    def on_bridge_typing_changed(self, frame: p.TypingFrame) -> None:
        me = self.store.me
        if frame.conversation_id != self.conversation_id or (me is not None and frame.author_id == me.id):
            return
        if frame.author_kind is p.AuthorKind.AGENT:
            return  # a teammate: the header and the composer say so (ui/viewing)
        if not frame.active:
            self.typing_label.hide()
            return
        conv = self.store.conversations.get(self.conversation_id)
        who = frame.author_name or (conv.visitor.name if conv and conv.visitor.name else "The visitor")
        text = f"{who} is typing…"
        preview = " ".join(frame.preview.split())
        if preview:
            cut = preview if len(preview) <= PREVIEW_CHARS else "…" + preview[-PREVIEW_CHARS:]
            text += f"  “{cut}”"
        self.typing_label.setText(text)
        self.typing_label.show()
        self._typing_timeout.start()

    def _show_conversation(self, conv: p.Conversation) -> None:
        agent = self.store.agents.get(conv.assignee_id or "")
        self.header.set_conversation(conv, agent.name if agent else "")
        self.composer.set_closed(conv.status is p.ConversationStatus.CLOSED)
