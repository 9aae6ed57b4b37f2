"""Settings: schema, typed get/set with validation, unknown keys kept, corrupt file backed up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_app.errors import SettingsError
from agent_app.settings import SCHEMA, SCHEMA_VERSION, Settings, default_path


def test_defaults_set_persist_and_notify(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.json"
    settings = Settings(path)
    settings.load()
    assert settings.get("enrichment_provider") == "datafox" and settings.get_bool("close_to_tray")
    changes: list[tuple[str, object]] = []
    settings.add_listener(lambda name, value: changes.append((name, value)))
    settings.set("server_url", "wss://chat.example.com")
    settings.set("notify_sla", False)
    settings.set("notify_sla", False)  # unchanged: no second notification
    assert changes == [("server_url", "wss://chat.example.com"), ("notify_sla", False)]
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["notify_sla"] is False
    again = Settings(path)
    again.load()
    assert again.get_str("server_url") == "wss://chat.example.com"


def test_invalid_values_and_names_are_refused(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "s.json")
    with pytest.raises(SettingsError, match="expected bool"):
        settings.set("notifications_enabled", "yes")
    with pytest.raises(SettingsError, match="datafox, clearbit"):
        settings.set("enrichment_provider", "zoominfo")
    with pytest.raises(SettingsError, match="unknown setting"):
        settings.set("colour", "red")
    assert not (tmp_path / "s.json").exists()


def test_unknown_keys_are_kept_and_bad_values_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"future_option": [1, 2], "enrichment_provider": 42, "last_email": "a@b.c"}))
    settings = Settings(path)
    settings.load()
    default = next(x.default for x in SCHEMA if x.name == "enrichment_provider")
    assert settings.get("enrichment_provider") == default and settings.get("last_email") == "a@b.c"
    settings.set("enrichment_provider", "clearbit")
    assert json.loads(path.read_text())["future_option"] == [1, 2]


def test_a_corrupt_file_is_backed_up_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"server_url": "ws://x", ')
    settings = Settings(path)
    settings.load()
    backups = list(tmp_path.glob("s.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == '{"server_url": "ws://x", '
    assert "corrupt" in settings.problem and str(backups[0]) in settings.problem
    assert settings.get("server_url") == "ws://127.0.0.1:8765"


def test_schema_is_complete_and_described() -> None:
    names = {s.name for s in SCHEMA}
    assert {
        "server_url",
        "salesforce_cql_field",
        "enrichment_provider",
    } <= names
    assert all(s.description and isinstance(s.default, s.type) for s in SCHEMA)
    assert default_path().parts[-2:] == ("sdr-agent-desk", "settings.json")
