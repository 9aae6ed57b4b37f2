"""The panel's cards: visitor details, company profile (with states), territory; all text plain."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.display import visitor_name
from agent_app.integrations import CompanyProfile
from ui.style import named, repolish
from ui.visitor_panel.models import KeyRole, RowDelegate, RowsModel, UrlRole
from ui.visitor_panel.rows import Row


def plain(text: str = "", name: str = "", wrap: bool = True) -> QLabel:
    """A label that never interprets markup (visitor and CRM text is untrusted)."""
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Card(QFrame):
    """A titled box; QSS styles ``QFrame#panelCard`` and ``QLabel#cardTitle``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panelCard")
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(12, 10, 12, 10)
        self.layout_.setSpacing(6)
        self.title = plain(title, "cardTitle")
        self.layout_.addWidget(self.title)


class RowsView(QListView):
    """A list that grows with its rows (the panel scrolls, not each list). Emits the row's link/key."""

    link_clicked = Signal(str)
    row_clicked = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.rows = RowsModel(self)
        self.setModel(self.rows)
        self.setItemDelegate(RowDelegate(self))
        self.setMouseTracking(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.clicked.connect(self.on_self_clicked)
        self.rows.modelReset.connect(self.on_rows_model_reset)
        self.on_rows_model_reset()

    def set_rows(self, rows: list[Row]) -> None:
        self.rows.set_rows(rows)

    def on_rows_model_reset(self) -> None:
        height = sum(self.sizeHintForRow(r) for r in range(self.rows.rowCount()))
        self.setFixedHeight(height + 2)
        self.setVisible(self.rows.rowCount() > 0)

    def on_self_clicked(self, index: QModelIndex) -> None:
        url = str(index.data(UrlRole) or "")
        if url:
            self.link_clicked.emit(url)
        self.row_clicked.emit(str(index.data(KeyRole) or ""))


class VisitorCard(Card):
    """Who the visitor is and what they did on the site this session."""

    FIELDS = ("Email", "Company", "Phone", "Location", "Current page", "Referrer", "UTM")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Visitor", parent)
        self.name = plain("", "visitorName")
        self.returning = plain("", "visitorReturning")
        self.layout_.addWidget(self.name)
        self.layout_.addWidget(self.returning)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.values: dict[str, QLabel] = {}
        for field in self.FIELDS:
            self.values[field] = plain("", "visitorField")
            form.addRow(plain(field, "fieldLabel", wrap=False), self.values[field])
        self.layout_.addLayout(form)
        self.pages_title = plain("Pages this session", "subTitle")
        self.pages = RowsView("visitorPages")
        self.previous_title = plain("Previous conversations", "subTitle")
        self.previous = RowsView("previousConversations")
        # The visit history is long and looked at last: its own card, which the panel puts at the bottom
        # so duplicates and territory stay above the fold.
        self.activity = Card("This visit and earlier ones")
        for w in (self.pages_title, self.pages, self.previous_title, self.previous):
            self.activity.layout_.addWidget(w)

    def show_visitor(self, v: p.Visitor, pages: list[Row], previous: list[Row]) -> None:
        self.name.setText(visitor_name(v))
        utm = ", ".join(f"{k.removeprefix('utm_')}={val}" for k, val in sorted(v.utm.items()))
        values = {
            "Email": v.email,
            "Company": v.company,
            "Phone": v.phone,
            "Location": v.location or ", ".join(x for x in (v.region, v.country) if x),
            "Current page": v.current_page,
            "Referrer": v.referrer or "direct",
            "UTM": utm,
        }
        for field, value in values.items():
            self.values[field].setText(value or "—")
        back = v.returning or bool(previous)
        self.returning.setText(
            f"Returning visitor · {len(previous)} previous chat(s)" if back else "First visit"
        )
        repolish(self.returning, returning=back)
        self.pages.set_rows(pages)
        self.pages_title.setVisible(bool(pages))
        self.previous.set_rows(previous)
        self.previous_title.setVisible(bool(previous))


class CompanyCard(Card):
    """Company profile from the enrichment provider: loading, data, no data, or failed with Retry."""

    retry_clicked = Signal()
    FIELDS = ("Domain", "Industry", "Employees", "Revenue", "HQ", "Funding", "Founded")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Company", parent)
        self.stack = QStackedWidget(self)
        self.layout_.addWidget(self.stack)
        self.loading = named(QWidget(), "companyLoading")
        lay = QVBoxLayout(self.loading)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(plain("Looking up the company…", "muted"))
        bar = named(QProgressBar(), "skeleton")
        bar.setTextVisible(False)
        bar.setRange(0, 0)
        bar.setFixedHeight(4)
        lay.addWidget(bar)
        self.data = named(QWidget(), "companyData")
        data = QVBoxLayout(self.data)
        data.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.logo = named(QLabel(), "companyLogo")
        self.logo.setFixedSize(40, 40)
        self.logo.hide()
        self.company_name = plain("", "companyName")
        head.addWidget(self.logo)
        head.addWidget(self.company_name, 1)
        data.addLayout(head)
        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for field in self.FIELDS:
            self.values[field] = plain("", "companyField")
            form.addRow(plain(field, "fieldLabel", wrap=False), self.values[field])
        data.addLayout(form)
        self.description = plain("", "companyDescription")
        data.addWidget(self.description)
        self.message = plain("", "companyMessage")
        self.retry = named(QPushButton("Retry"), "retryButton")
        self.retry.clicked.connect(self.retry_clicked)
        msg = named(QWidget(), "companyMessageBox")
        mlay = QVBoxLayout(msg)
        mlay.setContentsMargins(0, 0, 0, 0)
        mlay.addWidget(self.message)
        mlay.addWidget(self.retry, 0, Qt.AlignmentFlag.AlignLeft)
        for w in (self.loading, self.data, msg):
            self.stack.addWidget(w)
        self.state = ""

    def _show_page(self, index: int) -> None:
        # A QStackedWidget is as tall as its tallest page; ignoring the hidden pages' size makes the card
        # as tall as what it shows (a one-line message, not the empty space of the details page).
        for i in range(self.stack.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            page = self.stack.widget(i)
            if page is not None:
                page.setSizePolicy(QSizePolicy.Policy.Preferred, policy)
        self.stack.setCurrentIndex(index)
        self.stack.updateGeometry()

    def show_loading(self) -> None:
        self.state = "loading"
        self._show_page(0)

    def show_message(self, text: str, *, error: bool) -> None:
        self.state = "error" if error else "empty"
        self.message.setText(text)
        repolish(self.message, error=error)
        self.retry.setVisible(error)
        self._show_page(2)

    def show_profile(self, c: CompanyProfile) -> None:
        self.state = "data"
        self.company_name.setText(c.name or c.domain or "")
        employees = f"{c.employees:,}" if c.employees else (c.employees_range or "")
        hq = c.location_text or ", ".join(x for x in (c.hq_city, c.hq_region, c.hq_country) if x)
        values = {
            "Domain": c.domain,
            "Industry": c.industry,
            "Employees": employees,
            "Revenue": c.revenue_range,
            "HQ": hq,
            "Funding": f"${c.funding_total_usd:,}" if c.funding_total_usd else "",
            "Founded": str(c.founded_year) if c.founded_year else "",
        }
        for field, value in values.items():
            self.values[field].setText(value or "—")
        self.description.setText(c.description or "")
        self.description.setVisible(bool(c.description))
        self.logo.hide()
        self._show_page(1)

    def set_logo(self, data: bytes | None) -> None:
        px = QPixmap()
        if data and px.loadFromData(data):
            self.logo.setPixmap(
                px.scaled(
                    40, 40, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
            self.logo.show()


class TerritoryCard(Card):
    """Who owns this visitor's territory as the chat server decided it (routing), and whether that is me."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Territory", parent)
        self.text = plain("", "territoryText")
        self.detail = plain("", "muted")
        self.layout_.addWidget(self.text)
        self.layout_.addWidget(self.detail)

    def show_text(self, text: str, detail: str = "", *, mine: bool = False, error: bool = False) -> None:
        self.text.setText(text)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))
        repolish(self.text, mine=mine, error=error)
