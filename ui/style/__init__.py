"""Loads the QSS themes and SVG icons by name (one place, cached); colours for delegate painting."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRectF, QSize
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QWidget

from ui.style.palette import Palette

__all__ = ["Palette", "icon", "icon_pixmap", "icons_dir", "named", "repolish", "stylesheet", "svg_bytes"]

_STYLE_DIR = Path(__file__).resolve().parent
_ICON_DIRS = (
    _STYLE_DIR.parent.parent / "resources" / "icons",  # source checkout / editable install
    _STYLE_DIR / "icons",  # a packaged copy, if packaging maps resources/ here
)


def icons_dir() -> Path:
    for path in _ICON_DIRS:
        if path.is_dir():
            return path
    raise FileNotFoundError("resources/icons not found next to the ui package")


@cache
def stylesheet(name: str = "light") -> str:
    """The QSS file ``ui/style/<name>.qss``, with ``@icons`` replaced by the icon folder path."""
    text = (_STYLE_DIR / f"{name}.qss").read_text(encoding="utf-8")
    return text.replace("@icons", icons_dir().as_posix())


@cache
def svg_bytes(name: str, color: str = Palette.TEXT) -> bytes:
    """The SVG ``resources/icons/<name>.svg`` with ``currentColor`` replaced by ``color``."""
    text = (icons_dir() / f"{name}.svg").read_text(encoding="utf-8")
    return text.replace("currentColor", color).encode()


@cache
def icon_pixmap(name: str, size: int, color: str = Palette.TEXT, ratio: float = 1.0) -> QPixmap:
    """A crisp pixmap of an icon (for delegates, which paint pixmaps, not QIcons)."""
    renderer = QSvgRenderer(QByteArray(svg_bytes(name, color)))
    px = QPixmap(QSize(round(size * ratio), round(size * ratio)))
    px.fill(QColor(0, 0, 0, 0))
    painter = QPainter(px)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, px.width(), px.height()))
    painter.end()
    px.setDevicePixelRatio(ratio)
    return px


def icon(name: str, color: str = Palette.TEXT_MUTED, size: int = 20) -> QIcon:
    """A QIcon for buttons and actions, rendered from the SVG in one colour."""
    result = QIcon()
    for ratio in (1.0, 2.0):
        result.addPixmap(icon_pixmap(name, size, color, ratio))
    return result


def repolish(widget: QWidget, **properties: object) -> None:
    """Set dynamic properties used by QSS selectors and re-apply the style."""
    for key, value in properties.items():
        widget.setProperty(key, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    widget.update()


def named[O: QObject](obj: O, name: str) -> O:
    """Give a widget its QSS object name inline (the type stubs lack the objectName= keyword)."""
    obj.setObjectName(name)
    return obj
