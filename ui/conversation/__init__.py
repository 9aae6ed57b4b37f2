"""Conversation view: header, transcript (model/view), composer and typing indicators."""

from ui.conversation.composer import Composer
from ui.conversation.header import ConversationHeader
from ui.conversation.transcript_model import MessageKind, TranscriptModel, TranscriptRole
from ui.conversation.transcript_view import TranscriptView
from ui.conversation.view import ConversationView

__all__ = [
    "Composer",
    "ConversationHeader",
    "ConversationView",
    "MessageKind",
    "TranscriptModel",
    "TranscriptRole",
    "TranscriptView",
]
