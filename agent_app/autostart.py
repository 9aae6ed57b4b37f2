"""Start at login (XDG autostart): writes or removes $XDG_CONFIG_HOME/autostart/sdr-agent-desk.desktop."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

FILE_NAME = "sdr-agent-desk.desktop"
APP_ID = "io.github.sdr_agent_desk.SDRAgentDesk"  # the launcher's icon and id (ui/shell/paths.py)
# Characters that make an Exec argument need quotes (Desktop Entry spec, "The Exec key").
_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def autostart_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/autostart, ~/.config/autostart when unset or not absolute (the spec says so)."""
    env = os.environ if env is None else env
    config = env.get("XDG_CONFIG_HOME", "")
    home = Path(env.get("HOME") or Path.home())
    base = Path(config) if config and os.path.isabs(config) else home / ".config"
    return base / "autostart"


def exec_quote(arg: str) -> str:
    """One argument of an Exec line: quoted when needed, with the spec's escapes inside the quotes, then
    backslashes doubled once more because the whole key is a desktop-file string value."""
    if "\n" in arg or "\r" in arg or "\0" in arg:
        raise ValueError("a launch argument cannot hold a line break")
    text = arg.replace("%", "%%")  # "%u" in a path is not a field code
    if text and not _RESERVED.search(text):
        return text
    inner = re.sub(r'(["`$\\])', r"\\\1", text)
    return f'"{inner}"'.replace("\\", "\\\\")


def entry_text(command: Sequence[str]) -> str:
    """The autostart entry: runs ``command`` at login (GNOME, KDE, Xfce... all read this folder)."""
    if not command:
        raise ValueError("no command to start")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=SDR Agent Desk\n"
        "Comment=Start SDR Agent Desk in the tray when you log in\n"
        f"Icon={APP_ID}\n"
        f"Exec={' '.join(exec_quote(arg) for arg in command)}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"  # after the tray and the keychain are up
        "X-KDE-autostart-after=panel\n"
    )


class Autostart:
    """Whether the desk starts at login, for one launch ``command`` (the installed binary and its flags).

    The file is the state: nothing is kept elsewhere, so turning it off in the desktop's own settings
    (which write ``Hidden=true`` or ``X-GNOME-Autostart-enabled=false``) shows as off here too."""

    def __init__(self, command: Sequence[str], directory: Path | None = None) -> None:
        self.command = list(command)
        self.path = (directory or autostart_dir()) / FILE_NAME

    def enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        lines = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
        keys = {key.strip(): value.strip() for key, value in lines}
        off = keys.get("Hidden") == "true" or keys.get("X-GNOME-Autostart-enabled") == "false"
        return not off

    def set_enabled(self, enabled: bool) -> None:
        """Writes (atomically: a half-written entry must never start anything) or removes the entry.
        Raises OSError when the folder cannot be written."""
        if not enabled:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(entry_text(self.command), encoding="utf-8")
        os.replace(partial, self.path)
