"""Microsoft Graph ``auditLogs`` and ``riskDetections`` records -> the Entra diagnostic-settings
shape the rules use.

Graph (``GET /auditLogs/signIns``, ``/auditLogs/directoryAudits``,
``/identityProtection/riskDetections``; v1.0 and beta), as written by
``Get-MgAuditLogSignIn | ConvertTo-Json``, ``Invoke-MgGraphRequest`` and Microsoft-Extractor-Suite
(``Get-EntraSignInLogs``, ``Get-GraphEntraSignInLogs``, ``Get-EntraAuditLogs``...), returns the
*properties* of a diagnostic-settings record at the top level, in camelCase. The diagnostic
record wraps them: ``{"time", "category", "operationName", "resultType", "callerIpAddress",
"correlationId", "identity", "properties": {<the Graph object>}}``. The map, field by field, is
docs/hunt-exports.md; Microsoft's descriptions of both shapes:

* https://learn.microsoft.com/en-us/graph/api/resources/signin (v1.0 / beta signIn)
* https://learn.microsoft.com/en-us/graph/api/resources/directoryaudit
* https://learn.microsoft.com/en-us/graph/api/resources/riskdetection (``Get-MgRiskDetection``,
  Microsoft-Extractor-Suite ``Get-RiskyDetections``); the diagnostic record of category
  ``UserRiskEvents`` carries it under ``properties`` with ``time`` = its ``lastUpdatedDateTime``
* https://learn.microsoft.com/en-us/entra/identity/monitoring-health/howto-stream-logs-to-event-hub
  and https://learn.microsoft.com/en-us/azure/azure-monitor/essentials/resource-logs-schema
  (the diagnostic-settings record: time, category, operationName, properties)

PowerShell objects of the older cmdlets (``Get-AzureADAuditSignInLogs``, ``Get-MgAuditLogSignIn``
piped through ``Select-Object *``) spell the same names in PascalCase (``CreatedDateTime``,
``IpAddress``, ``Status.ErrorCode``); they are turned into camelCase first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# signInEventTypes (beta, and v1.0 since 2023) -> the diagnostic-settings category
SIGNIN_CATEGORIES: dict[str, str] = {
    "interactiveUser": "SignInLogs",
    "nonInteractiveUser": "NonInteractiveUserSignInLogs",
    "servicePrincipal": "ServicePrincipalSignInLogs",
    "managedIdentity": "ManagedIdentitySignInLogs",
}
SIGNIN_OPERATION = "Sign-in activity"  # operationName of every sign-in diagnostic record

_SIGNIN_KEYS = frozenset({"createdDateTime", "ipAddress"})
_SIGNIN_ANY = frozenset({"userPrincipalName", "appId", "servicePrincipalId", "signInEventTypes"})
_AUDIT_KEYS = frozenset({"activityDateTime", "activityDisplayName", "loggedByService"})
_RISK_KEYS = frozenset({"riskEventType", "detectedDateTime"})
RISK_CATEGORY = "UserRiskEvents"
RISK_OPERATION = "User Risk Detection"  # operationName of every UserRiskEvents diagnostic record


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:] if key[:1].isupper() and not key[:2].isupper() else key


def camel_case(value: Any) -> Any:
    """``value`` with every object key's first letter lowered (PascalCase -> camelCase);
    keys that start with two capitals (``IPAddress``) are kept."""
    if isinstance(value, dict):
        return {_camel(k): camel_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value


def graph_kind(record: Mapping[str, Any]) -> str | None:
    """``"signIn"`` / ``"directoryAudit"`` / ``"riskDetection"`` for a Graph object (camelCase),
    else None."""
    if "category" in record and "properties" in record:
        return None  # already a diagnostic-settings record
    if record.keys() >= _SIGNIN_KEYS and not _SIGNIN_ANY.isdisjoint(record):
        return "signIn"
    if record.keys() >= _AUDIT_KEYS:
        return "directoryAudit"
    if record.keys() >= _RISK_KEYS:
        return "riskDetection"
    return None


def _pascal_kind(record: Mapping[str, Any]) -> bool:
    return "CreatedDateTime" in record or "ActivityDateTime" in record or "DetectedDateTime" in record


def signin_category(obj: Mapping[str, Any]) -> str:
    """The diagnostic category of a Graph signIn.

    ``signInEventTypes`` names the kind; without it (older v1.0 exports) ``isInteractive``
    decides between interactive and non-interactive user sign-ins."""
    kinds = obj.get("signInEventTypes")
    if isinstance(kinds, list):
        for k in kinds:
            if isinstance(k, str) and k in SIGNIN_CATEGORIES:
                return SIGNIN_CATEGORIES[k]
    if obj.get("isInteractive") is False:
        return "NonInteractiveUserSignInLogs"
    return "SignInLogs"


def _error_code(obj: Mapping[str, Any]) -> Any:
    status = obj.get("status")
    return status.get("errorCode") if isinstance(status, dict) else None


def signin_to_diagnostic(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The diagnostic-settings record of a Graph signIn (camelCase)."""
    code = _error_code(obj)
    status = obj.get("status")
    out: dict[str, Any] = {
        "time": obj.get("createdDateTime"),
        "category": signin_category(obj),
        "operationName": SIGNIN_OPERATION,
        "resultType": "" if code is None else str(code),
        "callerIpAddress": obj.get("ipAddress"),
        "correlationId": obj.get("correlationId"),
        "identity": obj.get("userDisplayName") or obj.get("servicePrincipalName"),
        "properties": dict(obj),
    }
    if isinstance(status, dict) and status.get("failureReason") is not None:
        out["resultDescription"] = status.get("failureReason")
    tenant = obj.get("resourceTenantId") or obj.get("homeTenantId")
    if tenant:
        out["tenantId"] = tenant
    return out


def audit_to_diagnostic(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The diagnostic-settings record of a Graph directoryAudit (camelCase)."""
    initiated = obj.get("initiatedBy")
    user = initiated.get("user") if isinstance(initiated, dict) else None
    ip = user.get("ipAddress") if isinstance(user, dict) else None
    identity = None
    if isinstance(user, dict):
        identity = user.get("userPrincipalName") or user.get("displayName")
    app = initiated.get("app") if isinstance(initiated, dict) else None
    if identity is None and isinstance(app, dict):
        identity = app.get("displayName")
    return {
        "time": obj.get("activityDateTime"),
        "category": "AuditLogs",
        "operationName": obj.get("activityDisplayName"),
        "resultType": obj.get("result"),
        "resultSignature": "None",
        "resultDescription": obj.get("resultReason"),
        "callerIpAddress": ip,
        "correlationId": obj.get("correlationId"),
        "identity": identity,
        "properties": dict(obj),
    }


def risk_to_diagnostic(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The diagnostic-settings record (category ``UserRiskEvents``) of a Graph riskDetection.

    The record's ``time`` is when the detection was last written (``lastUpdatedDateTime``, else
    ``detectedDateTime``), as the diagnostic export stamps it; PowerShell's ``IPAddress`` is the
    Graph ``ipAddress``."""
    props = dict(obj)
    if "ipAddress" not in props and "IPAddress" in props:
        props["ipAddress"] = props.pop("IPAddress")
    props.pop("@odata.type", None)
    return {
        "time": props.get("lastUpdatedDateTime") or props.get("detectedDateTime"),
        "category": RISK_CATEGORY,
        "operationName": RISK_OPERATION,
        "callerIpAddress": props.get("ipAddress"),
        "correlationId": props.get("id"),
        "identity": props.get("userDisplayName"),
        "properties": props,
    }


def from_graph(record: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """``(diagnostic record, kind)`` for a Graph signIn / directoryAudit, else None.

    ``kind`` names what was recognised, e.g. ``"Graph signIn (PascalCase)"``."""
    obj: Mapping[str, Any] = record
    pascal = False
    kind = graph_kind(obj)
    if kind is None and _pascal_kind(record):
        obj = camel_case(dict(record))
        kind = graph_kind(obj)
        pascal = True
    if kind is None:
        return None
    label = f"Microsoft Graph {kind}" + (" (PascalCase)" if pascal else "")
    if kind == "signIn":
        return signin_to_diagnostic(obj), label
    if kind == "riskDetection":
        return risk_to_diagnostic(obj), label
    return audit_to_diagnostic(obj), label
