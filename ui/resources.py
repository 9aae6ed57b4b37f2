"""Resources by name, in one place: the app icon, feature icons and stylesheets (cached)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

APP_ICON_SVG = Path(__file__).resolve().parent / "shell" / "app-icon.svg"


def app_icon_path() -> Path:
    """The app's SVG icon (also handed to the notification service as a file URI)."""
    return APP_ICON_SVG


@cache
def app_icon_pixmap(size: int = 64) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(APP_ICON_SVG.read_bytes()))
    px = QPixmap(QSize(size, size))
    px.fill(Qt.GlobalColor.transparent)
    painter = QPainter(px)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return px


def app_icon() -> QIcon:
    result = QIcon()
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        result.addPixmap(app_icon_pixmap(size))
    return result


def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` through the UI's style module (which owns the icon set)."""
    from ui.style import icon as style_icon

    return style_icon(name)


def stylesheet(name: str = "light") -> str:
    """``ui/style/<name>.qss``; empty when the theme file is missing (the app still works)."""
    try:
        from ui.style import stylesheet as style_sheet

        return style_sheet(name)
    except (ImportError, OSError):
        return ""
