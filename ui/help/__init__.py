"""Help: the shortcut table (single source) and the dialog that lists it."""

from ui.help.dialog import ShortcutsDialog, ShortcutsModel
from ui.help.shortcuts import SHORTCUTS, ShortcutSpec, registered

__all__ = ["SHORTCUTS", "ShortcutSpec", "ShortcutsDialog", "ShortcutsModel", "registered"]
