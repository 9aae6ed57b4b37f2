"""Decides which store events deserve a desktop notification, which shown ones to withdraw, and folds bursts.

Qt-free and clock-driven so every rule is unit-tested: the UI feeds it what the store reported
(``on_conversation``, ``on_message``, ``on_participant_added``, ``on_sla``, ``sync`` after a snapshot) plus
the window's focus, shows whatever :class:`Notice` objects come back, and closes the notices whose keys
``drain_withdrawals()`` hands out. ``flush()`` is called by a timer to emit the summary of what was held
back ("5 new chats and 12 messages while you were away").

Raising:
- a new waiting (unassigned, open) conversation while I am Available;
- a conversation becoming mine (routing, a hand-off, a teammate's assignment; even while Away), naming the
  visitor, company, CQL and how it came ("Routed to you", "Sam Chen handed this chat to you"); never when
  I took it myself. It replaces a still-showing "new chat" notice of the same conversation;
- a visitor message in a conversation I am assignee/participant of, unless the window is active
  and showing that very conversation (a newer one replaces the older notice of that chat);
- someone added me as a participant (who, and the visitor); an SLA warning on a chat that is mine or
  waiting for anyone (it replaces the chat's new-chat/assignment notice: one notice per chat).
- Held back into a summary: anything while catching up (a replay after a reconnect), anything
  older than ``stale_after`` seconds (history), and everything past ``burst_limit`` notices within
  ``burst_window`` seconds. Messages of one conversation are rate-limited to one notice per
  ``per_conversation_interval``; the next one says how many arrived meanwhile.

Withdrawing (every shown notice is keyed and mapped to what it is about, until it no longer applies):
- closed, revoked or gone after a snapshot: everything of that conversation;
- viewed (window active, conversation open): everything of that conversation;
- answered (first human response): its new-chat, SLA and assignment notices; my own reply: its messages too;
- assigned to someone else: new-chat, SLA, assignment; and messages/invites once I take no part in it;
- a summary once every conversation/kind it counted has been withdrawn by the rules above.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from agent_app import cql as cql_levels
from agent_app import protocol as p
from agent_app.display import display_name

PREVIEW_CHARS = 140
MAX_LIVE = 500  # notices remembered for withdrawal; the oldest are dropped (their server expired them)


class NoticeKind(enum.StrEnum):
    NEW_CHAT = "new_chat"
    ASSIGNED = "assigned"
    MESSAGE = "message"
    PARTICIPANT = "participant"
    SLA = "sla"
    SUMMARY = "summary"


ALL_KINDS = frozenset(NoticeKind) - {NoticeKind.SUMMARY}
# "Someone has to answer this chat": obsolete once it is answered or belongs to someone else.
NEEDS_ANSWER = frozenset({NoticeKind.NEW_CHAT, NoticeKind.ASSIGNED, NoticeKind.SLA})
# A new notice of a kind takes the place of a showing notice of these kinds for the same conversation.
REPLACES: dict[NoticeKind, frozenset[NoticeKind]] = {
    NoticeKind.NEW_CHAT: frozenset({NoticeKind.NEW_CHAT}),
    NoticeKind.ASSIGNED: frozenset({NoticeKind.NEW_CHAT, NoticeKind.ASSIGNED, NoticeKind.PARTICIPANT}),
    NoticeKind.SLA: NEEDS_ANSWER,
    NoticeKind.MESSAGE: frozenset({NoticeKind.MESSAGE}),
    NoticeKind.PARTICIPANT: frozenset({NoticeKind.PARTICIPANT}),
    NoticeKind.SUMMARY: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to show. Title and body are plain text (the UI escapes them for D-Bus).

    ``key`` is set by the policy when it lets the notice out; the UI remembers what it showed under it and
    closes that when the key is withdrawn. ``replaces``: the key of a showing notice this one supersedes
    (close it, or reuse its slot, instead of stacking a second one)."""

    kind: NoticeKind
    title: str
    body: str
    conversation_id: str | None = None
    urgent: bool = False
    key: str = ""
    replaces: str = ""


@dataclass(slots=True)
class NotifyPrefs:
    """The user's toggles (mirrors the notification settings)."""

    enabled: bool = True
    new_chats: bool = True
    messages: bool = True
    participants: bool = True
    sla: bool = True


Pair = tuple[str, NoticeKind]  # (conversation id, kind): what a shown notice is about


@dataclass(slots=True)
class _Held:
    items: list[tuple[NoticeKind, str | None]] = field(default_factory=list)
    away: bool = False

    def count(self, *kinds: NoticeKind) -> int:
        return sum(1 for kind, _ in self.items if kind in kinds)


@dataclass(slots=True)
class _Live:
    kind: NoticeKind
    covers: set[Pair]


_MISSING = object()


class NotifyPolicy:
    """Turns store events into notices and withdrawals; see the module docstring for the rules."""

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
        self._agent: Callable[[str], p.Agent | None] = lambda agent_id: None
        self._catching_up = False
        self._recent: deque[float] = deque()
        self._last_by_conv: dict[str, float] = {}
        self._suppressed_by_conv: dict[str, int] = {}
        self._announced: set[str] = set()
        self._assignees: dict[str, str | None] = {}
        self._answered: set[str] = set()  # conversations seen with a first human response
        self._visitor_lines: dict[str, str] = {}  # the last thing each visitor wrote (for assignment alerts)
        self._held = _Held()
        self._summary_due: float | None = None
        self._live: dict[str, _Live] = {}
        self._withdrawn: list[str] = []
        self._keys = itertools.count(1)

    # ------------------------------------------------------------------ state the UI reports

    def set_me(self, me: p.Agent | None) -> None:
        self.me = me

    def set_agent_lookup(self, lookup: Callable[[str], p.Agent | None]) -> None:
        """How to name teammates ("Sam Chen handed this chat to you"): an agent by id, None if unknown."""
        self._agent = lookup

    def set_focus(self, window_active: bool, open_conversation: str | None) -> None:
        self.window_active = window_active
        self.open_conversation = open_conversation
        if window_active and open_conversation:
            self._resolve(open_conversation, ALL_KINDS)  # seen: nothing about it needs a notice now

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
        """The conversation is gone from the store (revoked, removed): withdraw all of it."""
        self._announced.discard(conversation_id)
        self._assignees.pop(conversation_id, None)
        self._answered.discard(conversation_id)
        self._visitor_lines.pop(conversation_id, None)
        self._last_by_conv.pop(conversation_id, None)
        self._suppressed_by_conv.pop(conversation_id, None)
        self._resolve(conversation_id, ALL_KINDS)

    def sync(self, conversations: Iterable[p.Conversation]) -> None:
        """A snapshot replaced the store: it is the baseline (no alerts for what it holds), and whatever
        it says is over (closed, answered, taken, gone) is withdrawn."""
        present: set[str] = set()
        for conv in conversations:
            present.add(conv.id)
            self._assignees[conv.id] = conv.assignee_id
            if conv.assignee_id is not None:
                self._announced.add(conv.id)
            self._resolve_for(conv)
        for cid in {cid for live in self._live.values() for cid, _ in live.covers} - present:
            self.forget(cid)
        for cid in {cid for _, cid in self._held.items if cid is not None} - present:
            self._resolve(cid, ALL_KINDS)

    def notice_closed(self, key: str) -> None:
        """The user dismissed or clicked a notice: nothing left to withdraw for it."""
        self._live.pop(key, None)

    def drain_withdrawals(self) -> list[str]:
        """Keys of shown notices that no longer apply (in the order they stopped applying)."""
        keys, self._withdrawn = self._withdrawn, []
        return keys

    def live_keys(self) -> list[str]:
        """Keys of notices shown and not withdrawn yet (oldest first)."""
        return list(self._live)

    # ------------------------------------------------------------------ events

    def on_conversation(self, conv: p.Conversation, created: bool) -> list[Notice]:
        previous = self._assignees.get(conv.id, _MISSING)
        self._assignees[conv.id] = conv.assignee_id
        if previous is _MISSING:
            # First sight (e.g. a hand-off made it visible): its state so far is the baseline, so an
            # answered chat handed to me still gets its alert.
            self._resolve_for(conv)
        shown: list[Notice] = []
        if self.me is not None and self.prefs.enabled and self.prefs.new_chats:
            if self._became_mine(conv, previous, created):
                shown = self._offer(self._assigned_notice(conv), conv.updated_at or conv.created_at)
            elif conv.assignee_id is None and created:
                shown = self._new_chat(conv)
        self._resolve_for(conv)
        return shown

    def on_message(self, conv: p.Conversation | None, message: p.Message) -> list[Notice]:
        if self.me is None or conv is None:
            return []
        if message.author_kind is p.AuthorKind.VISITOR and not message.private:
            self._visitor_lines[conv.id] = message.text
        if (
            message.author_kind is p.AuthorKind.AGENT
            and message.author_id == self.me.id
            and not message.private
        ):
            self._resolve(conv.id, NEEDS_ANSWER | {NoticeKind.MESSAGE})  # I answered: I have seen it
            return []
        if not (self.prefs.enabled and self.prefs.messages):
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
        by = self._name(event.by_id)
        who = _who(conv) if conv is not None else "a visitor"
        title = f"{by} added you to the chat with {who}"
        ask = f"“{_clip(event.note)}”" if event.note.strip() else f"{by} asked for your help."
        body = "\n".join(x for x in (_facts(conv) if conv is not None else "", ask) if x)
        return self._offer(Notice(NoticeKind.PARTICIPANT, title, body, event.conversation_id), None)

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
        body = "\n".join(x for x in (f"Reply within {left} s.", _facts(conv)) if x)
        return self._offer(Notice(NoticeKind.SLA, title, body, conv.id, True), None)

    def flush(self) -> list[Notice]:
        """The summary of held-back notices, once the burst or the catch-up is over."""
        if self._summary_due is None or self._catching_up or self.clock() < self._summary_due:
            return []
        held, self._held, self._summary_due = self._held, _Held(), None
        parts = []
        if chats := held.count(NoticeKind.NEW_CHAT):
            parts.append(_plural(chats, "new chat"))
        if assigned := held.count(NoticeKind.ASSIGNED):
            parts.append(_plural(assigned, "chat") + " assigned to you")
        if messages := held.count(NoticeKind.MESSAGE):
            parts.append(_plural(messages, "message"))
        if other := held.count(NoticeKind.PARTICIPANT, NoticeKind.SLA):
            parts.append(_plural(other, "other update"))
        if not parts:
            return []
        text = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
        title = f"{text} while you were away" if held.away else text
        distinct = list(dict.fromkeys(cid for _, cid in held.items if cid))
        target = distinct[0] if len(distinct) == 1 else None
        body = "Open SDR Agent Desk to catch up." if target is None else "Click to open the conversation."
        self._recent.append(self.clock())
        summary = Notice(NoticeKind.SUMMARY, title[0].upper() + title[1:], body, target)
        return [self._register(summary, {(cid, kind) for kind, cid in held.items if cid})]

    @property
    def summary_pending(self) -> bool:
        return self._summary_due is not None or self._has_held()

    # ------------------------------------------------------------------ raising: internals

    def _became_mine(self, conv: p.Conversation, previous: object, created: bool) -> bool:
        me = self.me
        if me is None or conv.assignee_id != me.id or conv.status is not p.ConversationStatus.OPEN:
            return False
        if previous == me.id or (previous is _MISSING and not created):
            return False  # already mine, or the policy never saw it before (no baseline: stay quiet)
        return conv.assigned_by != me.id and conv.assigned_via != "take"  # I took it: I know

    def _new_chat(self, conv: p.Conversation) -> list[Notice]:
        if self.me is None or self.me.presence is not p.Presence.AVAILABLE or conv.id in self._announced:
            return []
        if conv.status is not p.ConversationStatus.OPEN:
            return []
        self._announced.add(conv.id)
        v = conv.visitor
        where = ", ".join(x for x in (v.company, v.location) if x)
        body = conv.last_message_preview or (f"on {v.current_page}" if v.current_page else "is waiting")
        if where:
            body = f"{where} — {body}"
        rating = _cql(conv.cql)
        if rating:
            body = f"{body} · {rating}"
        notice = Notice(NoticeKind.NEW_CHAT, f"New chat: {display_name(conv)}", _clip(body), conv.id)
        return self._offer(notice, conv.created_at)

    def _assigned_notice(self, conv: p.Conversation) -> Notice:
        self._announced.add(conv.id)
        via, by = conv.assigned_via, self._name(conv.assigned_by) if conv.assigned_by else ""
        routed = via == "routing" or (
            not via and conv.routing is not None and conv.routing.agent_id == conv.assignee_id
        )
        if routed:
            how = "Routed to you"
        elif via == "handoff" and by:
            how = f"{by} handed this chat to you"
        elif by:
            how = f"{by} assigned you"
        else:
            how = "Assigned to you"
        rule = ""
        if routed and conv.routing is not None and conv.routing.rule:
            rule, line = f"Rule {conv.routing.rule}", conv.routing.line
            rule += f", line {line}" if line and "line" not in rule else ""
        facts = " · ".join(x for x in (rule, _facts(conv)) if x)
        why = _routed_why(conv) if routed else ""  # "Sam Chen didn't answer in 30 s": why me, not them
        body = "\n".join(x for x in (why, facts, _clip(self._visitor_said(conv))) if x)
        # Unanswered, the SLA clock runs: urgent (servers keep it up until it is withdrawn on the reply).
        urgent = conv.first_response_at is None
        return Notice(NoticeKind.ASSIGNED, f"{how}: {_who(conv)}", body, conv.id, urgent)

    def _visitor_said(self, conv: p.Conversation) -> str:
        """What the visitor wants, for triage: the reason they gave the bot, else their last line (the
        conversation's own preview is often the bot's "Connecting you with the right person")."""
        reason = conv.visitor.answers.get("reason", "").strip()
        if reason:
            return reason
        if conv.id in self._visitor_lines:
            return self._visitor_lines[conv.id]
        return conv.last_message_preview if conv.last_message_author is p.AuthorKind.VISITOR else ""

    def _name(self, agent_id: str) -> str:
        agent = self._agent(agent_id) if agent_id else None
        return agent.name if agent is not None and agent.name else "A teammate"

    def _is_old(self, at: float | None) -> bool:
        return at is not None and at > 0 and self.clock() - at > self.stale_after

    def _offer(self, notice: Notice, at: float | None) -> list[Notice]:
        if self.window_active and notice.conversation_id == self.open_conversation:
            return []  # I am looking at it: seen
        now = self.clock()
        while self._recent and now - self._recent[0] > self.burst_window:
            self._recent.popleft()
        away = self._catching_up or self._is_old(at)
        if away or len(self._recent) >= self.burst_limit:
            self._hold(notice, away)
            return []
        self._recent.append(now)
        return [
            self._register(
                notice, {(notice.conversation_id, notice.kind)} if notice.conversation_id else set()
            )
        ]

    def _register(self, notice: Notice, covers: set[Pair]) -> Notice:
        """Give the notice its key, take the place of what it supersedes, and remember what it is about."""
        replaces = ""
        if notice.conversation_id:
            older = [
                key
                for key, live in self._live.items()
                if live.kind in REPLACES[notice.kind] and (notice.conversation_id, live.kind) in live.covers
            ]
            if older:
                replaces = older.pop()  # the newest one: its slot is reused
                del self._live[replaces]
                for key in older:
                    del self._live[key]
                    self._withdrawn.append(key)
        notice = replace(notice, key=f"n{next(self._keys)}", replaces=replaces)
        if covers:
            self._live[notice.key] = _Live(notice.kind, covers)
            while len(self._live) > MAX_LIVE:
                del self._live[next(iter(self._live))]
        return notice

    def _hold(self, notice: Notice, away: bool) -> None:
        self._held.items.append((notice.kind, notice.conversation_id))
        self._held.away = self._held.away or away
        # Quiet period: the summary goes out once nothing else arrived for a burst window.
        self._summary_due = self.clock() + self.burst_window

    def _has_held(self) -> bool:
        return bool(self._held.items)

    # ------------------------------------------------------------------ withdrawing: internals

    def _resolve_for(self, conv: p.Conversation) -> None:
        """Withdraw what this state of the conversation makes obsolete (see the module docstring)."""
        me = self.me.id if self.me is not None else None
        if conv.status is not p.ConversationStatus.OPEN:
            self._visitor_lines.pop(conv.id, None)
            self._resolve(conv.id, ALL_KINDS)
            return
        gone: set[NoticeKind] = set()
        if conv.assignee_id is not None:
            gone.add(NoticeKind.NEW_CHAT)
        if conv.first_response_at is not None and conv.id not in self._answered:
            self._answered.add(conv.id)  # just answered (an answered chat handed to me later still alerts)
            gone |= NEEDS_ANSWER
        if conv.assignee_id != me:
            gone.add(NoticeKind.ASSIGNED)
            if conv.assignee_id is not None:
                gone |= NEEDS_ANSWER
            if me not in conv.participant_ids:
                gone |= {NoticeKind.MESSAGE, NoticeKind.PARTICIPANT}
        self._resolve(conv.id, gone)

    def _resolve(self, conversation_id: str, kinds: Iterable[NoticeKind]) -> None:
        pairs = {(conversation_id, kind) for kind in kinds}
        if not pairs:
            return
        for key, live in list(self._live.items()):
            if live.covers & pairs:
                live.covers -= pairs
                if not live.covers:
                    del self._live[key]
                    self._withdrawn.append(key)
        # Held back, not shown yet: what is over by now is left out of the summary.
        self._held.items = [item for item in self._held.items if (item[1], item[0]) not in pairs]


def _who(conv: p.Conversation) -> str:
    """The visitor and, when the name does not already say it, the company: "Dana Lee (Acme Corp)"."""
    name, company = display_name(conv), conv.visitor.company.strip()
    return f"{name} ({company})" if company and company not in name else name


def _cql(level: int | None) -> str:
    if level is None:
        return ""
    if level == 0:
        return "CQL: not qualified"
    return f"CQL {'⚡' * cql_levels.bolts(level)} {cql_levels.name(level)}"


def _facts(conv: p.Conversation) -> str:
    """One line of what an SDR triages by: the CQL rating and where the visitor is."""
    return " · ".join(x for x in (_cql(conv.cql), conv.visitor.location.strip()) if x)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _routed_why(conv: p.Conversation) -> str:
    """Why routing gave the assignee this chat when they weren't its first choice, from the last routing
    audit step ("backup for rule 'us-east'; Sam Chen didn't answer in 30 s" -> the part after "; ")."""
    last = next((s for s in reversed(conv.routing_audit) if s.action == "routed"), None)
    if last is None or last.agent_id != conv.assignee_id or "; " not in last.reason:
        return ""
    why = last.reason.rsplit("; ", 1)[1]
    return why[:1].upper() + why[1:]
