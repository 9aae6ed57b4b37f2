"""The one table of keyboard shortcuts: the main window registers from it, the help dialog lists it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt


@dataclass(frozen=True, slots=True)
class ShortcutSpec:
    """One shortcut. ``native`` ones are handled by a widget or installed by the feature that owns them
    (listed here, not registered by the main window; the feature reads its keys with :func:`shortcut_keys`).

    ``context`` is where a registered shortcut applies: "window" (anywhere in the main window) or
    "queue" (while focus is in the queue pane).
    """

    action: str
    keys: tuple[str, ...]
    description: str
    group: str
    context: str = "window"
    native: bool = False


SHORTCUTS: tuple[ShortcutSpec, ...] = (
    ShortcutSpec("view_mine", ("Ctrl+1",), "Show my conversations", "Queue"),
    ShortcutSpec("view_waiting", ("Ctrl+2",), "Show waiting (unassigned) conversations", "Queue"),
    ShortcutSpec("view_participating", ("Ctrl+3",), "Show conversations I participate in", "Queue"),
    ShortcutSpec("view_all", ("Ctrl+4",), "Show all open conversations", "Queue"),
    ShortcutSpec("view_closed", ("Ctrl+5",), "Show closed conversations", "Queue"),
    ShortcutSpec("search", ("Ctrl+K", "/"), "Search by name, company or email", "Queue"),
    ShortcutSpec("focus_queue", ("Ctrl+0",), "Go to the queue list", "Queue"),
    ShortcutSpec(
        "queue_move", ("Up", "Down"), "Move through the queue (opens the conversation)", "Queue", native=True
    ),
    ShortcutSpec("queue_open", ("Enter",), "Open the conversation and start typing", "Queue", native=True),
    ShortcutSpec(
        "next_urgent",
        ("Ctrl+G",),
        "Open my chat due first, else the most urgent waiting one",
        "Queue",
    ),
    ShortcutSpec(
        "previous_conversation", ("Alt+Up",), "Previous conversation (also from the composer)", "Conversation"
    ),
    ShortcutSpec(
        "next_conversation", ("Alt+Down",), "Next conversation (also from the composer)", "Conversation"
    ),
    ShortcutSpec("composer", ("Ctrl+L",), "Jump to the composer", "Conversation"),
    ShortcutSpec(
        "composer_from_queue",
        ("Esc",),
        "From the queue or search: jump to the composer",
        "Conversation",
        "queue",
    ),
    ShortcutSpec("send", ("Enter",), "Send the message", "Composer", native=True),
    ShortcutSpec("newline", ("Shift+Enter",), "New line in the message", "Composer", native=True),
    ShortcutSpec("toggle_note", ("Ctrl+Shift+N",), "Switch between reply and private note", "Composer"),
    ShortcutSpec(
        "saved_replies",
        ("Ctrl+;",),
        "Insert a saved reply (or type / at the start of the message)",
        "Composer",
        native=True,  # the composer's saved-replies picker handles it while the composer has focus
    ),
    ShortcutSpec(
        "cql_level",
        ("0", "1", "2", "3"),
        "CQL: red line (0) or 1-3 bolts (not while typing)",
        "Conversation",
        native=True,
    ),
    ShortcutSpec(
        "cql_set",
        ("Alt+0", "Alt+1", "Alt+2", "Alt+3"),
        "CQL from anywhere, even while typing",
        "Conversation",
        native=True,
    ),
    ShortcutSpec(
        "cql_clear", ("Backspace",), "CQL: back to unrated (not while typing)", "Conversation", native=True
    ),
    ShortcutSpec("toggle_closed", ("Ctrl+Shift+C",), "Close or reopen the conversation", "Conversation"),
    ShortcutSpec("retry_failed", ("Ctrl+Shift+R",), "Retry messages that failed to send", "Conversation"),
    ShortcutSpec("toggle_presence", ("Ctrl+Shift+A",), "Switch between Available and Away", "Me"),
    ShortcutSpec("help", ("F1", "Ctrl+/"), "Show these keyboard shortcuts", "Help"),
)


def registered() -> list[ShortcutSpec]:
    """Shortcuts the main window must register as QShortcut."""
    return [s for s in SHORTCUTS if not s.native]


def context_of(spec: ShortcutSpec) -> Qt.ShortcutContext:
    if spec.context == "queue":
        return Qt.ShortcutContext.WidgetWithChildrenShortcut
    return Qt.ShortcutContext.WindowShortcut


def shortcut_keys(action: str) -> tuple[str, ...]:
    """The keys of one action in the table (features that install their own shortcuts read them here)."""
    return next((s.keys for s in SHORTCUTS if s.action == action), ())
