"""The keyboard shortcuts dialog (F1, Ctrl+/): a table generated from ui.help.shortcuts.SHORTCUTS."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.help.shortcuts import SHORTCUTS, ShortcutSpec

type AnyIndex = QModelIndex | QPersistentModelIndex

HEADERS = ("Where", "Keys", "What it does")


def keys_text(spec: ShortcutSpec) -> str:
    return "  or  ".join(spec.keys)


class ShortcutsModel(QAbstractTableModel):
    """Read-only rows: where it applies, keys, description."""

    def __init__(self, specs: tuple[ShortcutSpec, ...] = SHORTCUTS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.specs = specs

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.specs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole or index.row() >= len(self.specs):
            return None
        spec = self.specs[index.row()]
        return (spec.group, keys_text(spec), spec.description)[index.column()]

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < 3
        ):
            return HEADERS[section]
        return None


class ShortcutsDialog(QDialog):
    """Lists every shortcut; closes with Esc or the button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.model = ShortcutsModel(parent=self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 600)
