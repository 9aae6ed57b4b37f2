"""Exception tree for CRM and enrichment integrations, with readable messages for the panel.

IntegrationError
├── TransportError                 network failure or timeout talking to a service
├── AuthError                      OAuth failure (``error``/``error_description``)
│   └── SignInRequired             no usable refresh token: the user must sign in again
├── SalesforceError                a Salesforce error array ``[{message, errorCode, fields}]``
│   ├── SessionExpired             401 INVALID_SESSION_ID that survived one refresh
│   ├── MalformedQuery             MALFORMED_QUERY / MALFORMED_SEARCH / INVALID_QUERY_LOCATOR
│   ├── InvalidField               INVALID_FIELD / INVALID_TYPE / INVALID_FIELD_FOR_INSERT_UPDATE
│   ├── NotFound                   404 NOT_FOUND / ENTITY_IS_DELETED
│   ├── AccessDenied               403 INSUFFICIENT_ACCESS_* / API_DISABLED_FOR_ORG
│   ├── RequestLimitExceeded       REQUEST_LIMIT_EXCEEDED (concurrent: after bounded retries; daily: at once)
│   ├── ServiceUnavailable         5xx (after bounded retries)
│   ├── ValidationFailed           other 400s on save (REQUIRED_FIELD_MISSING, INVALID_EMAIL_ADDRESS, ...)
│   └── DuplicatesDetected         DUPLICATES_DETECTED with the matched records and allowSave
└── EnrichmentError                a company-data provider failed (not 404: that is a result)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class IntegrationError(Exception):
    """Root of every integration failure; ``str(exc)`` is fit to show to the user."""


class TransportError(IntegrationError):
    """The service could not be reached or did not answer in time."""


class AuthError(IntegrationError):
    """OAuth endpoint refused (e.g. invalid_grant)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(
            f"Sign-in failed ({error}): {description}" if description else f"Sign-in failed ({error})"
        )
        self.error = error
        self.description = description


class SignInRequired(AuthError):
    """There is no valid refresh token; ask the user to sign in to Salesforce again."""

    def __init__(self, description: str = "please sign in to Salesforce again") -> None:
        super().__init__("sign_in_required", description)


class SalesforceError(IntegrationError):
    """One Salesforce REST error (the first of the array; all are kept in ``errors``)."""

    def __init__(self, status: int, errors: list[dict[str, Any]], url: str = "") -> None:
        first = errors[0] if errors else {}
        self.status = status
        self.errors = errors
        self.url = url
        self.error_code: str = str(first.get("errorCode") or first.get("statusCode") or f"HTTP_{status}")
        self.sf_message: str = str(first.get("message") or "").strip()
        self.fields: list[str] = list(first.get("fields") or [])
        super().__init__(self._describe())

    def _describe(self) -> str:
        # Query errors start with the echoed query and a caret; the last line is the useful part.
        text = self.sf_message.splitlines()[-1] if self.sf_message else "no details"
        fields = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"Salesforce {self.error_code}: {text}{fields}"


class SessionExpired(SalesforceError):
    """The access token was refused even after a refresh."""


class MalformedQuery(SalesforceError):
    """The SOQL/SOSL was rejected: a bug in our query building, not the user's fault."""


class InvalidField(SalesforceError):
    """A field or object does not exist (often: a custom field missing in this org, e.g. the CQL field)."""


class NotFound(SalesforceError):
    """The record or resource does not exist (or was deleted)."""


class AccessDenied(SalesforceError):
    """The signed-in user lacks permission for this operation."""


class RequestLimitExceeded(SalesforceError):
    """An API request limit was hit: the concurrent one is retried a bounded number of times; the daily
    (rolling 24-hour) allowance is not, since it does not come back in seconds."""

    @property
    def daily(self) -> bool:
        # Salesforce words the two apart only in the message: "TotalRequests Limit exceeded." for the
        # daily allowance, "ConcurrentRequests (...) Limit exceeded." for too many long calls at once.
        return "concurrent" not in self.sf_message.lower()

    def _describe(self) -> str:
        if self.daily:
            return (
                f"Salesforce {self.error_code}: the org's daily API request limit is used up "
                f"({self.sf_message or 'TotalRequests Limit exceeded.'}); try again later or ask an admin"
            )
        return super()._describe()


class ServiceUnavailable(SalesforceError):
    """Salesforce answered 5xx; retried a bounded number of times first."""


class ValidationFailed(SalesforceError):
    """A save was rejected by validation (required field, bad email, inactive owner, ...)."""


@dataclass(frozen=True)
class DuplicateMatch:
    """One record a duplicate rule matched."""

    sobject: str
    record_id: str
    confidence: float
    rule: str
    match_engine: str
    record: dict[str, Any]


class DuplicatesDetected(SalesforceError):
    """A duplicate rule stopped the save; ``allow_save`` says whether saving anyway is permitted."""

    def __init__(self, status: int, errors: list[dict[str, Any]], url: str = "") -> None:
        result = (errors[0].get("duplicateResult") if errors else None) or {}
        self.allow_save: bool = bool(result.get("allowSave"))
        self.rule: str = str(result.get("duplicateRule") or "")
        self.matches: list[DuplicateMatch] = [
            DuplicateMatch(
                sobject=str(
                    mr.get("entityType") or rec.get("record", {}).get("attributes", {}).get("type", "")
                ),
                record_id=str(rec.get("record", {}).get("Id", "")),
                confidence=float(rec.get("matchConfidence") or 0.0),
                rule=str(mr.get("rule") or ""),
                match_engine=str(mr.get("matchEngine") or ""),
                record=dict(rec.get("record") or {}),
            )
            for mr in result.get("matchResults") or []
            for rec in mr.get("matchRecords") or []
        ]
        super().__init__(status, errors, url)

    def _describe(self) -> str:
        ids = ", ".join(f"{m.sobject} {m.record_id}" for m in self.matches) or "unknown records"
        action = "you may save anyway" if self.allow_save else "saving is blocked"
        return f"Possible duplicate of {ids} ({self.rule}); {action}."


class EnrichmentError(IntegrationError):
    """A company-data provider failed in a way that is not a lookup result."""


_BY_CODE: dict[str, type[SalesforceError]] = {
    "INVALID_SESSION_ID": SessionExpired,
    "MALFORMED_QUERY": MalformedQuery,
    "MALFORMED_SEARCH": MalformedQuery,
    "INVALID_QUERY_LOCATOR": MalformedQuery,
    "INVALID_FIELD": InvalidField,
    "INVALID_TYPE": InvalidField,
    "INVALID_FIELD_FOR_INSERT_UPDATE": InvalidField,
    "NOT_FOUND": NotFound,
    "ENTITY_IS_DELETED": NotFound,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceeded,
    "INSUFFICIENT_ACCESS_OR_READONLY": AccessDenied,
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": AccessDenied,
    "API_DISABLED_FOR_ORG": AccessDenied,
    "DUPLICATES_DETECTED": DuplicatesDetected,
    "SERVER_UNAVAILABLE": ServiceUnavailable,
}


def error_from_response(status: int, body: Any, url: str = "") -> SalesforceError:
    """Turn a Salesforce error response (array, object or text) into the matching exception."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
        # Gateways sometimes answer HTML or plain text.
        body = [{"errorCode": f"HTTP_{status}", "message": str(body)[:300] if body else f"HTTP {status}"}]
    code = str(body[0].get("errorCode") or body[0].get("statusCode") or "") if body else ""
    cls = _BY_CODE.get(code)
    if cls is None:
        if status == 404:
            cls = NotFound
        elif status == 403:
            cls = AccessDenied
        elif status >= 500:
            cls = ServiceUnavailable
        elif status == 400:
            cls = ValidationFailed
        else:
            cls = SalesforceError
    return cls(status, body, url)
