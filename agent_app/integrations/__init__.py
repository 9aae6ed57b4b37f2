"""CRM (Salesforce) and company-enrichment clients for the visitor panel: async httpx, Qt-free."""

from agent_app.integrations.activity_log import ActivityLog
from agent_app.integrations.cache import LookupCache
from agent_app.integrations.config import (
    Integrations,
    IntegrationSettings,
    build_integrations,
    integration_settings_from,
)
from agent_app.integrations.crm import AccountMatch, CrmService, DuplicateHit, DuplicateReport, PersonMatch
from agent_app.integrations.enrichment import (
    ClearbitProvider,
    CompanyEnrichmentProvider,
    CompanyProfile,
    DataFoxProvider,
    LookupResult,
    LookupStatus,
    normalize_domain,
)
from agent_app.integrations.errors import (
    AccessDenied,
    AuthError,
    DuplicateMatch,
    DuplicatesDetected,
    EnrichmentError,
    IntegrationError,
    InvalidField,
    MalformedQuery,
    NotFound,
    RequestLimitExceeded,
    SalesforceError,
    ServiceUnavailable,
    SessionExpired,
    SignInRequired,
    TransportError,
    ValidationFailed,
)
from agent_app.integrations.escaping import soql_like, soql_quote, sosl_escape
from agent_app.integrations.lookup import EnrichmentService, VisitorInsight, VisitorLookup, other_duplicates
from agent_app.integrations.secret_store import SecretStore
from agent_app.integrations.sf_auth import OAuthConfig, SalesforceAuth, Session
from agent_app.integrations.sf_client import ApiUsage, RetryPolicy, SalesforceClient

__all__ = [
    "AccessDenied",
    "AccountMatch",
    "ActivityLog",
    "ApiUsage",
    "AuthError",
    "ClearbitProvider",
    "CompanyEnrichmentProvider",
    "CompanyProfile",
    "CrmService",
    "DataFoxProvider",
    "DuplicateHit",
    "DuplicateMatch",
    "DuplicateReport",
    "DuplicatesDetected",
    "EnrichmentError",
    "EnrichmentService",
    "IntegrationError",
    "IntegrationSettings",
    "Integrations",
    "InvalidField",
    "LookupCache",
    "LookupResult",
    "LookupStatus",
    "MalformedQuery",
    "NotFound",
    "OAuthConfig",
    "PersonMatch",
    "RequestLimitExceeded",
    "RetryPolicy",
    "SalesforceAuth",
    "SalesforceClient",
    "SalesforceError",
    "SecretStore",
    "ServiceUnavailable",
    "Session",
    "SessionExpired",
    "SignInRequired",
    "TransportError",
    "ValidationFailed",
    "VisitorInsight",
    "VisitorLookup",
    "build_integrations",
    "integration_settings_from",
    "normalize_domain",
    "other_duplicates",
    "soql_like",
    "soql_quote",
    "sosl_escape",
]
