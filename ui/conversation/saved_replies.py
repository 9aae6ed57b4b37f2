"""Saved replies in the composer: "/" at the start or Ctrl+; opens a filterable picker; Enter inserts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QKeySequence, QPainter, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app import saved_replies as sr
from agent_app.session import ConnectionState
from agent_app.store import Delivery, MessageItem
from ui.help.shortcuts import shortcut_keys
from ui.style import Palette, named

if TYPE_CHECKING:
    from agent_app.session import Session
    from ui.bridge import StoreBridge
    from ui.conversation.composer import Composer
    from ui.main_window import MainWindow
    from ui.settings.saved_replies_dialog import SavedRepliesDialog
    from ui.tasks import TaskRunner

ReplyRole = Qt.ItemDataRole.UserRole + 1
PICKER_ROWS = 6
ROW_HEIGHT = 48
_Index = QModelIndex | QPersistentModelIndex


def picker_keys() -> list[QKeySequence]:
    """The key sequences of "saved_replies" in the one shortcut table (Ctrl+;)."""
    return [QKeySequence(k) for k in shortcut_keys("saved_replies")]


def preview(text: str) -> str:
    return " ".join(text.split())


class SavedRepliesModel(QAbstractListModel):
    """Mine and the team's replies from the store, by shortcut; reloaded when they change."""

    def __init__(self, bridge: StoreBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = bridge.store
        self._rows: list[p.SavedReply] = []
        bridge.saved_replies_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._rows = sorted(
            self.store.saved_replies.values(), key=lambda r: (r.shortcut, sr.is_team(r), r.id)
        )
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        reply = self._rows[index.row()]
        if role == ReplyRole:
            return reply
        if role == Qt.ItemDataRole.DisplayRole:
            return f"/{reply.shortcut} {reply.title}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return reply.text
        return None

    def row_of(self, reply_id: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == reply_id), -1)


class SavedRepliesProxy(QSortFilterProxyModel):
    """Filters and orders by :func:`agent_app.saved_replies.rank` of what was typed; ``scope`` narrows to
    "team" or "personal" (the settings dialog)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.query = ""
        self.scope = ""
        self.setDynamicSortFilter(True)

    def set_query(self, query: str) -> None:
        if query != self.query:
            self.beginFilterChange()
            self.query = query
            self.endFilterChange()
            self.invalidate()  # the order depends on the query too

    def _reply(self, row: int, parent: _Index) -> p.SavedReply:
        reply: p.SavedReply = self.sourceModel().index(row, 0, parent).data(ReplyRole)
        return reply

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        reply = self._reply(source_row, source_parent)
        if self.scope and (self.scope == "team") != sr.is_team(reply):
            return False
        return sr.rank(reply, self.query) is not None

    def lessThan(self, left: _Index, right: _Index) -> bool:
        a: p.SavedReply = left.data(ReplyRole)
        b: p.SavedReply = right.data(ReplyRole)
        return self._key(a) < self._key(b)

    def _key(self, reply: p.SavedReply) -> tuple[int, bool, str, str]:
        return (sr.rank(reply, self.query) or 0, sr.is_team(reply), reply.shortcut, reply.id)

    def reply_at(self, row: int) -> p.SavedReply | None:
        if not 0 <= row < self.rowCount():
            return None
        reply: p.SavedReply = self.index(row, 0).data(ReplyRole)
        return reply


class SavedReplyDelegate(QStyledItemDelegate):
    """Two painted lines: "/shortcut  Title   [Team|Personal]" and a one-line preview (plain text). With
    ``values`` (the open conversation's), the preview shows the text as it will be inserted."""

    values: dict[str, str] | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(option.rect.width(), ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        reply: p.SavedReply | None = index.data(ReplyRole)
        if reply is None:
            return
        painter.save()
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, QColor(Palette.SELECTION if selected else Palette.SURFACE))
        inner = rect.adjusted(10, 5, -10, -5)
        top = QRect(inner.left(), inner.top(), inner.width(), inner.height() // 2)
        bottom = QRect(inner.left(), top.bottom() + 1, inner.width(), inner.height() - top.height())
        font = QFont(option.font)
        bold = QFont(font)
        bold.setBold(True)
        tag = "Team" if sr.is_team(reply) else "Personal"
        painter.setFont(font)
        tag_width = painter.fontMetrics().horizontalAdvance(tag) + 12
        tag_rect = QRect(top.right() - tag_width, top.top() + 1, tag_width, top.height() - 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(Palette.ACCENT_SOFT if sr.is_team(reply) else Palette.HOVER))
        painter.drawRoundedRect(tag_rect, 4, 4)
        painter.setPen(QColor(Palette.ACCENT if sr.is_team(reply) else Palette.TEXT_MUTED))
        painter.drawText(tag_rect, Qt.AlignmentFlag.AlignCenter, tag)
        shortcut = f"/{reply.shortcut}"
        painter.setFont(bold)
        painter.setPen(QColor(Palette.ACCENT_DARK))
        width = painter.fontMetrics().horizontalAdvance(shortcut)
        left = QRect(top.left(), top.top(), top.width() - tag_width - 8, top.height())
        painter.drawText(left, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shortcut)
        painter.setFont(font)
        painter.setPen(QColor(Palette.TEXT))
        title_rect = left.adjusted(width + 8, 0, 0, 0)
        title = painter.fontMetrics().elidedText(reply.title, Qt.TextElideMode.ElideRight, title_rect.width())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        painter.setPen(QColor(Palette.TEXT_MUTED))
        body = reply.text if self.values is None else sr.expand(reply.text, self.values).text
        text = painter.fontMetrics().elidedText(preview(body), Qt.TextElideMode.ElideRight, bottom.width())
        painter.drawText(bottom, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()


class SavedRepliesPicker(QFrame):
    """The popup over the composer. It never takes focus: the composer keeps typing into the filter, and
    the feature forwards Up/Down/Enter/Esc here.

    Signals:
        reply_chosen(SavedReply): Enter or a click on a row.
        manage_requested: "Manage…" was clicked.
    """

    reply_chosen = Signal(object)
    manage_requested = Signal()

    def __init__(self, model: SavedRepliesModel, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("savedRepliesPicker")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.proxy = SavedRepliesProxy(self)
        self.proxy.setSourceModel(model)
        self.proxy.sort(0)
        self.title = named(QLabel("Saved replies", self), "savedRepliesTitle")
        self.manage = named(QToolButton(self), "savedRepliesManage")
        self.manage.setText("Manage…")
        self.manage.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.manage.setToolTip("Create and edit your saved replies")
        self.list = QListView(self)
        self.list.setObjectName("savedRepliesList")
        self.list.setModel(self.proxy)
        self.delegate = SavedReplyDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.empty = named(QLabel(self), "savedRepliesEmpty")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setWordWrap(True)
        self.hint = named(QLabel("↑↓ choose · Enter insert · Esc close", self), "savedRepliesHint")
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title, 1)
        head.addWidget(self.manage)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.hint)
        self.list.clicked.connect(self.on_list_clicked)
        self.manage.clicked.connect(self.manage_requested)
        self.proxy.modelReset.connect(self._refresh)
        self.proxy.layoutChanged.connect(self._refresh)
        self.proxy.rowsInserted.connect(self._refresh)
        self.proxy.rowsRemoved.connect(self._refresh)
        self.problem = ""
        self.bottom = -1  # y (in the parent) the popup's bottom edge stays on as its height changes
        self.hide()

    def set_query(self, query: str) -> None:
        self.proxy.set_query(query)
        self._refresh()
        self.select(0)

    def set_problem(self, problem: str) -> None:
        """E.g. the list could not be loaded; shown instead of "no replies yet"."""
        self.problem = problem
        self._refresh()

    def current(self) -> p.SavedReply | None:
        return self.proxy.reply_at(self.list.currentIndex().row())

    def select(self, row: int) -> None:
        count = self.proxy.rowCount()
        if count:
            row = max(0, min(count - 1, row))
            self.list.setCurrentIndex(self.proxy.index(row, 0))

    def step(self, step: int) -> None:
        count = self.proxy.rowCount()
        if count:
            self.select((self.list.currentIndex().row() + step) % count)

    def choose(self) -> bool:
        reply = self.current()
        if reply is None:
            return False
        self.reply_chosen.emit(reply)
        return True

    def on_list_clicked(self, index: QModelIndex) -> None:
        self.list.setCurrentIndex(index)
        self.choose()

    def _refresh(self) -> None:
        count = self.proxy.rowCount()
        self.list.setVisible(count > 0)
        self.empty.setVisible(count == 0)
        if count == 0:
            query = self.proxy.query.strip()
            if self.problem:
                self.empty.setText(self.problem)
            elif query:
                self.empty.setText(f"No saved reply matches “{query}”. Manage… creates one.")
            else:
                self.empty.setText("No saved replies yet. Manage… creates your first one.")
        if count and not self.list.currentIndex().isValid():
            self.select(0)
        rows = max(1, min(PICKER_ROWS, count))
        self.list.setFixedHeight(rows * ROW_HEIGHT + 4)
        self.adjustSize()
        if self.bottom >= 0:  # grow upwards from the composer, never over it
            height = self.sizeHint().height()
            self.setGeometry(self.x(), max(0, self.bottom - height), self.width(), height)


class SavedRepliesFeature(QObject):
    """Wires the picker to one composer: triggers, filtering as the SDR types, insertion with variables
    expanded for the open conversation, the unknown-variable check, the calendar card after sending."""

    def __init__(
        self,
        composer: Composer,
        bridge: StoreBridge,
        session: Session,
        runner: TaskRunner,
        conversation_id: Callable[[], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.dialog_parent = parent
        self.dialog: SavedRepliesDialog | None = None
        self.composer, self.edit = composer, composer.edit
        self.bridge, self.store, self.session, self.runner = bridge, bridge.store, session, runner
        self.conversation_id = conversation_id
        self.model = SavedRepliesModel(bridge, self)
        host = composer.parentWidget() or composer
        self.picker = SavedRepliesPicker(self.model, host)
        self.followups = sr.CalendarFollowUps()
        self.loaded = False  # the list was requested on the current connection
        self.keys = picker_keys()
        self._anchor = -1  # text position where the query starts (after "/")
        self._slash = False  # opened by "/" (the "/" is replaced on insertion)
        self._unresolved: tuple[str, ...] = ()
        self.calendar_chip = named(QToolButton(composer), "calendarChip")
        self.calendar_chip.setText("📅 Calendar card follows  ✕")
        self.calendar_chip.setToolTip(
            "Your booking card is shared right after this message. Click to cancel."
        )
        self.calendar_chip.hide()
        composer.add_action(self.calendar_chip)
        composer.send_checks.append(self.check_before_send)
        self.edit.installEventFilter(self)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.edit.textChanged.connect(self.on_edit_text_changed)
        self.edit.cursorPositionChanged.connect(self.on_edit_text_changed)
        self.picker.reply_chosen.connect(self.insert)
        self.picker.manage_requested.connect(self.on_picker_manage_requested)
        self.composer.message_submitted.connect(self.on_composer_message_submitted)
        self.bridge.message_changed.connect(self.on_bridge_message_changed)
        self.calendar_chip.clicked.connect(self.cancel_calendar)

    # ------------------------------------------------------------------ API

    def is_open(self) -> bool:
        return self.picker.isVisible()

    def open(self, *, slash: bool = False) -> None:
        """Show the picker; the query is what the SDR types from here on."""
        if not self.edit.isEnabled():
            return
        self._slash = slash
        self._anchor = self.edit.textCursor().position()
        self.picker.delegate.values = self._values()
        self.ensure_loaded()
        self.picker.set_query("")
        self.picker.show()
        self.picker.raise_()
        self._place()
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def close(self) -> None:
        self.picker.hide()
        self._anchor = -1

    def ensure_loaded(self) -> None:
        """Loads the list once per connection, the first time the picker or the editor opens (not at
        connect time: a team reconnecting after a server restart does not stampede it). Live events keep
        it current afterwards."""
        if self.loaded or getattr(self.session, "state", None) is not ConnectionState.ONLINE:
            return
        self.loaded = True

        def failed(exc: Exception) -> None:
            self.loaded = False
            self.picker.set_problem(f"Saved replies could not be loaded: {exc}")

        self.picker.set_problem("Loading saved replies…")
        self.runner.run(
            sr.refresh(self.session), what="Loading saved replies", on_error=failed,
            on_success=lambda _: self.picker.set_problem(""),
        )  # fmt: skip

    def on_session_state(self, state: object, detail: str) -> None:
        """Offline or reconnecting: events may be missed (a resync replays none), so load again next
        time; back online with the picker or the editor open: load now."""
        if state is not ConnectionState.ONLINE:
            self.loaded = False
        elif self.is_open() or (self.dialog is not None and self.dialog.isVisible()):
            self.ensure_loaded()

    def insert(self, reply: p.SavedReply) -> None:
        """Replace "/query" (or the query typed since Ctrl+;) with the expanded reply; never sends."""
        cid = self.conversation_id()
        expansion = sr.expand(reply.text, self._values())
        cursor = self.edit.textCursor()
        start = max(0, self._anchor - (1 if self._slash else 0))
        end = max(cursor.position(), start)
        self.close()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(expansion.text)
        self.edit.setTextCursor(cursor)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._unresolved = expansion.unknown
        if expansion.unknown:
            self.composer.show_error(self._unknown_message(expansion.unknown))
        if expansion.shares_calendar and cid:
            self.followups.arm(cid)
        self.show_calendar_chip()

    def check_before_send(self, text: str) -> str:
        """A Composer send check: refuses while a {token} the inserted reply left unresolved remains."""
        left = tuple(token for token in self._unresolved if token in text)
        self._unresolved = left
        return self._unknown_message(left) if left else ""

    def cancel_calendar(self) -> None:
        self.followups.disarm(self.conversation_id())
        self.show_calendar_chip()

    def show_calendar_chip(self) -> None:
        """Follows the open conversation (call when it changes)."""
        self.calendar_chip.setVisible(self.followups.is_armed(self.conversation_id()))

    # ------------------------------------------------------------------ events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            return self._key(event)
        focus_out = watched is self.edit and event.type() == QEvent.Type.FocusOut
        if focus_out and self.is_open() and not self.picker.underMouse():
            self.close()
        return False

    def _key(self, event: QKeyEvent) -> bool:
        combo = QKeySequence(event.keyCombination())
        if any(combo.matches(k) == QKeySequence.SequenceMatch.ExactMatch for k in self.keys):
            if self.is_open():
                self.close()
            else:
                self.open()
            return True
        if not self.is_open():
            if event.text() == "/" and not self.edit.toPlainText().strip():
                self.edit.textCursor().insertText("/")
                self.open(slash=True)
                return True
            return False
        key = event.key()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.picker.step(-1 if key == Qt.Key.Key_Up else 1)
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
            if not self.picker.choose() and key != Qt.Key.Key_Tab:
                self.close()  # nothing matches: Enter goes on to the composer (sends what was typed)
                return False
            return True
        if key == Qt.Key.Key_Escape:
            self.close()
            return True
        return False

    def on_edit_text_changed(self) -> None:
        if not self.is_open():
            return
        text, pos = self.edit.toPlainText(), self.edit.textCursor().position()
        if pos < self._anchor or (self._slash and text[self._anchor - 1 : self._anchor] != "/"):
            self.close()  # the "/" was deleted, or the cursor left the query
            return
        query = text[self._anchor : pos]
        if "\n" in query:
            self.close()
            return
        self.picker.set_query(query)
        if self._slash and " " in query and self.picker.proxy.rowCount() == 0:
            self.close()  # a sentence that happens to start with "/", not a shortcut

    def on_picker_manage_requested(self) -> None:
        self.close()
        self.open_editor()

    def open_editor(self) -> None:
        """The "Saved replies" settings dialog (one, kept; non-modal so the SDR can keep chatting)."""
        from ui.settings.saved_replies_dialog import SavedRepliesDialog

        self.ensure_loaded()
        if self.dialog is None:
            self.dialog = SavedRepliesDialog(
                self.bridge, self.session, self.runner, self.model, self.dialog_parent
            )
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def on_composer_message_submitted(self, text: str, private: bool) -> None:
        cid = self.conversation_id()
        self._unresolved = ()
        if not self.followups.is_armed(cid):
            return
        me = self.store.me.id if self.store.me else ""
        pending = next(
            (
                item
                for item in reversed(self.store.transcripts.get(cid, []))
                if item.delivery is Delivery.PENDING
                and item.message.author_id == me
                and item.message.text == text
            ),
            None,
        )
        if pending is not None:  # otherwise the send was refused and the draft is back: stay armed
            self.followups.message_sent(cid, pending.message.client_id, private)
        self.show_calendar_chip()

    def on_window_conversation_opened(self, conversation_id: str) -> None:
        self.close()
        self.show_calendar_chip()

    def on_bridge_message_changed(self, conversation_id: str, index: int, item: MessageItem) -> None:
        if item.delivery is Delivery.PENDING or not item.message.client_id:
            return
        self.followups.delivered(item.message.client_id, item.delivery is Delivery.SENT, self._share_calendar)

    # ------------------------------------------------------------------ internals

    def _values(self) -> dict[str, str]:
        conversation = self.store.conversations.get(self.conversation_id())
        return sr.values_for(conversation.visitor if conversation else None, self.store.me)

    def _share_calendar(self, conversation_id: str) -> None:
        me = self.store.me
        if me is not None:
            self.runner.run(self.session.share_calendar(conversation_id, me.id), what="Sharing my calendar")

    def _unknown_message(self, tokens: tuple[str, ...]) -> str:
        names = ", ".join(tokens)
        return f"Replace {names} before sending: the saved reply uses a variable this app doesn't know."

    def _place(self) -> None:
        """Just above the composer, as wide as it (minus margins)."""
        host = self.picker.parentWidget()
        if host is None:
            return
        top_left = self.composer.mapTo(host, self.composer.rect().topLeft())
        width = max(320, self.composer.width() - 28)
        self.picker.setFixedWidth(width)
        self.picker.move(top_left.x() + 14, 0)
        self.picker.bottom = top_left.y()
        self.picker.set_query(self.picker.proxy.query)  # lays it out against that bottom edge


def install_saved_replies(window: MainWindow) -> SavedRepliesFeature:
    """Call once after creating the MainWindow: the picker in its composer, "Saved replies…" in the
    presence menu (ui.shell.features.install_features does)."""
    view = window.conversation
    feature = SavedRepliesFeature(
        view.composer, window.bridge, window.session, window.runner, lambda: view.conversation_id, window
    )
    window.presence_button.saved_replies_clicked.connect(feature.open_editor)
    window.conversation_opened.connect(feature.on_window_conversation_opened)
    add_listener = getattr(window.session, "add_state_listener", None)
    if add_listener is not None:
        add_listener(feature.on_session_state)
    return feature
