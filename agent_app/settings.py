"""The client's settings: one declared schema (name, type, default, description) over a JSON file.

The file lives in platformdirs' user config dir (path injectable). Unknown keys are kept untouched
(a newer version may have written them), a corrupt file is moved aside and reported rather than
silently overwritten, and every change is written at once (atomic rename) and announced to
listeners. Window geometry is not here: the UI keeps it in QSettings. Secrets are never here.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from agent_app.errors import SettingsError, SettingsFileCorrupt

log = logging.getLogger(__name__)

APP_NAME = "sdr-agent-desk"
SCHEMA_VERSION = 1
_VERSION_KEY = "schema_version"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: type
    default: Any
    description: str
    choices: tuple[str, ...] = ()


SCHEMA: tuple[Setting, ...] = (
    Setting("server_url", str, "ws://127.0.0.1:8765", "Chat server address (ws:// or wss://)"),
    Setting("last_email", str, "", "Email of the last sign-in, pre-filled in the sign-in dialog"),
    Setting("notifications_enabled", bool, True, "Show desktop notifications"),
    Setting("notification_sound", bool, True, "Play a sound with notifications"),
    Setting("notify_new_chat", bool, True, "Notify when a new chat is waiting"),
    Setting("notify_new_message", bool, True, "Notify on new visitor messages in my chats"),
    Setting("notify_sla", bool, True, "Notify when a chat is about to miss its response time"),
    Setting("close_to_tray", bool, True, "Closing the window keeps the app running in the tray"),
    Setting("auto_away_idle_enabled", bool, True, "Set me Away when the desktop is idle for a while"),
    Setting("auto_away_idle_minutes", int, 10, "Minutes without keyboard or mouse before auto-Away"),
    Setting("auto_away_on_lock", bool, True, "Set me Away when the screen locks or the computer sleeps"),
    Setting(
        "salesforce_login_url",
        str,
        "https://login.salesforce.com",
        "Salesforce sign-in host: https://test.salesforce.com for sandboxes, or your My Domain URL",
    ),
    Setting("salesforce_client_id", str, "", "Connected app consumer key (OAuth PKCE; secret optional)"),
    Setting("salesforce_api_version", str, "62.0", "Salesforce REST API version"),
    Setting(
        "salesforce_redirect_port",
        int,
        47615,
        "Sign-in callback port: register http://127.0.0.1:<port>/callback in the Connected App",
    ),
    Setting("salesforce_cql_field", str, "CQL_Level__c", "Lead number field that receives the CQL rating"),
    Setting("salesforce_lightning_urls", bool, True, "Open records in Lightning (else Classic) links"),
    Setting("log_transcript_on_close", bool, True, "Log the chat transcript as a Salesforce task on close"),
    Setting(
        "enrichment_provider",
        str,
        "datafox",
        "Company research provider",
        ("datafox", "clearbit", "none"),
    ),
    Setting("enrichment_base_url", str, "", "Enrichment API base URL (empty: the provider's default)"),
    Setting("enrichment_client_id", str, "", "DataFox client id (the secret is kept in the keychain)"),
    Setting(
        "activity_log_path",
        str,
        "",
        "SQLite file remembering which chats were logged to Salesforce (empty: in the data folder)",
    ),
)
_BY_NAME = {s.name: s for s in SCHEMA}

Listener = Callable[[str, Any], None]


def default_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "settings.json"


class Settings:
    """Typed get/set over the schema. Construct, then ``load()``; every ``set`` saves."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._values: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self.problem = ""  # set when loading found a corrupt file (shown once by the UI)

    def load(self) -> None:
        """Read the file. A corrupt file is moved to ``<name>.corrupt-<time>`` and defaults are used;
        ``problem`` then says so (and SettingsFileCorrupt is logged, not raised: the app must start)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._values = {}
            return
        except OSError as exc:
            raise SettingsError(f"cannot read settings {self.path}: {exc}") from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("the top level is not an object")
        except ValueError as exc:
            backup = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, backup)
            err = SettingsFileCorrupt(
                f"settings file {self.path} is corrupt ({exc}); saved as {backup}", str(backup)
            )
            self.problem = str(err)
            log.warning("%s", err)
            self._values = {}
            return
        values: dict[str, Any] = {}
        for key, value in data.items():
            setting = _BY_NAME.get(key)
            if setting is not None and _check(setting, value):
                log.warning("setting %s has an invalid value %r; using the default", key, value)
                continue
            values[key] = value  # unknown keys too: a newer version may own them
        self._values = values

    def get(self, name: str) -> Any:
        setting = _setting(name)
        return self._values.get(name, setting.default)

    def get_str(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            raise SettingsError(f"setting {name} is not text")
        return value

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise SettingsError(f"setting {name} is not a yes/no value")
        return value

    def set(self, name: str, value: Any) -> None:
        """Validate, save and notify. Raises SettingsError for an unknown name or a bad value."""
        setting = _setting(name)
        problem = _check(setting, value)
        if problem:
            raise SettingsError(f"{name}: {problem}")
        if self.get(name) == value and name in self._values:
            return
        self._values[name] = value
        self.save()
        for listener in list(self._listeners):
            listener(name, value)

    def reset(self, name: str) -> None:
        self.set(name, _setting(name).default)

    def add_listener(self, callback: Listener) -> None:
        """``callback(name, value)`` after each change."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback`` (a per-account feature, when the account ends); unknown: nothing."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def as_dict(self) -> dict[str, Any]:
        return {s.name: self.get(s.name) for s in SCHEMA}

    def save(self) -> None:
        data = dict(self._values)
        data[_VERSION_KEY] = SCHEMA_VERSION
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a crash never leaves half a file
        except OSError as exc:
            raise SettingsError(f"cannot save settings {self.path}: {exc}") from exc


def _setting(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SettingsError(f"unknown setting {name!r}") from None


def _check(setting: Setting, value: Any) -> str:
    """Empty when ``value`` fits ``setting``, else what is wrong."""
    # bool is a subclass of int: compare exact types so True never passes as a number or vice versa.
    if type(value) is not setting.type:
        return f"expected {setting.type.__name__}, got {type(value).__name__}"
    if setting.choices and value not in setting.choices:
        return f"must be one of {', '.join(setting.choices)}"
    return ""
