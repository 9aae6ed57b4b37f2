"""The visitor side panel and the function that puts it into the main window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent_app.integrations import Integrations
from ui.bridge import StoreBridge
from ui.tasks import TaskRunner
from ui.visitor_panel.panel import VisitorPanel
from ui.visitor_panel.service import Requester

if TYPE_CHECKING:
    from agent_app.settings import Settings
    from ui.main_window import MainWindow

__all__ = ["VisitorPanel", "install_visitor_panel", "panel_stylesheet"]

_QSS = Path(__file__).with_name("panel.qss")


def panel_stylesheet() -> str:
    """The panel's own QSS (loaded here: ui.style loads one theme file per window)."""
    return _QSS.read_text(encoding="utf-8") if _QSS.exists() else ""


def install_visitor_panel(
    window: MainWindow,
    bridge: StoreBridge,
    integrations: Integrations | None,
    runner: TaskRunner,
    session: Requester,
    settings: Settings | None,
) -> VisitorPanel:
    """Make the VisitorPanel the window's side panel (MainWindow.set_side_panel: it then follows the open
    conversation through ``set_conversation``)."""
    panel = VisitorPanel(bridge, integrations, runner, session, settings, window)
    panel.setStyleSheet(panel_stylesheet())
    window.set_side_panel(panel)
    panel.conversation_link_clicked.connect(window.open_conversation)
    return panel
