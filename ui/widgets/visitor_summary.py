"""Placeholder for the visitor side panel (another issue): the visitor's basic details, as plain text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from agent_app import protocol as p
from ui.queue.model import display_name
from ui.style import named

MAX_PAGES = 8


def _plain(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class VisitorSummary(QScrollArea):
    """Name, email, company, location, current page, pages visited, referrer and UTM of the open chat."""

    FIELDS = (
        "Email",
        "Company",
        "Phone",
        "Location",
        "Current page",
        "Pages visited",
        "Referrer",
        "Campaign",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("visitorSummary")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = named(QWidget(self), "visitorSummaryBody")
        self.title = _plain("", "visitorName")
        self.subtitle = _plain("", "visitorSubtitle")
        self.values = {name: _plain("", "visitorValue") for name in self.FIELDS}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setVerticalSpacing(4)
        for name, value in self.values.items():
            form.addRow(_plain(name, "visitorField"), value)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(6)
        layout.addWidget(_plain("VISITOR", "panelHeading"))
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addStretch(1)
        self.setWidget(body)
        self.set_conversation(None)

    def set_conversation(self, conv: p.Conversation | None) -> None:
        if conv is None:
            self.title.setText("No visitor selected")
            self.subtitle.setText("")
            for value in self.values.values():
                value.setText("—")
            return
        v = conv.visitor
        self.title.setText(display_name(conv))
        self.subtitle.setText("Returning visitor" if v.returning else "First visit")
        pages = [f"{pv.title or pv.url}\n{pv.url}" if pv.title else pv.url for pv in v.pages[-MAX_PAGES:]]
        utm = ", ".join(f"{k.removeprefix('utm_')}: {val}" for k, val in sorted(v.utm.items()))
        values = {
            "Email": v.email,
            "Company": v.company + (f" ({v.team_size} people)" if v.team_size else ""),
            "Phone": v.phone,
            "Location": v.location or ", ".join(x for x in (v.region, v.country) if x),
            "Current page": v.current_page,
            "Pages visited": "\n".join(reversed(pages))
            + (f"\n(+{len(v.pages) - MAX_PAGES} earlier)" if len(v.pages) > MAX_PAGES else ""),
            "Referrer": v.referrer,
            "Campaign": utm,
        }
        for name, text in values.items():
            self.values[name].setText(text.strip() or "—")
