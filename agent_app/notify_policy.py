"""Decides which store events deserve a desktop notification, and folds bursts into one summary.

Qt-free and clock-driven so every rule is unit-tested: the UI feeds it what the store reported
(``on_conversation``, ``on_message``, ``on_participant_added``, ``on_sla``) plus the window's focus,
and shows whatever :class:`Notice` objects come back. ``flush()`` is called by a timer to emit the
summary of what was held back ("5 new chats and 12 messages while you were away").

Rules:
- a new waiting (unassigned, open) conversation while I am Available, or one routed to me;
- a visitor message in a conversation I am assignee/participant of, unless the window is active
  and showing that very conversation;
- someone added me as a participant; an SLA warning on a chat that is mine or waiting for anyone.
- Held back into a summary: anything while catching up (a replay after a reconnect), anything
  older than ``stale_after`` seconds (history), and everything past ``burst_limit`` notices within
  ``burst_window`` seconds. Messages of one conversation are rate-limited to one notice per
  ``per_conversation_interval``; the next one says how many arrived meanwhile.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_app import protocol as p
from agent_app.display import display_name

PREVIEW_CHARS = 140


class NoticeKind(enum.StrEnum):
    NEW_CHAT = "new_chat"
    MESSAGE = "message"
    PARTICIPANT = "participant"
    SLA = "sla"
    SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to show. Title and body are plain text (the UI escapes them for D-Bus)."""

    kind: NoticeKind
    title: str
    body: str
    conversation_id: str | None = None
    urgent: bool = False


@dataclass(slots=True)
class NotifyPrefs:
    """The user's toggles (mirrors the notification settings)."""

    enabled: bool = True
    new_chats: bool = True
    messages: bool = True
    participants: bool = True
    sla: bool = True


@dataclass(slots=True)
class _Held:
    chats: int = 0
    messages: int = 0
    other: int = 0
    away: bool = False
    conversations: list[str] = field(default_factory=list)


class NotifyPolicy:
    """Turns store events into notices; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        prefs: NotifyPrefs | None = None,
        burst_limit: int = 3,
        burst_window: float = 2.0,
        per_conversation_interval: float = 15.0,
        stale_after: float = 60.0,
    ) -> None:
        self.clock = clock
        self.prefs = prefs or NotifyPrefs()
        self.burst_limit = burst_limit
        self.burst_window = burst_window
        self.per_conversation_interval = per_conversation_interval
        self.stale_after = stale_after
        self.me: p.Agent | None = None
        self.window_active = False
        self.open_conversation: str | None = None
        self._catching_up = False
        self._recent: deque[float] = deque()
        self._last_by_conv: dict[str, float] = {}
        self._suppressed_by_conv: dict[str, int] = {}
        self._announced: set[str] = set()
        self._held = _Held()
        self._summary_due: float | None = None

    # ------------------------------------------------------------------ state the UI reports

    def set_me(self, me: p.Agent | None) -> None:
        self.me = me

    def set_focus(self, window_active: bool, open_conversation: str | None) -> None:
        self.window_active = window_active
        self.open_conversation = open_conversation

    def begin_catch_up(self) -> None:
        """A reconnect started: whatever arrives until ``end_catch_up`` goes into one summary.

        Only for a resume (the server replays what was missed). A first sign-in on an empty store,
        or a resync, gets a snapshot instead: nothing is replayed, so nothing needs holding back."""
        self._catching_up = True

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    def end_catch_up(self) -> None:
        self._catching_up = False
        if self._has_held():
            self._summary_due = self.clock()

    def forget(self, conversation_id: str) -> None:
        self._announced.discard(conversation_id)
        self._last_by_conv.pop(conversation_id, None)
        self._suppressed_by_conv.pop(conversation_id, None)

    # ------------------------------------------------------------------ events

    def on_conversation(self, conv: p.Conversation, created: bool) -> list[Notice]:
        if not (self.prefs.enabled and self.prefs.new_chats) or self.me is None:
            return []
        if conv.status is not p.ConversationStatus.OPEN or conv.id in self._announced:
            return []
        mine = conv.assignee_id == self.me.id
        routed_to_me = conv.routing is not None and conv.routing.agent_id == self.me.id and mine
        waiting = conv.assignee_id is None and created
        if not (routed_to_me or (waiting and self.me.presence is p.Presence.AVAILABLE)):
            return []
        self._announced.add(conv.id)
        v = conv.visitor
        who = display_name(conv)
        where = ", ".join(x for x in (v.company, v.location) if x)
        title = f"New chat routed to you: {who}" if routed_to_me else f"New chat: {who}"
        body = conv.last_message_preview or (f"on {v.current_page}" if v.current_page else "is waiting")
        if where:
            body = f"{where} — {body}"
        notice = Notice(NoticeKind.NEW_CHAT, title, _clip(body), conv.id)
        return self._offer(notice, conv.created_at)

    def on_message(self, conv: p.Conversation | None, message: p.Message) -> list[Notice]:
        if not (self.prefs.enabled and self.prefs.messages) or self.me is None or conv is None:
            return []
        if message.author_kind is not p.AuthorKind.VISITOR or message.private:
            return []
        if conv.assignee_id != self.me.id and self.me.id not in conv.participant_ids:
            return []
        if self.window_active and self.open_conversation == conv.id:
            return []
        now = self.clock()
        last = self._last_by_conv.get(conv.id)
        recent = last is not None and now - last < self.per_conversation_interval
        if recent and not self._is_old(message.created_at):
            self._suppressed_by_conv[conv.id] = self._suppressed_by_conv.get(conv.id, 0) + 1
            return []
        more = self._suppressed_by_conv.pop(conv.id, 0)
        who = display_name(conv)
        title = f"{who} ({more + 1} new messages)" if more else who
        notice = Notice(NoticeKind.MESSAGE, title, _clip(message.text), conv.id)
        shown = self._offer(notice, message.created_at)
        if any(n.kind is NoticeKind.MESSAGE for n in shown):
            self._last_by_conv[conv.id] = now
        return shown

    def on_participant_added(self, event: p.ParticipantAdded, conv: p.Conversation | None) -> list[Notice]:
        if not (self.prefs.enabled and self.prefs.participants) or self.me is None:
            return []
        if event.agent_id != self.me.id or event.by_id == self.me.id:
            return []
        who = display_name(conv) if conv is not None else "a visitor"
        title = f"You were added to the chat with {who}"
        body = event.note or "A teammate asked for your help."
        return self._offer(Notice(NoticeKind.PARTICIPANT, title, _clip(body), event.conversation_id), None)

    def on_sla(self, conv: p.Conversation | None, breached: bool, due_at: float) -> list[Notice]:
        if not (self.prefs.enabled and self.prefs.sla) or self.me is None or conv is None or breached:
            return []
        if conv.status is not p.ConversationStatus.OPEN or conv.first_response_at is not None:
            return []
        if conv.assignee_id not in (None, self.me.id):
            return []
        if conv.assignee_id is None and self.me.presence is not p.Presence.AVAILABLE:
            return []
        left = round(due_at - self.clock())
        if left <= 0:
            return []  # already due: a replayed warning, or the breach will follow anyway
        who = display_name(conv)
        title = f"{who} is waiting for a reply"
        return self._offer(Notice(NoticeKind.SLA, title, f"Reply within {left} s.", conv.id, True), None)

    def flush(self) -> list[Notice]:
        """The summary of held-back notices, once the burst or the catch-up is over."""
        if self._summary_due is None or self._catching_up or self.clock() < self._summary_due:
            return []
        held, self._held, self._summary_due = self._held, _Held(), None
        parts = []
        if held.chats:
            parts.append(_plural(held.chats, "new chat"))
        if held.messages:
            parts.append(_plural(held.messages, "message"))
        if held.other:
            parts.append(_plural(held.other, "other update"))
        if not parts:
            return []
        text = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
        title = f"{text} while you were away" if held.away else text
        distinct = list(dict.fromkeys(held.conversations))
        target = distinct[0] if len(distinct) == 1 else None
        body = "Open SDR Agent Desk to catch up." if target is None else "Click to open the conversation."
        self._recent.append(self.clock())
        return [Notice(NoticeKind.SUMMARY, title[0].upper() + title[1:], body, target)]

    @property
    def summary_pending(self) -> bool:
        return self._summary_due is not None or self._has_held()

    # ------------------------------------------------------------------ internals

    def _is_old(self, at: float | None) -> bool:
        return at is not None and at > 0 and self.clock() - at > self.stale_after

    def _offer(self, notice: Notice, at: float | None) -> list[Notice]:
        now = self.clock()
        while self._recent and now - self._recent[0] > self.burst_window:
            self._recent.popleft()
        away = self._catching_up or self._is_old(at)
        if away or len(self._recent) >= self.burst_limit:
            self._hold(notice, away)
            return []
        self._recent.append(now)
        return [notice]

    def _hold(self, notice: Notice, away: bool) -> None:
        held = self._held
        if notice.kind is NoticeKind.NEW_CHAT:
            held.chats += 1
        elif notice.kind is NoticeKind.MESSAGE:
            held.messages += 1
        else:
            held.other += 1
        held.away = held.away or away
        if notice.conversation_id:
            held.conversations.append(notice.conversation_id)
        # Quiet period: the summary goes out once nothing else arrived for a burst window.
        self._summary_due = self.clock() + self.burst_window

    def _has_held(self) -> bool:
        h = self._held
        return bool(h.chats or h.messages or h.other)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
