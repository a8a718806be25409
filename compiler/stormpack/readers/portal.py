"""Entra admin center "Download" CSV (sign-ins, audit logs) -> the diagnostic-settings shape.

The portal writes human-readable headers ("Date (UTC)", "IP address", "Sign-in error code"),
some with a trailing space ("Application ID "), one with a doubled space ("Autonomous system
number"), and "Incoming token type" twice (first the enum value ``primaryRefreshToken``, then
its display text "Primary refresh token"; the CSV reader names the second one
``Incoming token type #2``). Headers are matched after trimming and collapsing spaces,
case-insensitively. Each known header is written to the diagnostic-settings field it shows
(docs/hunt-exports.md has the table and the sources); every other column is kept, verbatim,
under ``properties.portalColumns`` so nothing in the row is lost.

Download: https://learn.microsoft.com/en-us/entra/identity/monitoring-health/howto-download-logs
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..shapes.source import set_path
from .graph import SIGNIN_OPERATION

_SPACES = re.compile(r"\s+")


def header_key(name: str) -> str:
    return _SPACES.sub(" ", name.strip()).lower()


def _int(text: str) -> Any:
    try:
        return int(text.strip())
    except ValueError:
        return text


def _bool(text: str) -> Any:
    low = text.strip().lower()
    return {"true": True, "false": False, "yes": True, "no": False}.get(low, text)


def _time(text: str) -> Any:
    """Portal times are UTC ("2025-03-18T12:33:24Z"; older downloads "3/18/2025, 12:33:24 PM")."""
    t = text.strip()
    for fmt in ("%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            continue
    return t


_CA_STATUS = {"success": "success", "failure": "failure", "not applied": "notApplied"}


def _ca(text: str) -> Any:
    return _CA_STATUS.get(text.strip().lower(), text)


Convert = Callable[[str], Any]


@dataclass(frozen=True)
class Column:
    header: str
    fields: tuple[str, ...]
    convert: Convert | None = None


def _c(header: str, *fields: str, convert: Convert | None = None) -> Column:
    return Column(header, fields, convert)


SIGNIN_COLUMNS: tuple[Column, ...] = (
    _c("Date (UTC)", "time", "properties.createdDateTime", convert=_time),
    _c("Request ID", "properties.id"),
    _c("User agent", "properties.userAgent"),
    _c("Correlation ID", "correlationId", "properties.correlationId"),
    _c("User ID", "properties.userId"),
    _c("User", "identity", "properties.userDisplayName"),
    _c("Username", "properties.userPrincipalName"),
    _c("User type", "properties.userType"),
    _c("Cross tenant access type", "properties.crossTenantAccessType"),
    _c("Incoming token type", "properties.incomingTokenType"),
    _c("Authentication Protocol", "properties.authenticationProtocol"),
    _c("Unique token identifier", "properties.uniqueTokenIdentifier"),
    _c("Original transfer method", "properties.originalTransferMethod"),
    _c("Client credential type", "properties.clientCredentialType"),
    _c("Application", "properties.appDisplayName"),
    _c("Application ID", "properties.appId"),
    _c("App owner tenant ID", "properties.appOwnerTenantId"),
    _c("Resource", "properties.resourceDisplayName"),
    _c("Resource ID", "properties.resourceId"),
    _c("Resource tenant ID", "tenantId", "properties.resourceTenantId"),
    _c("Resource owner tenant ID", "properties.resourceOwnerTenantId"),
    _c("Home tenant ID", "properties.homeTenantId"),
    _c("Home tenant name", "properties.homeTenantName"),
    _c("IP address", "callerIpAddress", "properties.ipAddress"),
    _c("Client app", "properties.clientAppUsed"),
    _c("Device ID", "properties.deviceDetail.deviceId"),
    _c("Browser", "properties.deviceDetail.browser"),
    _c("Operating System", "properties.deviceDetail.operatingSystem"),
    _c("Compliant", "properties.deviceDetail.isCompliant", convert=_bool),
    _c("Managed", "properties.deviceDetail.isManaged", convert=_bool),
    _c("Join Type", "properties.deviceDetail.trustType"),
    _c("Authentication requirement", "properties.authenticationRequirement"),
    _c("Sign-in identifier", "properties.signInIdentifier"),
    _c("Session ID", "properties.sessionId"),
    _c("IP address (seen by resource)", "properties.ipAddressFromResourceProvider"),
    _c("Autonomous system number", "properties.autonomousSystemNumber", convert=_int),
    _c("Flagged for review", "properties.flaggedForReview", convert=_bool),
    _c("Token issuer type", "properties.tokenIssuerType"),
    _c("Token issuer name", "properties.tokenIssuerName"),
    _c("Latency", "properties.processingTimeInMilliseconds", convert=_int),
    _c("Conditional Access", "properties.conditionalAccessStatus", convert=_ca),
    _c("Managed Identity type", "properties.managedIdentityType"),
    _c("Service principal ID", "properties.servicePrincipalId"),
    _c("Service principal name", "identity", "properties.servicePrincipalName"),
)

AUDIT_COLUMNS: tuple[Column, ...] = (
    _c("Date (UTC)", "time", "properties.activityDateTime", convert=_time),
    _c("CorrelationId", "correlationId", "properties.correlationId"),
    _c("Service", "properties.loggedByService"),
    _c("Category", "properties.category"),
    _c("Activity", "operationName", "properties.activityDisplayName"),
    _c("Result", "resultType", "properties.result"),
    _c("ResultReason", "resultDescription", "properties.resultReason"),
    _c("ActorDisplayName", "properties.initiatedBy.user.displayName"),
    _c("ActorObjectId", "properties.initiatedBy.user.id"),
    _c("ActorUserPrincipalName", "identity", "properties.initiatedBy.user.userPrincipalName"),
    _c("IPAddress", "callerIpAddress", "properties.initiatedBy.user.ipAddress"),
    _c("ActorServicePrincipalId", "properties.initiatedBy.app.servicePrincipalId"),
    _c("ActorServicePrincipalName", "properties.initiatedBy.app.displayName"),
)

# the columns that tell a portal download from any other CSV
SIGNIN_SIGNATURE = frozenset({"date (utc)", "request id", "ip address", "status"})
AUDIT_SIGNATURE = frozenset({"date (utc)", "correlationid", "service", "activity", "result"})
_TARGET = re.compile(r"target(\d+)(type|displayname|objectid|userprincipalname)$")
_MODIFIED = re.compile(r"target(\d+)modifiedproperty(\d+)(name|oldvalue|newvalue)$")
_TARGET_FIELDS = {"type": "type", "displayname": "displayName", "objectid": "id",
                  "userprincipalname": "userPrincipalName"}
_MODIFIED_FIELDS = {"name": "displayName", "oldvalue": "oldValue", "newvalue": "newValue"}


def portal_kind(row: Mapping[str, Any]) -> str | None:
    """``"sign-ins"`` / ``"audit logs"`` for a row of a portal download, else None."""
    keys = {header_key(k) for k in row}
    if keys >= SIGNIN_SIGNATURE:
        return "sign-ins"
    if keys >= AUDIT_SIGNATURE:
        return "audit logs"
    return None


def _set(record: dict[str, Any], dotted: str, value: Any) -> None:
    set_path(record, dotted, value, overwrite=False)  # the first column naming a field wins


def _apply(row: Mapping[str, Any], columns: tuple[Column, ...], out: dict[str, Any]) -> dict[str, Any]:
    by_key = {header_key(c.header): c for c in columns}
    extra: dict[str, Any] = {}
    for name, value in row.items():
        col = by_key.get(header_key(name))
        if col is None or not isinstance(value, str):
            extra[name.strip()] = value
            continue
        if value == "":
            continue
        v = col.convert(value) if col.convert else value
        for f in col.fields:
            _set(out, f, v)
    out.setdefault("properties", {})
    if extra:
        out["properties"]["portalColumns"] = extra
    return out


def _location(text: str) -> dict[str, str]:
    """"Frankfurt Am Main, Hessen, DE" -> city, state, countryOrRegion (the last part)."""
    parts = [p.strip() for p in text.split(",")]
    loc: dict[str, str] = {"countryOrRegion": parts[-1]}
    if len(parts) >= 2:
        loc["city"] = parts[0]
    if len(parts) >= 3:
        loc["state"] = ", ".join(parts[1:-1])
    return loc


def signin_category(row: Mapping[str, str]) -> str:
    """Interactive unless the row names a service principal or a managed identity.

    The interactive and non-interactive user downloads have the same columns; the
    non-interactive one is told apart by its file name (see :func:`signins_from_portal`)."""
    values = {header_key(k): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
    if values.get("managed identity type", "none").lower() not in ("", "none"):
        return "ManagedIdentitySignInLogs"
    if values.get("service principal id") and not values.get("user id"):
        return "ServicePrincipalSignInLogs"
    return "SignInLogs"


def signins_from_portal(row: Mapping[str, Any], non_interactive: bool = False) -> dict[str, Any]:
    category = signin_category(row)
    if non_interactive and category == "SignInLogs":
        category = "NonInteractiveUserSignInLogs"
    out: dict[str, Any] = {"category": category, "operationName": SIGNIN_OPERATION}
    rest = {k: v for k, v in row.items()
            if header_key(k) not in ("location", "status", "sign-in error code", "failure reason")}
    _apply(rest, SIGNIN_COLUMNS, out)
    props = out["properties"]
    values = {header_key(k): v for k, v in row.items() if isinstance(v, str)}
    if values.get("location"):
        props["location"] = _location(values["location"])
    code_text = (values.get("sign-in error code") or "").strip()
    status_text = (values.get("status") or "").strip()
    code: Any = _int(code_text) if code_text else (0 if status_text.lower() == "success" else None)
    status: dict[str, Any] = {}
    if code is not None:
        status["errorCode"] = code
        out["resultType"] = str(code)
    if values.get("failure reason"):
        status["failureReason"] = values["failure reason"]
        out["resultDescription"] = values["failure reason"]
    if status_text:
        status["portalStatus"] = status_text
    props["status"] = status
    return out


def audit_from_portal(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"category": "AuditLogs"}
    targets: dict[int, dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    for name, value in row.items():
        key = header_key(name).replace(" ", "")
        m, t = _MODIFIED.fullmatch(key), _TARGET.fullmatch(key)
        if m is not None:
            tgt = targets.setdefault(int(m.group(1)), {})
            mods = tgt.setdefault("_mods", {})
            mods.setdefault(int(m.group(2)), {})[_MODIFIED_FIELDS[m.group(3)]] = value
        elif t is not None:
            targets.setdefault(int(t.group(1)), {})[_TARGET_FIELDS[t.group(2)]] = value
        else:
            rest[name] = value
    _apply(rest, AUDIT_COLUMNS, out)
    resources = []
    for n in sorted(targets):
        tgt = targets[n]
        mods = tgt.pop("_mods", {})
        tgt["modifiedProperties"] = [mods[i] for i in sorted(mods) if any(mods[i].values())]
        if any(v for k, v in tgt.items() if k != "modifiedProperties") or tgt["modifiedProperties"]:
            resources.append(tgt)
    out["properties"]["targetResources"] = resources
    return out


def from_portal(row: Mapping[str, Any], non_interactive: bool = False) -> tuple[dict[str, Any], str] | None:
    """``(diagnostic record, label)`` for a row of an Entra admin center download, else None."""
    kind = portal_kind(row)
    if kind == "sign-ins":
        return signins_from_portal(row, non_interactive), "Entra admin center sign-ins CSV"
    if kind == "audit logs":
        return audit_from_portal(row), "Entra admin center audit logs CSV"
    return None
