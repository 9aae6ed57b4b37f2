"""Shows a notice natively (desktop-notifier), else as a tray balloon, else as an in-window banner."""

from __future__ import annotations

import logging
import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from desktop_notifier import DesktopNotifier, Icon, Urgency
from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtWidgets import QApplication

from agent_app.notify_policy import Notice
from ui.resources import app_icon_path
from ui.shell.paths import DISPLAY_NAME

log = logging.getLogger(__name__)


def escape_body(text: str) -> str:
    """The freedesktop spec lets servers read the body as markup: show visitor text literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Tray(Protocol):
    def show_message(self, title: str, body: str) -> None: ...


class _Window(Protocol):
    def show_banner(self, text: str, conversation_id: str = "") -> None: ...


class NotificationService(QObject):
    """Sends :class:`Notice` objects through the best channel that works right now.

    1. desktop-notifier (Linux: org.freedesktop.Notifications over D-Bus; macOS/Windows native
       centres), probed with ``get_capabilities()`` because a failed ``send`` is only logged;
    2. ``QSystemTrayIcon.showMessage`` when a tray exists (no per-notice id: the last one wins);
    3. the main window's banner. A failure drops to the next channel and re-probes later.

    Signals:
        clicked(str): a notification was clicked; the conversation id ("" for a summary).
        shown(str, str): the channel used ("native", "tray", "banner") and the notice's title.
    """

    clicked = Signal(str)
    shown = Signal(str, str)

    def __init__(
        self,
        *,
        notifier_factory: Callable[[], DesktopNotifier] | None = None,
        sound_dir: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = notifier_factory or (
            lambda: DesktopNotifier(app_name=DISPLAY_NAME, app_icon=Icon(path=app_icon_path()))
        )
        self._notifier: DesktopNotifier | None = None
        self._native_ok: bool | None = None  # None: not probed yet
        self.tray: _Tray | None = None
        self.window: _Window | None = None
        self.sound_enabled = False
        self._sound_dir = sound_dir
        self._sound: Any = None
        self._tray_target = ""

    def set_tray(self, tray: Any) -> None:
        self.tray = tray
        if tray is not None:
            tray.message_clicked.connect(self.on_tray_message_clicked)

    async def probe(self) -> bool:
        """Whether a native notification service answers (called at start and after failures)."""
        try:
            if self._notifier is None:
                self._notifier = self._factory()
            caps = await self._notifier.get_capabilities()
            self._native_ok = bool(caps)
        except Exception as exc:  # no session bus, no server, a broken backend: all mean "not here"
            log.info("native notifications unavailable: %s", exc)
            self._native_ok = False
        return self._native_ok

    @property
    def native_available(self) -> bool | None:
        return self._native_ok

    async def show(self, notice: Notice) -> str:
        """Show ``notice``; returns the channel used."""
        target = notice.conversation_id or ""
        title, body = notice.title, notice.body
        if self._native_ok is None:
            await self.probe()
        if self._native_ok and self._notifier is not None:
            dispatched: list[bool] = []
            await self._notifier.send(
                title=title,
                message=escape_body(body),
                urgency=Urgency.Critical if notice.urgent else Urgency.Normal,
                on_dispatched=lambda: dispatched.append(True),
                on_clicked=lambda: self.clicked.emit(target),
            )
            if dispatched:
                return self._shown("native", notice)
            log.warning("native notification failed; falling back (will re-probe next time)")
            self._native_ok = None
        if self.tray is not None:
            self._tray_target = target
            self.tray.show_message(title, body)
            return self._shown("tray", notice)
        if self.window is not None:
            self.window.show_banner(f"{title}: {body}" if body else title, target)
            return self._shown("banner", notice)
        log.info("notification dropped (no channel): %s", title)
        return ""

    def _shown(self, channel: str, notice: Notice) -> str:
        self.shown.emit(channel, notice.title)
        if self.sound_enabled:
            self.play_sound()
        return channel

    def play_sound(self) -> None:
        """A short chime through QSoundEffect; the system beep if multimedia is not usable."""
        try:
            if self._sound is None:
                from PySide6.QtMultimedia import QSoundEffect

                effect = QSoundEffect(self)
                effect.setSource(QUrl.fromLocalFile(str(_chime(self._sound_dir or Path("/tmp")))))
                effect.setVolume(0.6)
                self._sound = effect
            self._sound.play()
        except Exception as exc:  # no audio device / plugin: a beep is better than nothing
            log.debug("sound effect unavailable: %s", exc)
            QApplication.beep()

    @Slot()
    def on_tray_message_clicked(self) -> None:
        self.clicked.emit(self._tray_target)


def _chime(directory: Path) -> Path:
    """A soft two-tone chime written once as WAV (no binary assets to ship)."""
    path = directory / "chime.wav"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    rate, frames = 22050, bytearray()
    for freq, dur in ((880.0, 0.09), (1318.5, 0.16)):
        n = int(rate * dur)
        for i in range(n):
            envelope = min(1.0, i / 200) * (1 - i / n)
            frames += struct.pack("<h", int(9000 * envelope * math.sin(2 * math.pi * freq * i / rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path
