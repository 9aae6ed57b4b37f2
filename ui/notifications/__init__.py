"""Native desktop notifications (desktop-notifier), their fallbacks, and the store watcher that feeds them."""

from ui.notifications.service import NotificationService, escape_body
from ui.notifications.watcher import NotificationWatcher

__all__ = ["NotificationService", "NotificationWatcher", "escape_body"]
