"""Integration settings (names, types, defaults) and the factory that builds the clients from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from agent_app.integrations.activity_log import ActivityLog
from agent_app.integrations.crm import CrmService
from agent_app.integrations.enrichment import ClearbitProvider, CompanyEnrichmentProvider, DataFoxProvider
from agent_app.integrations.errors import IntegrationError
from agent_app.integrations.lookup import EnrichmentService, VisitorLookup
from agent_app.integrations.secret_store import SecretStore
from agent_app.integrations.sf_auth import DEFAULT_REDIRECT_PORT, OAuthConfig, SalesforceAuth
from agent_app.integrations.sf_client import DEFAULT_API_VERSION, SalesforceClient

if TYPE_CHECKING:
    from agent_app.settings import Settings

# Keychain keys for the enrichment credentials (Salesforce tokens use their own, see SalesforceAuth).
ENRICHMENT_KEY_SECRET = "enrichment:api_key"  # Clearbit key, or DataFox client secret
# The Connected App's consumer secret, only if the app has "Require Secret for Web Server Flow" on.
SALESFORCE_CLIENT_SECRET = "salesforce:client_secret"


@dataclass(frozen=True)
class IntegrationSettings:
    """The user-editable settings; secrets are not here (keychain only)."""

    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_client_id: str = ""
    salesforce_api_version: str = DEFAULT_API_VERSION
    salesforce_redirect_port: int = DEFAULT_REDIRECT_PORT  # callback http://127.0.0.1:<port>/callback
    salesforce_cql_field: str = "CQL_Level__c"
    salesforce_lightning_urls: bool = True
    enrichment_provider: str = "clearbit"  # "clearbit" | "datafox" | "none"
    enrichment_base_url: str = ""  # empty = the vendor's public URL
    enrichment_client_id: str = ""  # DataFox only
    activity_log_path: str = ""


@dataclass
class Integrations:
    """Everything the panel uses, built once by the composition root and closed at shutdown."""

    auth: SalesforceAuth
    salesforce: SalesforceClient
    crm: CrmService
    enrichment: EnrichmentService | None
    lookup: VisitorLookup
    activity_log: ActivityLog | None
    http: httpx.AsyncClient | None = None  # the app's shared client (the panel fetches logos with it)

    def close(self) -> None:
        """Release local resources (the shared httpx client belongs to the caller)."""
        if self.activity_log is not None:
            self.activity_log.close()


def build_integrations(
    settings: IntegrationSettings, http: httpx.AsyncClient, secret_store: SecretStore
) -> Integrations:
    """Wire the clients from settings, the app's single AsyncClient and the keychain."""
    auth = SalesforceAuth(
        OAuthConfig(
            settings.salesforce_login_url,
            settings.salesforce_client_id,
            client_secret=secret_store.get(SALESFORCE_CLIENT_SECRET) or None,
            redirect_port=settings.salesforce_redirect_port,
        ),
        http,
        secret_store,
    )
    client = SalesforceClient(auth, http, api_version=settings.salesforce_api_version)
    log = ActivityLog(Path(settings.activity_log_path)) if settings.activity_log_path else None
    crm = CrmService(
        client,
        cql_field=settings.salesforce_cql_field,
        activity_log=log,
        lightning_urls=settings.salesforce_lightning_urls,
    )
    provider: CompanyEnrichmentProvider | None = None
    key = secret_store.get(ENRICHMENT_KEY_SECRET) if settings.enrichment_provider != "none" else None
    if settings.enrichment_provider == "clearbit" and key:
        provider = ClearbitProvider(
            http, key, base_url=settings.enrichment_base_url or "https://company.clearbit.com"
        )
    elif settings.enrichment_provider == "datafox" and key:
        provider = DataFoxProvider(
            http,
            settings.enrichment_client_id,
            key,
            base_url=settings.enrichment_base_url or "https://api.datafox.co",
        )
    elif settings.enrichment_provider not in ("clearbit", "datafox", "none"):
        raise IntegrationError(f"Unknown enrichment provider '{settings.enrichment_provider}'")
    enrichment = EnrichmentService(provider) if provider else None
    # No territory table here: the chat server's table decides the aligned SDR (Conversation.routing).
    return Integrations(auth, client, crm, enrichment, VisitorLookup(crm, enrichment), log, http)


def integration_settings_from(settings: Settings, data_dir: str | Path) -> IntegrationSettings:
    """The app's Settings mapped onto IntegrationSettings; the activity log defaults into ``data_dir``."""
    activity = settings.get_str("activity_log_path") or str(Path(data_dir) / "crm-activity.sqlite3")
    return IntegrationSettings(
        salesforce_login_url=settings.get_str("salesforce_login_url"),
        salesforce_client_id=settings.get_str("salesforce_client_id"),
        salesforce_api_version=settings.get_str("salesforce_api_version"),
        salesforce_redirect_port=int(settings.get("salesforce_redirect_port")),
        salesforce_cql_field=settings.get_str("salesforce_cql_field"),
        salesforce_lightning_urls=settings.get_bool("salesforce_lightning_urls"),
        enrichment_provider=settings.get_str("enrichment_provider"),
        enrichment_base_url=settings.get_str("enrichment_base_url"),
        enrichment_client_id=settings.get_str("enrichment_client_id"),
        activity_log_path=activity,
    )
