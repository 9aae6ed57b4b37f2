"""What each signed-in window gets from the shell: the visitor panel (CRM, research, territory) on the
integrations built from the settings, the shared HTTP client and the keychain. (The qualify features --
CQL bolts, participants, calendar, Meetings, CQL report -- are installed by MainWindow itself.)

The composition root builds one :class:`WindowFeatures` with the app-wide services (settings, the keychain,
the one shared ``httpx.AsyncClient``); the shell calls :meth:`WindowFeatures.install` once per account when
its window is built, and disposes what it returned when the account ends (sign-out or quit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from agent_app.integrations.config import (
    Integrations,
    IntegrationSettings,
    build_integrations,
    integration_settings_from,
)
from agent_app.integrations.errors import IntegrationError
from agent_app.integrations.secret_store import SecretStore as IntegrationSecrets
from agent_app.settings import Settings
from ui.tasks import TaskRunner

if TYPE_CHECKING:
    from ui.shell.account import Account

log = logging.getLogger(__name__)


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
        """Put the panel and the qualify features into ``window``; returns what to keep and dispose."""
        if not hasattr(window, "splitter"):  # a stand-in window (tests of the shell alone)
            return []
        from ui.visitor_panel import install_visitor_panel

        integrations, problem = self.build(data_dir)
        closer = _IntegrationsCloser(integrations)
        panel = install_visitor_panel(window, account.bridge, integrations, self.runner, account.session,
                                      self.settings)  # fmt: skip
        if problem:
            with contextlib.suppress(AttributeError):
                window.show_banner(problem)
        if integrations is not None and self.demo_login:
            self.runner.run(
                integrations.auth.sign_in(self._follow_redirects, login_hint=self.demo_login, timeout_s=30),
                what="Connect the demo Salesforce",
                on_success=lambda _: panel.on_company_retry_clicked(),
            )
        # The qualify features (CQL, participants, calendar, Meetings, report) are installed by MainWindow
        # itself (ui.qualify.install); their territory table is the territory_csv_path setting.
        return [closer, panel]
