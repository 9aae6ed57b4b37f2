"""Untrusted text in tooltips is shown literally: Qt would otherwise render it as HTML."""

from __future__ import annotations

from PySide6.QtGui import QTextDocument
from pytestqt.qtbot import QtBot

from ui.widgets.elided_label import ElidedLabel
from ui.widgets.plain_tooltip import plain_tooltip

HOSTILE = "<b>Bold</b> & <img src=http://127.0.0.1:1/x.png> <a href='http://evil'>x</a>\nline 2"


def rendered(tooltip: str) -> str:
    """What Qt's tooltip shows: QToolTip renders through QTextDocument when the text looks like HTML."""
    doc = QTextDocument()
    doc.setHtml(tooltip)
    return doc.toPlainText()


def test_plain_tooltip_renders_literally(qtbot: QtBot) -> None:
    assert rendered(plain_tooltip(HOSTILE)) == HOSTILE
    # Without the wrapper Qt would have interpreted the markup: the tags are gone.
    assert "<b>" not in rendered(HOSTILE)
    assert plain_tooltip("") == ""


def test_elided_label_tooltip_is_literal(qtbot: QtBot) -> None:
    label = ElidedLabel(HOSTILE)
    qtbot.addWidget(label)
    assert rendered(label.toolTip()) == HOSTILE
