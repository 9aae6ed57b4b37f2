"""The header's participants button: who else is in the conversation, add one or hand off, remove one."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from agent_app import protocol as p
from ui.style import icon


class ParticipantsButton(QToolButton):
    """Shows the participant count; its menu adds a teammate or removes one.

    Anyone may remove themselves; managers and admins may remove anyone (the server decides too).

    Signals:
        add_requested(str): conversation id.
        remove_requested(str, str): conversation id, agent id.
    """

    add_requested = Signal(str)
    remove_requested = Signal(str, str)

    def __init__(
        self,
        agents: Callable[[], Mapping[str, p.Agent]],
        me: Callable[[], p.Agent | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("participantsButton")
        self._agents, self._me = agents, me
        self._conversation: p.Conversation | None = None
        self.setIcon(icon("user"))
        self.setAutoRaise(True)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setAccessibleName("Participants")
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self.menu_.aboutToShow.connect(self.on_menu_about_to_show)
        self.set_conversation(None)

    def set_conversation(self, conversation: p.Conversation | None) -> None:
        self._conversation = conversation
        self.setEnabled(conversation is not None)
        n = len(conversation.participant_ids) if conversation else 0
        self.setText(f"{n} more" if n else "Add teammate")
        names = [self._name(a) for a in (conversation.participant_ids if conversation else [])]
        self.setToolTip(
            "Participants: " + ", ".join(names) if names else "Add a teammate to this conversation"
        )

    def _name(self, agent_id: str) -> str:
        agent = self._agents().get(agent_id)
        return agent.name if agent else agent_id

    def on_menu_about_to_show(self) -> None:
        self.menu_.clear()
        conv = self._conversation
        if conv is None:
            return
        cid = conv.id
        add = self.menu_.addAction("Add a teammate or hand off…")
        add.triggered.connect(lambda: self.add_requested.emit(cid))
        if not conv.participant_ids:
            return
        self.menu_.addSection("In this conversation")
        me = self._me()
        supervisor = me is not None and me.role in (p.Role.MANAGER, p.Role.ADMIN)
        for agent_id in conv.participant_ids:
            mine = me is not None and agent_id == me.id
            label = "Leave this conversation" if mine else f"Remove {self._name(agent_id)}"
            action = self.menu_.addAction(label)
            action.setEnabled(mine or supervisor)
            if not (mine or supervisor):
                action.setToolTip("Only a manager, or they themselves, can remove a participant")
            action.triggered.connect(lambda _=False, a=agent_id: self.remove_requested.emit(cid, a))
