"""System tray icon: presence toggle, unread badge, Open / Sign out / Quit."""

from ui.tray.tray import TrayIcon, badge_pixmap

__all__ = ["TrayIcon", "badge_pixmap"]
