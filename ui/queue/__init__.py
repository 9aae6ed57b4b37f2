"""Conversation queue: list model, view/search proxy, row delegate and the queue pane."""

from ui.queue.model import QueueModel, QueueRole, SlaState
from ui.queue.panel import QueuePanel
from ui.queue.proxy import QueueProxy, QueueView

__all__ = ["QueueModel", "QueuePanel", "QueueProxy", "QueueRole", "QueueView", "SlaState"]
