"""Shows a notice natively (desktop-notifier), else as a tray balloon, else as an in-window banner."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from desktop_notifier import DesktopNotifier, Icon, Urgency
from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtWidgets import QApplication

from agent_app.notify_policy import Notice
from ui.resources import app_icon_path
from ui.shell.paths import DISPLAY_NAME

log = logging.getLogger(__name__)

MAX_SHOWING = 500  # notices remembered for withdrawal (the policy keeps as many)


def escape_body(text: str) -> str:
    """The freedesktop spec lets servers read the body as markup: show visitor text literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Tray(Protocol):
    def show_message(self, title: str, body: str) -> None: ...


class _Window(Protocol):
    def show_banner(self, text: str, conversation_id: str = "") -> None: ...
    def hide_banner(self, conversation_id: str) -> None: ...


@dataclass(slots=True)
class _Shown:
    """Where a notice went, to withdraw it: the channel, desktop-notifier's id and the D-Bus id."""

    channel: str
    identifier: str
    conversation_id: str
    platform_id: int | None = None
    clicked: bool = False


class NotificationService(QObject):
    """Sends :class:`Notice` objects through the best channel that works right now.

    1. desktop-notifier (Linux: org.freedesktop.Notifications over D-Bus; macOS/Windows native
       centres), probed with ``get_capabilities()`` because a failed ``send`` is only logged;
    2. ``QSystemTrayIcon.showMessage`` when a tray exists (no per-notice id: the last one wins);
    3. the main window's banner. A failure drops to the next channel and re-probes later.

    Every notice shown is remembered under its key until ``withdraw(key)`` closes it (D-Bus
    CloseNotification through ``DesktopNotifier.clear``; the banner hides if it still shows it; a tray
    balloon cannot be taken back and expires by itself). A notice that ``replaces`` another closes that
    one first. Shows and withdrawals run one at a time, in the order they were asked for, so a withdrawal
    never overtakes the show it undoes.

    Signals:
        clicked(str): a notification was clicked; the conversation id ("" for a summary).
        shown(str, str): the channel used ("native", "tray", "banner") and the notice's title.
        notice_closed(str): the user clicked or dismissed the notice with this key (nothing to withdraw).
    """

    clicked = Signal(str)
    shown = Signal(str, str)
    notice_closed = Signal(str)

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
        self._lock = asyncio.Lock()
        self._showing: dict[str, _Shown] = {}
        self._banner_key = ""

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

    @property
    def showing(self) -> list[str]:
        """Keys of the notices shown and not withdrawn, clicked or dismissed yet."""
        return list(self._showing)

    async def show(self, notice: Notice) -> str:
        """Show ``notice`` (closing the one it replaces first); returns the channel used."""
        async with self._lock:
            if notice.replaces:
                await self._withdraw(notice.replaces)
            return await self._show(notice)

    async def withdraw(self, key: str) -> None:
        """Close the notice shown under ``key``, wherever it went; nothing if it is gone already."""
        async with self._lock:
            await self._withdraw(key)

    async def withdraw_all(self) -> None:
        async with self._lock:
            for key in list(self._showing):
                await self._withdraw(key)

    async def close(self) -> None:
        """Quit: withdraw what is still showing (its clicks would reach nobody) and leave the session bus."""
        await self.withdraw_all()
        # desktop-notifier has no close(); its D-Bus backend keeps the connection it opened as ``bus``.
        bus = getattr(getattr(self._notifier, "_backend", None), "bus", None)
        if bus is not None:
            bus.disconnect()
        self._notifier, self._native_ok = None, None

    async def _show(self, notice: Notice) -> str:
        target = notice.conversation_id or ""
        title, body, key = notice.title, notice.body, notice.key
        if self._native_ok is None:
            await self.probe()
        if self._native_ok and self._notifier is not None:
            dispatched: list[bool] = []
            identifier = await self._notifier.send(
                title=title,
                message=escape_body(body),
                urgency=Urgency.Critical if notice.urgent else Urgency.Normal,
                on_dispatched=lambda: dispatched.append(True),
                on_clicked=lambda: self._on_native_closed(key, target, clicked=True),
                on_dismissed=lambda: self._on_native_closed(key, target, clicked=False),
            )
            if dispatched:
                return self._shown("native", notice, identifier, self._platform_id(identifier))
            log.warning("native notification failed; falling back (will re-probe next time)")
            self._native_ok = None
        if self.tray is not None:
            self._tray_target = target
            self.tray.show_message(title, body)
            return self._shown("tray", notice)
        if self.window is not None:
            self.window.show_banner(f"{title}: {body}" if body else title, target)
            self._banner_key = key
            return self._shown("banner", notice)
        log.info("notification dropped (no channel): %s", title)
        return ""

    async def _withdraw(self, key: str) -> None:
        entry = self._showing.pop(key, None)
        if entry is None:
            return
        if entry.channel == "native" and self._notifier is not None:
            try:
                if entry.clicked:
                    await self._close_clicked(entry)
                else:
                    await self._notifier.clear(entry.identifier)
            except Exception as exc:  # expired or closed on the server meanwhile, or the bus is gone
                log.debug("notification %s already gone: %s", key, exc)
        elif entry.channel == "banner" and key == self._banner_key:
            self._banner_key = ""
            if self.window is not None:
                self.window.hide_banner(entry.conversation_id)
        # A tray balloon cannot be taken back (Qt has no API for it); it expires after a few seconds.

    def _on_native_closed(self, key: str, target: str, *, clicked: bool) -> None:
        if clicked:
            # The spec lets a server keep a clicked notice up (dunst does, for `dunstctl action`): keep it
            # until the policy withdraws it (opening the chat usually does, at once).
            entry = self._showing.get(key)
            if entry is not None:
                entry.clicked = True
            self.clicked.emit(target)
        elif self._showing.pop(key, None) is not None:
            self.notice_closed.emit(key)

    def _platform_id(self, identifier: str) -> int | None:
        """The D-Bus notification id desktop-notifier got for ``identifier`` (None off Linux)."""
        ids = getattr(
            getattr(self._notifier, "_backend", None), "_platform_to_interface_notification_identifier", None
        )
        return ids.inverse.get(identifier) if ids is not None else None

    async def _close_clicked(self, entry: _Shown) -> None:
        """desktop-notifier forgets a notice once it is clicked, so its ``clear`` cannot close it: ask the
        server directly with the D-Bus id kept at send time."""
        interface = getattr(getattr(self._notifier, "_backend", None), "interface", None)
        if entry.platform_id is not None and interface is not None:
            await interface.call_close_notification(entry.platform_id)

    def _shown(
        self, channel: str, notice: Notice, identifier: str = "", platform_id: int | None = None
    ) -> str:
        if notice.key:
            self._showing[notice.key] = _Shown(channel, identifier, notice.conversation_id or "", platform_id)
            while len(self._showing) > MAX_SHOWING:  # long expired on the desktop by now
                del self._showing[next(iter(self._showing))]
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
