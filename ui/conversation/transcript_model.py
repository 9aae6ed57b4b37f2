"""The open conversation's transcript as a list model: batched inserts, delivery updates, day breaks."""

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
)

from agent_app import protocol as p
from agent_app.store import Delivery, MessageItem
from agent_app.timezones import message_text, reader_zone
from ui.bridge import StoreBridge
from ui.widgets.timefmt import same_day

BATCH_MS = 16

type AnyIndex = QModelIndex | QPersistentModelIndex


class MessageKind(enum.StrEnum):
    VISITOR = "visitor"
    BOT = "bot"
    MINE = "mine"  # my own agent message
    AGENT = "agent"  # a teammate's message
    NOTE = "note"  # a private note (anyone's)
    SYSTEM = "system"


class TranscriptRole(enum.IntEnum):
    """Roles of :class:`TranscriptModel`; Qt.DisplayRole is the message text (plain)."""

    ITEM = Qt.ItemDataRole.UserRole + 1  # MessageItem
    KIND = enum.auto()  # MessageKind
    AUTHOR = enum.auto()
    CREATED_AT = enum.auto()
    DELIVERY = enum.auto()  # Delivery
    ERROR = enum.auto()
    DAY_BREAK = enum.auto()  # bool: first message of a new day (the delegate draws a separator)
    KEY = enum.auto()  # client id or server id: stable across pending -> sent
    ZONE = enum.auto()  # tzinfo: the reader's zone (my profile's, else this machine's) for times and days


def kind_of(item: MessageItem, me_id: str) -> MessageKind:
    m = item.message
    # A team-only system line (assignment, hand-off, booking) is still a system line, not someone's note.
    if m.author_kind is p.AuthorKind.SYSTEM:
        return MessageKind.SYSTEM
    if m.private:
        return MessageKind.NOTE
    match m.author_kind:
        case p.AuthorKind.VISITOR:
            return MessageKind.VISITOR
        case p.AuthorKind.BOT:
            return MessageKind.BOT
    if (me_id and m.author_id == me_id) or item.delivery is not Delivery.SENT or not m.id:
        return MessageKind.MINE
    return MessageKind.AGENT


class TranscriptModel(QAbstractListModel):
    """Rows of one conversation (``set_conversation``); mirrors ``store.transcripts[cid]`` in order.

    Store callbacks carry the row index at the time of the change, so pending inserts are replayed
    in order at flush time; consecutive positions become one ``beginInsertRows`` range.
    """

    def __init__(
        self, bridge: StoreBridge, clock: Callable[[], float] = time.time, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._store = bridge.store
        self.clock = clock
        self.conversation_id = ""
        self._items: list[MessageItem] = []
        self._pending: list[tuple[int, MessageItem]] = []
        self._batch = QTimer(self, singleShot=True, interval=BATCH_MS)
        self._batch.timeout.connect(self.flush)
        bridge.reset.connect(self.on_bridge_reset)
        bridge.message_added.connect(self.on_bridge_message_added)
        bridge.message_changed.connect(self.on_bridge_message_changed)
        bridge.conversation_removed.connect(self.on_bridge_conversation_removed)

    def set_conversation(self, conversation_id: str) -> None:
        self.beginResetModel()
        self.conversation_id = conversation_id
        self._items = list(self._store.transcripts.get(conversation_id, []))
        self._pending.clear()
        self._batch.stop()
        self.endResetModel()

    # ------------------------------------------------------------------ Qt model API

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self._items):
            return None
        item = self._items[index.row()]
        m = item.message
        match role:
            case Qt.ItemDataRole.DisplayRole:
                text = m.text
                if m.meeting is not None or m.card is not None:
                    # a booking line or a shared calendar: its times in my zone, labelled
                    names = {a.id: a.name for a in self._store.agents.values()}
                    text = message_text(m, reader_zone(self._store.me), names)
                if m.private and m.author_kind is p.AuthorKind.SYSTEM:
                    text = f"{text} \N{MIDDLE DOT} team only"
                return text
            case TranscriptRole.ITEM:
                return item
            case TranscriptRole.KIND:
                me = self._store.me
                return kind_of(item, me.id if me else "")
            case TranscriptRole.AUTHOR:
                return m.author_name or _DEFAULT_AUTHOR.get(m.author_kind, "")
            case TranscriptRole.CREATED_AT:
                return m.created_at
            case TranscriptRole.DELIVERY:
                return item.delivery
            case TranscriptRole.ERROR:
                return item.error
            case TranscriptRole.DAY_BREAK:
                row, zone = index.row(), reader_zone(self._store.me)
                return row == 0 or not same_day(self._items[row - 1].message.created_at, m.created_at, zone)
            case TranscriptRole.KEY:
                return item.key
            case TranscriptRole.ZONE:
                return reader_zone(self._store.me)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({int(r): QByteArray(r.name.lower().encode()) for r in TranscriptRole})
        return names

    def item_at(self, row: int) -> MessageItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def failed_keys(self) -> list[str]:
        return [i.key for i in self._items if i.delivery is Delivery.FAILED]

    def oldest_time(self) -> float | None:
        return self._items[0].message.created_at if self._items else None

    # ------------------------------------------------------------------ store events

    def on_bridge_reset(self) -> None:
        self.set_conversation(self.conversation_id)

    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        if conversation_id == self.conversation_id:
            self.set_conversation("")

    def on_bridge_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        if conversation_id != self.conversation_id or not conversation_id:
            return
        self._pending.append((index, item))
        if not self._batch.isActive():
            self._batch.start()

    def on_bridge_message_changed(self, conversation_id: str, index: int, item: MessageItem) -> None:
        if conversation_id != self.conversation_id or not conversation_id:
            return
        self.flush()  # the index refers to the store's list, which includes pending inserts
        if 0 <= index < len(self._items) and self._items[index] is item:
            row = index
        else:
            row = next((i for i, it in enumerate(self._items) if it is item), -1)
        if row >= 0:
            self.dataChanged.emit(self.index(row), self.index(row), [])

    def flush(self) -> None:
        self._batch.stop()
        pending, self._pending = self._pending, []
        while pending:
            start, first_item = pending.pop(0)
            start = min(start, len(self._items))
            group = [first_item]
            while pending and pending[0][0] == start + len(group):
                group.append(pending.pop(0)[1])
            self.beginInsertRows(QModelIndex(), start, start + len(group) - 1)
            self._items[start:start] = group
            self.endInsertRows()
            after = start + len(group)
            if after < len(self._items):  # its day separator may have changed
                self.dataChanged.emit(self.index(after), self.index(after), [TranscriptRole.DAY_BREAK])


_DEFAULT_AUTHOR = {
    p.AuthorKind.VISITOR: "Visitor",
    p.AuthorKind.BOT: "Bot",
    p.AuthorKind.SYSTEM: "",
    p.AuthorKind.AGENT: "Agent",
}
