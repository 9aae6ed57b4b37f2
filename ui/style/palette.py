"""Colours of the light theme for delegates that paint (QSS cannot style painted rows); matches light.qss."""

from __future__ import annotations


class Palette:
    """Hex colours; the QSS file uses the same values."""

    ACCENT = "#2f6fed"
    ACCENT_DARK = "#2358c4"
    ACCENT_SOFT = "#e8f0fe"
    WINDOW = "#f6f7f9"
    SURFACE = "#ffffff"
    BORDER = "#e3e6eb"
    SELECTION = "#eaf1fe"
    HOVER = "#f1f4f8"
    TEXT = "#1d2433"
    TEXT_MUTED = "#667085"
    TEXT_FAINT = "#98a2b3"
    TEXT_ON_ACCENT = "#ffffff"
    OK = "#12b76a"
    WARN = "#f79009"
    WARN_SOFT = "#fef0c7"
    DANGER = "#d92d20"
    DANGER_SOFT = "#fee4e2"
    BOLT = "#f5a300"
    VISITOR_BUBBLE = "#ffffff"
    BOT_BUBBLE = "#eef0fb"
    OTHER_AGENT_BUBBLE = "#e3f4ee"
    NOTE_BUBBLE = "#fff4c2"
    NOTE_BORDER = "#f2d675"
    AVATAR_COLORS = ("#5b8def", "#2bb3a3", "#e5793b", "#9b6bdf", "#d9577c", "#4aa364", "#c69b1d")

    @classmethod
    def avatar_color(cls, key: str) -> str:
        """A stable colour per person (same name, same colour everywhere)."""
        return cls.AVATAR_COLORS[sum(key.encode()) % len(cls.AVATAR_COLORS)]
