"""The conversation queue as one list model over the store: batched inserts and a once-a-second SLA tick."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from agent_app import protocol as p
from ui.bridge import StoreBridge

BATCH_MS = 16  # one model update per frame at most: a burst of 1,000 events/s never blocks painting
SLA_WARN_SECONDS = 10.0

type AnyIndex = QModelIndex | QPersistentModelIndex


class QueueRole(enum.IntEnum):
    """Data roles of :class:`QueueModel` (Qt.DisplayRole is the visitor's display name)."""

    CONVERSATION = Qt.ItemDataRole.UserRole + 1  # p.Conversation
    ID = enum.auto()
    NAME = enum.auto()
    COMPANY = enum.auto()
    PREVIEW = enum.auto()
    UNREAD = enum.auto()
    ASSIGNEE_NAME = enum.auto()  # "" when unassigned
    CQL = enum.auto()  # int | None
    SLA_STATE = enum.auto()  # SlaState
    SLA_REMAINING = enum.auto()  # float seconds (negative when past due) or None
    WAITING_SECONDS = enum.auto()  # float seconds since the visitor started waiting, or None
    LAST_ACTIVITY = enum.auto()  # float timestamp
    AGE_SECONDS = enum.auto()  # float seconds since the last activity
    URGENCY = enum.auto()  # float: smaller is more urgent (the proxy sorts on it)
    SEARCH_TEXT = enum.auto()  # lower-case name + company + email


class SlaState(enum.StrEnum):
    NONE = "none"  # not waiting for a first response
    RUNNING = "running"
    WARNING = "warning"  # the last SLA_WARN_SECONDS
    BREACHED = "breached"


TICK_ROLES = [QueueRole.SLA_STATE, QueueRole.SLA_REMAINING, QueueRole.WAITING_SECONDS, QueueRole.URGENCY]


def display_name(conv: p.Conversation) -> str:
    """Visitor name, else "Visitor from <company>", else "Visitor #<short id>"."""
    v = conv.visitor
    if v.name.strip():
        return v.name.strip()
    if v.company.strip():
        return f"Visitor from {v.company.strip()}"
    return f"Visitor #{(v.id or conv.id)[-5:]}"


def sla_state(conv: p.Conversation, now: float) -> SlaState:
    if conv.status is not p.ConversationStatus.OPEN or conv.sla_due_at is None:
        return SlaState.NONE
    remaining = conv.sla_due_at - now
    if conv.sla_breached or remaining <= 0:
        return SlaState.BREACHED
    return SlaState.WARNING if remaining <= SLA_WARN_SECONDS else SlaState.RUNNING


def urgency(conv: p.Conversation, now: float) -> float:
    """Breached first, then waiting longest, then newest activity; closed last."""
    waiting_since = conv.waiting_since if conv.waiting_since is not None else conv.created_at
    if conv.status is p.ConversationStatus.CLOSED:
        return 4e10 - conv.last_message_at
    state = sla_state(conv, now)
    if state is SlaState.BREACHED:
        return waiting_since
    if state is not SlaState.NONE:
        return 1e10 + waiting_since
    return 2e10 - max(conv.last_message_at, conv.updated_at)


def initials(name: str) -> str:
    parts = [w for w in name.replace("@", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in parts[:2]).upper() or "?"


class QueueModel(QAbstractListModel):
    """One row per conversation the store holds; rows keep store order, the proxy sorts.

    Signals:
        counts_changed: rows were inserted, removed or changed (view tab counts may differ).
    """

    counts_changed = Signal()

    def __init__(
        self, bridge: StoreBridge, clock: Callable[[], float] = time.time, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._store = bridge.store
        self.clock = clock
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._pending: dict[str, None] = {}  # new ids waiting for the next batch (ordered set)
        self._dirty: set[str] = set()
        self._batch = QTimer(self, singleShot=True, interval=BATCH_MS)
        self._batch.timeout.connect(self.flush)
        self._ticks = 0
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self.tick)
        self._tick.start()
        bridge.reset.connect(self.on_bridge_reset)
        bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        bridge.conversation_removed.connect(self.on_bridge_conversation_removed)
        bridge.agent_changed.connect(self.on_bridge_agent_changed)
        bridge.message_added.connect(self.on_bridge_message_added)  # unread counts
        self.on_bridge_reset()

    # ------------------------------------------------------------------ Qt model API

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        conv = self._store.conversations.get(self._ids[index.row()])
        if conv is None:
            return None
        return self._value(conv, role)

    def _value(self, conv: p.Conversation, role: int) -> object:
        match role:
            case Qt.ItemDataRole.DisplayRole | QueueRole.NAME:
                return display_name(conv)
            case Qt.ItemDataRole.ToolTipRole:
                return f"{display_name(conv)}\n{conv.visitor.company}\n{conv.visitor.email}".strip()
            case QueueRole.CONVERSATION:
                return conv
            case QueueRole.ID:
                return conv.id
            case QueueRole.COMPANY:
                return conv.visitor.company
            case QueueRole.PREVIEW:
                return conv.last_message_preview
            case QueueRole.UNREAD:
                return self._store.unread.get(conv.id, 0)
            case QueueRole.ASSIGNEE_NAME:
                agent = self._store.agents.get(conv.assignee_id or "")
                return agent.name if agent else ""
            case QueueRole.CQL:
                return conv.cql
            case QueueRole.SLA_STATE:
                return sla_state(conv, self.clock())
            case QueueRole.SLA_REMAINING:
                return None if conv.sla_due_at is None else conv.sla_due_at - self.clock()
            case QueueRole.WAITING_SECONDS:
                if conv.status is p.ConversationStatus.OPEN and conv.waiting_since is not None:
                    return max(0.0, self.clock() - conv.waiting_since)
                return None
            case QueueRole.LAST_ACTIVITY:
                return max(conv.last_message_at, conv.updated_at, conv.created_at)
            case QueueRole.AGE_SECONDS:
                return max(0.0, self.clock() - max(conv.last_message_at, conv.updated_at, conv.created_at))
            case QueueRole.URGENCY:
                return urgency(conv, self.clock())
            case QueueRole.SEARCH_TEXT:
                v = conv.visitor
                return f"{display_name(conv)}\n{v.company}\n{v.email}".lower()
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({int(r): QByteArray(r.name.lower().encode()) for r in QueueRole})
        return names

    # ------------------------------------------------------------------ lookups

    def conversation_at(self, row: int) -> p.Conversation | None:
        if 0 <= row < len(self._ids):
            return self._store.conversations.get(self._ids[row])
        return None

    def row_of(self, conversation_id: str) -> int:
        """Row of a conversation, flushing a pending batch first; -1 when unknown."""
        if conversation_id in self._pending:
            self.flush()
        return self._rows.get(conversation_id, -1)

    def conversations(self) -> list[p.Conversation]:
        return [c for cid in self._ids if (c := self._store.conversations.get(cid)) is not None]

    # ------------------------------------------------------------------ store events

    def on_bridge_reset(self) -> None:
        self.beginResetModel()
        self._ids = list(self._store.conversations)
        self._rows = {cid: i for i, cid in enumerate(self._ids)}
        self._pending.clear()
        self._dirty.clear()
        self.endResetModel()
        self.counts_changed.emit()

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id in self._rows:
            self._dirty.add(conversation.id)
        else:
            self._pending[conversation.id] = None
        if not self._batch.isActive():
            self._batch.start()

    def on_bridge_message_added(self, conversation_id: str, index: int, item: object) -> None:
        if conversation_id in self._rows:
            self._dirty.add(conversation_id)
            if not self._batch.isActive():
                self._batch.start()

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        self._pending.pop(conversation_id, None)
        self._dirty.discard(conversation_id)
        row = self._rows.get(conversation_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._ids[row]
        self._rows = {cid: i for i, cid in enumerate(self._ids)}
        self.endRemoveRows()
        self.counts_changed.emit()

    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        if self._ids:  # assignee names and "mine" may change; cheap to repaint all
            self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1), [QueueRole.ASSIGNEE_NAME])

    def flush(self) -> None:
        """Apply the batch: one beginInsertRows for every new conversation, dataChanged for updated ones."""
        self._batch.stop()
        new = [cid for cid in self._pending if cid in self._store.conversations and cid not in self._rows]
        self._pending.clear()
        if new:
            first = len(self._ids)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._ids.extend(new)
            self._rows.update((cid, first + i) for i, cid in enumerate(new))
            self.endInsertRows()
        dirty_rows = sorted(self._rows[cid] for cid in self._dirty if cid in self._rows)
        self._dirty.clear()
        for start, end in _ranges(dirty_rows):
            self.dataChanged.emit(self.index(start), self.index(end), [])
        if new or dirty_rows:
            self.counts_changed.emit()

    def tick(self) -> None:
        """Repaint the countdown of rows waiting for a first response (only those, only time roles)."""
        rows = sorted(
            self._rows[cid]
            for cid in self._ids
            if (c := self._store.conversations.get(cid)) is not None
            and c.status is p.ConversationStatus.OPEN
            and (c.sla_due_at is not None or c.waiting_since is not None)
        )
        for start, end in _ranges(rows):
            self.dataChanged.emit(self.index(start), self.index(end), TICK_ROLES)
        self._ticks += 1
        if self._ticks % 30 == 0 and self._ids:  # "5m" ages of the other rows, twice a minute
            self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1), [QueueRole.AGE_SECONDS])


def _ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers grouped into contiguous (first, last) ranges."""
    out: list[tuple[int, int]] = []
    for row in rows:
        if out and row == out[-1][1] + 1:
            out[-1] = (out[-1][0], row)
        else:
            out.append((row, row))
    return out
