"""The conversation queue as one list model over the store: batched inserts and a once-a-second SLA tick."""

from __future__ import annotations

import bisect
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
from agent_app.display import display_name as display_name  # re-exported: header, summary, proxy
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
    """One row per conversation the store holds, kept in urgency order (the proxy only filters).

    Every row has a precomputed sort key ``(urgency, id)`` and a view bitmask (see :func:`view_mask`),
    so ordering is one C-level sort of tuples and filtering is a bit test; ``data()`` is never called
    to sort or filter. A key changes only when the conversation changes or its SLA runs out, and
    rows are then re-placed with one layout change per batch (never a full re-sort through Qt).

    While *held* (the pointer is over the list: see :meth:`set_held`), rows keep their places: a
    re-keyed row, a row whose views changed and a row that would be inserted at or above the
    :attr:`anchor` (the row under the pointer) wait in a side list, and a removed row stays as a
    "ghost" with its last data; new rows that sort below the anchor still appear. Releasing applies
    what waited in one batch, so the click a user aims at a row always lands on that row.

    Signals:
        counts_changed: rows were inserted, removed or changed (view tab counts may differ).
        held_changed(int): how many changes wait for the hold to end (0 once applied).
    """

    counts_changed = Signal()
    held_changed = Signal(int)

    def __init__(
        self, bridge: StoreBridge, clock: Callable[[], float] = time.time, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._store = bridge.store
        self.clock = clock
        self.me_id = ""
        self._order: list[tuple[float, str]] = []  # sorted (urgency, id); row i is _order[i]
        self._key: dict[str, tuple[float, str]] = {}
        self._mask: dict[str, int] = {}  # id -> view bits (1 << QueueView)
        self._search: dict[str, str] = {}  # id -> lower-case name/company/email, filled on demand
        self._waiting: set[str] = set()  # open and waiting for a first response (the tick repaints them)
        self._timed: dict[str, float] = {}  # id -> SLA due time, not yet breached (its key changes then)
        self._pending: dict[str, None] = {}  # new ids waiting for the next batch (ordered set)
        self._dirty: set[str] = set()
        self.visible_rows: Callable[[], list[int]] | None = None  # set by the pane: rows on screen
        self.anchor: Callable[[], str] | None = None  # set by the pane: the id under the pointer
        self.held = False
        self._held_new: dict[str, None] = {}  # new ids that would land at/above the anchor
        self._held_dirty: set[str] = set()  # re-keyed or re-masked ids kept in their old place
        self._ghosts: set[str] = set()  # removed while held: an empty row keeps its place until release
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
        return 0 if parent.isValid() else len(self._order)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        return self.data_at(index.row(), role)

    def data_at(self, row: int, role: int) -> object:
        """``data()`` by row number (the proxy calls this without building source indexes)."""
        if not 0 <= row < len(self._order):
            return None
        conv = self._store.conversations.get(self._order[row][1])
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
                return self.search_text(conv.id)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({int(r): QByteArray(r.name.lower().encode()) for r in QueueRole})
        return names

    # ------------------------------------------------------------------ lookups

    def conversation_at(self, row: int) -> p.Conversation | None:
        if 0 <= row < len(self._order):
            return self._store.conversations.get(self._order[row][1])
        return None

    def id_at(self, row: int) -> str:
        return self._order[row][1] if 0 <= row < len(self._order) else ""

    def row_of(self, conversation_id: str) -> int:
        """Row of a conversation, flushing a pending batch first; -1 when unknown. O(log n)."""
        if conversation_id in self._pending:
            self.flush()
        return self.find(conversation_id)

    def find(self, conversation_id: str) -> int:
        key = self._key.get(conversation_id)
        if key is None:
            return -1
        row = bisect.bisect_left(self._order, key)
        return row if row < len(self._order) and self._order[row] == key else -1

    def conversations(self) -> list[p.Conversation]:
        convs = self._store.conversations
        return [c for _, cid in self._order if (c := convs.get(cid)) is not None]

    def ids(self) -> list[str]:
        """Conversation ids in row (urgency) order."""
        return [cid for _, cid in self._order]

    def masks(self) -> dict[str, int]:
        """id -> view bits; the proxy filters and the pane counts with these."""
        return self._mask

    def search_text(self, conversation_id: str) -> str:
        text = self._search.get(conversation_id)
        if text is None:
            conv = self._store.conversations.get(conversation_id)
            if conv is None:
                return ""
            v = conv.visitor
            text = self._search[conversation_id] = f"{display_name(conv)}\n{v.company}\n{v.email}".lower()
        return text

    def fill_search_texts(self) -> dict[str, str]:
        """Every row's search text (computed once, kept until the conversation changes)."""
        if len(self._search) < len(self._order):
            for _, cid in self._order:
                if cid not in self._search:
                    self.search_text(cid)
        return self._search

    def set_me(self, agent_id: str) -> None:
        """Whose Mine/Participating views the masks describe; re-masks every row when it changes."""
        if agent_id == self.me_id:
            return
        self.layoutAboutToBeChanged.emit()
        self.me_id = agent_id
        convs = self._store.conversations
        self._mask = {cid: view_mask(convs[cid], agent_id) for _, cid in self._order if cid in convs}
        self.layoutChanged.emit()
        self.counts_changed.emit()

    # ------------------------------------------------------------------ store events

    def _index_conversation(self, conv: p.Conversation, now: float) -> tuple[float, str]:
        """(Re)compute the key, view mask and SLA bookkeeping of one conversation; returns the key."""
        cid = conv.id
        key = (urgency(conv, now), cid)
        self._key[cid] = key
        self._mask[cid] = view_mask(conv, self.me_id)
        self._search.pop(cid, None)
        if conv.status is p.ConversationStatus.OPEN and (
            conv.sla_due_at is not None or conv.waiting_since is not None
        ):
            self._waiting.add(cid)
        else:
            self._waiting.discard(cid)
        if (
            conv.status is p.ConversationStatus.OPEN
            and conv.sla_due_at is not None
            and not conv.sla_breached
            and conv.sla_due_at > now
        ):
            self._timed[cid] = conv.sla_due_at
        else:
            self._timed.pop(cid, None)
        return key

    # ------------------------------------------------------------------ holding still

    def set_held(self, held: bool) -> None:
        """Hold rows in place (the pane: pointer over the list or a button down) or apply what waited."""
        if held == self.held:
            return
        self.held = held
        if not held:
            self.apply_held()

    def apply_held(self) -> None:
        """Apply the changes that waited (the hold itself stays as it is)."""
        if not (self._held_new or self._held_dirty or self._ghosts):
            return
        held, self.held = self.held, False
        try:
            for cid in self._ghosts:
                if cid not in self._store.conversations:
                    self._remove_row(cid)
            self._ghosts.clear()
            self._pending.update(self._held_new)
            self._held_new.clear()
            self._dirty |= self._held_dirty
            self._held_dirty.clear()
            self.flush()
        finally:
            self.held = held
        self.held_changed.emit(0)

    def held_count(self) -> int:
        """Changes waiting for the hold to end (new rows above the pointer, moves, removals)."""
        return len(self._held_new) + len(self._held_dirty) + len(self._ghosts)

    def _anchor_key(self) -> tuple[float, str] | None:
        anchor = self.anchor() if self.anchor is not None else ""
        return self._key.get(anchor) if anchor else None

    def on_bridge_reset(self) -> None:
        self.beginResetModel()
        self._held_new.clear()
        self._held_dirty.clear()
        self._ghosts.clear()
        self._key.clear()
        self._mask.clear()
        self._search.clear()
        self._waiting.clear()
        self._timed.clear()
        now = self.clock()
        index = self._index_conversation
        self._order = sorted([index(conv, now) for conv in self._store.conversations.values()])
        self._pending.clear()
        self._dirty.clear()
        self.endResetModel()
        self.counts_changed.emit()

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id in self._held_new:
            return  # placed when the hold ends, with whatever it looks like then
        if conversation.id in self._key:
            self._dirty.add(conversation.id)
        else:
            self._pending[conversation.id] = None
        if not self._batch.isActive():
            self._batch.start()

    def on_bridge_message_added(self, conversation_id: str, index: int, item: object) -> None:
        if conversation_id in self._key:
            self._dirty.add(conversation_id)
            if not self._batch.isActive():
                self._batch.start()

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        self._pending.pop(conversation_id, None)
        self._held_new.pop(conversation_id, None)
        self._held_dirty.discard(conversation_id)
        self._dirty.discard(conversation_id)
        if self.held and conversation_id in self._key:  # its (now empty) row keeps its place
            self._ghosts.add(conversation_id)
            row = self.find(conversation_id)
            self.dataChanged.emit(self.index(row), self.index(row), [])
            self.held_changed.emit(self.held_count())
            return
        self._remove_row(conversation_id)

    def _remove_row(self, conversation_id: str) -> None:
        row = self.find(conversation_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._order[row]
        del self._key[conversation_id]
        self._mask.pop(conversation_id, None)
        self._search.pop(conversation_id, None)
        self._waiting.discard(conversation_id)
        self._timed.pop(conversation_id, None)
        self.endRemoveRows()
        self.counts_changed.emit()

    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        if self._order:  # assignee names may change; the proxy maps this to the rows it shows
            self.dataChanged.emit(self.index(0), self.index(len(self._order) - 1), [QueueRole.ASSIGNEE_NAME])

    def flush(self) -> None:
        """Apply the batch: one insert for every new conversation, at most one layout change to put new
        and re-keyed rows in place (and to re-filter rows whose view membership changed), then
        dataChanged for updated rows that stayed where they were."""
        self._batch.stop()
        convs = self._store.conversations
        now = self.clock()
        new = [cid for cid in self._pending if cid in convs and cid not in self._key]
        self._pending.clear()
        held_before = self.held_count()
        if self.held and new:  # only rows that sort below the row under the pointer may appear now
            anchor = self._anchor_key()
            below = [] if anchor is None else [cid for cid in new if (urgency(convs[cid], now), cid) > anchor]
            shown = set(below)
            self._held_new.update(dict.fromkeys(cid for cid in new if cid not in shown))
            new = below
        if new:  # appended first (one insert), placed by the layout change below
            first = len(self._order)
            keys = [self._index_conversation(convs[cid], now) for cid in new]
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._order.extend(keys)
            self.endInsertRows()
        moved: dict[str, tuple[float, str]] = {}  # id -> old key
        remasked = False
        dirty = [cid for cid in self._dirty if cid in self._key and cid in convs]
        self._dirty.clear()
        for cid in dirty:
            old_key, old_mask = self._key[cid], self._mask.get(cid)
            self._ghosts.discard(cid)
            key = self._index_conversation(convs[cid], now)
            if self.held and (key != old_key or self._mask[cid] != old_mask):
                # keep its place (and view membership) until the hold ends; its content still updates
                self._key[cid], self._mask[cid] = old_key, old_mask if old_mask is not None else 0
                self._held_dirty.add(cid)
                continue
            if key != old_key:
                moved[cid] = old_key
            remasked = remasked or self._mask[cid] != old_mask
        if new or moved or remasked:
            self._relayout(moved, len(new))
        stayed = [cid for cid in dirty if cid not in moved]
        if stayed:
            rows = sorted(self.find(cid) for cid in stayed)
            for start, end in _ranges([r for r in rows if r >= 0]):
                self.dataChanged.emit(self.index(start), self.index(end), [])
        if new or dirty:
            self.counts_changed.emit()
        if self.held and self.held_count() != held_before:
            self.held_changed.emit(self.held_count())

    def _relayout(self, moved: dict[str, tuple[float, str]], appended: int) -> None:
        """Put re-keyed rows (old keys in ``moved``) and the last ``appended`` rows in order."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        persistent_ids = [self.id_at(i.row()) for i in persistent]
        order = self._order
        sorted_end = len(order) - appended  # the appended tail already holds its keys, unsorted
        if len(moved) + appended > 64:
            for cid, old in moved.items():
                order[bisect.bisect_left(order, old, hi=sorted_end)] = self._key[cid]
            order.sort()
        else:
            tail = order[sorted_end:]
            del order[sorted_end:]
            for old in moved.values():
                i = bisect.bisect_left(order, old)
                if i < len(order) and order[i] == old:
                    del order[i]
            for key in [*tail, *(self._key[cid] for cid in moved)]:
                bisect.insort(order, key)
        if persistent:
            self.changePersistentIndexList(
                persistent,
                [self.index(r) if (r := self.find(cid)) >= 0 else QModelIndex() for cid in persistent_ids],
            )
        self.layoutChanged.emit()

    def on_view_destroyed(self) -> None:
        """The pane's list is gone (its window closed before the model): no more calls into it."""
        self.visible_rows = None
        self.anchor = None

    def tick(self) -> None:
        """Once a second: re-place rows whose SLA just ran out (their key changes), then repaint the
        countdowns of waiting rows (only those on screen when the pane says which, only time roles)."""
        now = self.clock()
        expired = [cid for cid, due in self._timed.items() if due <= now]
        if expired:
            convs = self._store.conversations
            moved = {}
            for cid in expired:
                if self.held:  # re-placed when the hold ends (the row's countdown still repaints)
                    self._held_dirty.add(cid)
                    self._timed.pop(cid, None)
                    continue
                old = self._key[cid]
                if cid in convs and self._index_conversation(convs[cid], now) != old:
                    moved[cid] = old
                self._timed.pop(cid, None)
            if moved:
                self._relayout(moved, 0)
        visible = self.visible_rows() if self.visible_rows is not None else None
        if visible is None:
            rows = sorted(r for cid in self._waiting if (r := self.find(cid)) >= 0)
        else:
            waiting, order = self._waiting, self._order
            rows = [r for r in visible if 0 <= r < len(order) and order[r][1] in waiting]
        for start, end in _ranges(rows):
            self.dataChanged.emit(self.index(start), self.index(end), TICK_ROLES)
        self._ticks += 1
        if self._ticks % 30 == 0 and self._order:  # "5m" ages of the other rows, twice a minute
            first, last = (0, len(self._order) - 1) if not visible else (min(visible), max(visible))
            self.dataChanged.emit(self.index(first), self.index(last), [QueueRole.AGE_SECONDS])


def view_mask(conv: p.Conversation, me_id: str) -> int:
    """The views a conversation belongs in, as bits ``1 << QueueView`` (same rules as ``proxy.in_view``)."""
    if conv.status is not p.ConversationStatus.OPEN:
        return VIEW_CLOSED
    mask = VIEW_ALL
    if conv.assignee_id is None:
        mask |= VIEW_WAITING
    elif me_id and conv.assignee_id == me_id:
        mask |= VIEW_MINE
    if me_id and me_id in conv.participant_ids:
        mask |= VIEW_PARTICIPATING
    return mask


# bits of view_mask, by QueueView value (Mine, Waiting, Participating, All, Closed)
VIEW_MINE, VIEW_WAITING, VIEW_PARTICIPATING, VIEW_ALL, VIEW_CLOSED = (1 << i for i in range(5))


def _ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers grouped into contiguous (first, last) ranges."""
    out: list[tuple[int, int]] = []
    for row in rows:
        if out and row == out[-1][1] + 1:
            out[-1] = (out[-1][0], row)
        else:
            out.append((row, row))
    return out
