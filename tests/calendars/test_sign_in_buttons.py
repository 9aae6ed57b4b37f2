"""My Calendar's "Sign in with Google": the real window and session against the chat server and the Google
Calendar stand-in; the SDR's browser follows the consent redirect; the dialog then says connected."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_app import protocol as p
from agent_app.integrations import calendar_auth
from chat_server import ChatServer
from sandbox.google_calendar import FakeGoogleCalendar
from tests.calendars.test_google import google, server, team  # noqa: F401  (fixtures)
from tests.qt_loop import pump_until as until
from tests.real_window import signed_in_desk
from tests.server.conftest import PASSWORD, Team


async def test_sign_in_with_google_connects_from_the_dialog(
    qtbot: Any,
    tmp_path: Path,
    server: ChatServer,  # noqa: F811
    team: Team,  # noqa: F811
    google: FakeGoogleCalendar,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calendar_auth, "GOOGLE_AUTHORIZE", google.auth_url)  # the stand-in's consent page
    pages: list[str] = []

    async def browser(url: str) -> None:  # the SDR approves in the browser, which follows the redirect
        async with httpx.AsyncClient(follow_redirects=True) as http:
            pages.append((await http.get(url)).text)

    async with signed_in_desk(qtbot, server.url, tmp_path, "sam@example.com", PASSWORD) as desk:
        assert desk.features is not None
        features, session = desk.features.qualify, desk.session
        features.open_browser = lambda url: asyncio.ensure_future(browser(url))
        result = await session.request(p.GetCalendarSettings(id="g1", agent_id=team.sdr1.id))
        dialog = features.calendar_settings_dialog(result)
        qtbot.addWidget(dialog)
        assert set(dialog.sign_in_buttons) == {"google"}  # the server has no Microsoft app configured
        dialog.cal_url.setText(google.base_url)  # this deployment's Google API (the stand-in)
        dialog.sign_in_buttons["google"].click()
        assert "browser" in dialog.cal_status.text()
        await until(lambda: dialog.cal_status.text().startswith("Connected"), "connected", within=20)
        assert dialog.disconnect_button.isEnabled() and "Signed in to Google Calendar" in pages[0]
        again = await session.request(p.GetCalendarSettings(id="g2", agent_id=team.sdr1.id))
        assert again["connection"]["connected"] and again["connection"]["kind"] == "google"
        assert "password" not in again["connection"] or not again["connection"]["password"]


async def test_microsoft_needs_the_mailbox_address_first(qtbot: Any) -> None:
    from ui.calendar.settings_dialog import CalendarSettingsDialog

    dialog = CalendarSettingsDialog(p.CalendarSettings(agent_id="a1"), sign_in_kinds=("google", "microsoft"))
    qtbot.addWidget(dialog)
    asked: list[tuple[str, str, str]] = []
    dialog.sign_in_requested.connect(lambda *a: asked.append(a))
    dialog.sign_in_buttons["microsoft"].click()
    assert not asked and "email address" in dialog.cal_status.text()
    dialog.cal_user.setText("sam@contoso.example")
    dialog.sign_in_buttons["microsoft"].click()
    assert asked == [("microsoft", "sam@contoso.example", "")]
    assert not dialog.sign_in_buttons["google"].isEnabled()  # one sign-in at a time
    dialog.show_connection_error("the sign-in was cancelled")
    assert dialog.sign_in_buttons["google"].isEnabled()
