"""The one place features get into a main window: :func:`install_features` (see its docstring for the list).

The composition root builds one :class:`WindowFeatures` with the app-wide services (settings, the keychain,
the one shared ``httpx.AsyncClient``); the shell calls :meth:`WindowFeatures.install` once per account when
its window is built -- it builds the integrations and calls :func:`install_features` -- and disposes what
it returned when the account ends (sign-out or quit). MainWindow installs nothing itself; features use only
its extension points (``add_header_action``, ``add_composer_action``, ``set_side_panel``, ``add_view``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from agent_app.autostart import Autostart
from agent_app.integrations.config import (
    Integrations,
    IntegrationSettings,
    build_integrations,
    integration_settings_from,
)
from agent_app.integrations.errors import IntegrationError
from agent_app.integrations.secret_store import SecretStore as IntegrationSecrets
from agent_app.settings import Settings
from ui.conversation.routing_history import RoutingHistoryFeature, install_routing_history
from ui.conversation.saved_replies import SavedRepliesFeature, install_saved_replies
from ui.live_visitors import LiveVisitorsFeature, install_live_visitors
from ui.main_window import MainWindow
from ui.presence_watch import AutoAwayFeature, install_auto_away
from ui.qualify.install import QualifyFeatures, install_qualify_features
from ui.reports import ReportsFeature, install_reports
from ui.settings.autostart_section import add_autostart_section
from ui.settings.chat_limits import ChatLimitsFeature, install_chat_limits
from ui.settings.preferences import PreferencesFeature, install_preferences
from ui.tasks import TaskRunner
from ui.viewing import ViewingFeature, install_viewing
from ui.visitor_panel import VisitorPanel, install_visitor_panel

if TYPE_CHECKING:
    from ui.shell.account import Account

log = logging.getLogger(__name__)


@dataclass
class InstalledFeatures:
    """What :func:`install_features` put into one window (kept alive with the account)."""

    qualify: QualifyFeatures
    saved_replies: SavedRepliesFeature
    panel: VisitorPanel
    auto_away: AutoAwayFeature
    preferences: PreferencesFeature
    live_visitors: LiveVisitorsFeature
    viewing: ViewingFeature
    reports: ReportsFeature
    routing_history: RoutingHistoryFeature
    chat_limits: ChatLimitsFeature

    def parts(self) -> list[Any]:
        return [self.qualify, self.saved_replies, self.panel, self.auto_away, self.preferences,
                self.live_visitors, self.viewing, self.reports, self.routing_history,
                self.chat_limits]  # fmt: skip


def install_features(
    window: MainWindow, integrations: Integrations | None = None, *, http_base: str = ""
) -> InstalledFeatures:
    """Put every feature into ``window``, each through the window's extension points; one line each, so
    a missing feature is one missing line here (and a failing journey test).

    - CQL bolts and "add participant" in the conversation header, "share calendar" under the reply box,
      the Meetings and CQL report views (ui.qualify.install);
    - saved replies: the "/" and Ctrl+; picker in the composer, the editor in the presence menu;
    - the visitor panel (CRM, research, territory) as the side panel, on ``integrations`` (None: the
      panel says CRM and research are off);
    - auto-away: Away (with the reason) when the screen locks, the machine sleeps or the desktop is idle,
      Available again on return (ui.presence_watch);
    - "Preferences…" in the presence menu (ui.settings.preferences; auto-away's settings, ...);
    - the "On site now (N)" view: visitors on the website now, by segment, and Engage (ui.live_visitors);
    - who is viewing / typing: "Sam Chen is viewing" in the header, a note over the reply box (ui.viewing);
    - the Reports view: the server's first-response, missed, meetings and CQL figures (ui.reports);
    - "Routing" in the conversation header: who routing tried, why, when (ui.conversation.routing_history);
    - "Chat limits…" in the account menu for managers: each rep's max open chats (ui.settings.chat_limits).
    """
    qualify = install_qualify_features(window, http_base=http_base)
    saved_replies = install_saved_replies(window)
    panel = install_visitor_panel(
        window, window.bridge, integrations, window.runner, window.session, window.settings
    )
    auto_away = install_auto_away(window)
    preferences = install_preferences(window)
    live_visitors = install_live_visitors(window)
    viewing = install_viewing(window)
    reports = install_reports(window)
    routing_history = install_routing_history(window)
    chat_limits = install_chat_limits(window)
    return InstalledFeatures(qualify, saved_replies, panel, auto_away, preferences, live_visitors, viewing,
                             reports, routing_history, chat_limits)  # fmt: skip


class MemorySecrets:
    """Secrets for this run only (the demo's sandbox credentials and Salesforce tokens): never written to
    the user's keychain, gone when the app quits."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._values = dict(initial or {})

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str) -> bool:
        self._values[key] = value
        return False  # not persisted

    def delete(self, key: str) -> None:
        self._values.pop(key, None)


class _IntegrationsCloser:
    """Kept in ``Account.extras``: closes the integrations' local resources when the account ends."""

    def __init__(self, integrations: Integrations | None) -> None:
        self.integrations = integrations

    def dispose(self) -> None:
        if self.integrations is not None:
            try:
                self.integrations.close()
            except Exception as exc:  # shutting down: log, keep going
                log.warning("closing the integrations: %s", exc)
            self.integrations = None


@dataclass
class WindowFeatures:
    """App-wide services for the per-window features.

    ``overrides`` replace fields of the user's :class:`IntegrationSettings` for this run only (the demo
    points them at the sandbox without touching the settings file).
    """

    settings: Settings
    secrets: IntegrationSecrets
    http: httpx.AsyncClient
    runner: TaskRunner
    overrides: dict[str, Any] = field(default_factory=dict)
    demo_login: str = ""  # --demo: connect to the Salesforce stand-in as this user without a browser
    autostart: Autostart | None = None  # "Start at login" in Preferences (None: not offered, e.g. the demo)

    def integration_settings(self, data_dir: Path) -> IntegrationSettings:
        return dataclasses.replace(integration_settings_from(self.settings, data_dir), **self.overrides)

    def build(self, data_dir: Path) -> tuple[Integrations | None, str]:
        """The integrations, or None and why (bad settings must not stop the window from opening)."""
        try:
            return build_integrations(self.integration_settings(data_dir), self.http, self.secrets), ""
        except (IntegrationError, OSError, ValueError) as exc:
            log.warning("integrations unavailable: %s", exc)
            return None, f"CRM and research are off: {exc}"

    async def _follow_redirects(self, url: str) -> None:
        """The demo's "browser": the stand-in's authorize page approves at once and redirects to our
        loopback listener, so following the redirects completes the real OAuth + PKCE flow."""
        await self.http.get(url, follow_redirects=True)

    def install(self, account: Account, window: Any, data_dir: Path) -> list[Any]:
        """Build the integrations and :func:`install_features` into ``window``; returns what to keep
        alive with the account and dispose when it ends."""
        if not isinstance(window, MainWindow):  # a stand-in window (tests of the shell alone)
            return []
        integrations, problem = self.build(data_dir)
        closer = _IntegrationsCloser(integrations)
        installed = install_features(window, integrations)
        if self.autostart is not None:  # an app-wide setting: main.py's service, not a window feature
            add_autostart_section(installed.preferences, self.autostart)
        window.conversation.set_draft_keeper(account.cache)  # drafts outlive a quit or a crash
        if problem:
            window.show_banner(problem)
        if integrations is not None and self.demo_login:
            self.runner.run(
                integrations.auth.sign_in(self._follow_redirects, login_hint=self.demo_login, timeout_s=30),
                what="Connect the demo Salesforce",
                on_success=lambda _: installed.panel.on_company_retry_clicked(),
            )
        return [closer, *installed.parts()]
