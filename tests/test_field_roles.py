"""Field roles (data/taxonomy.yml ``roles:``): which fields name the acting user, the source
address, the application, the mailbox owner and the host, stated once and read by hunt's table,
report and triage, the correlation members, the Splunk risk objects and the Sentinel/Defender
entities (so they cannot drift apart again, as hunt's user/IP columns and the entity sources had).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stormpack.errors import TaxonomyError
from stormpack.readers import Record
from stormpack.taxonomy import ROLES, _roles, load_taxonomy

TAX = load_taxonomy()


def test_every_role_has_fields_that_a_log_source_declares() -> None:
    assert tuple(TAX.roles) == ROLES
    for role in ROLES:
        assert TAX.role_fields(role), role
        for name in TAX.role_fields(role):
            assert any(ls.field(name) is not None for ls in TAX.logsources.values()), (role, name)
    ip_types = {ls.fields[n].type for ls in TAX.logsources.values() for n in TAX.role_fields("ip")
                if n in ls.fields}
    assert ip_types == {"ip"}


def test_role_fields_of_one_log_source_keep_the_preference_order() -> None:
    assert TAX.role_fields("app", "m365_audit") == ("ClientAppId", "AppId")
    assert TAX.role_fields("user", "azure_auditlogs") == ("properties.initiatedBy.user.userPrincipalName",)
    assert TAX.role_fields("ip", "m365_audit") == ("ClientIP", "ClientIPAddress", "ActorIpAddress")
    assert TAX.role_fields("mailbox", "azure_signinlogs") == ()


@pytest.mark.parametrize(("data", "message"), [
    ({"user": ["NoSuchField"]}, "roles.user names NoSuchField, which no log source declares"),
    ({"ip": ["UserId"]}, "roles.ip names UserId, which is not of type ip"),
    ({"owner": ["UserId"]}, "unknown role(s) owner"),
    ({"user": "UserId"}, "roles.user must be a list of field names"),
])
def test_a_bad_roles_section_is_a_taxonomy_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TaxonomyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _roles(data, TAX.logsources)


def test_the_correlation_members_and_splunk_risk_objects_read_the_roles() -> None:
    from stormpack.artifacts import settings
    from stormpack.compiler.kql_correlation import MEMBER_FIELDS

    assert {"address": TAX.role_fields("ip"), "app": TAX.role_fields("app")} == MEMBER_FIELDS
    assert dict(settings.SPLUNK_RISK_OBJECT_TYPES) == {"user": "user", "ip": "system"}


@dataclass
class _Rule:
    title: str = "Rule R"
    rule: Any = None
    id: str = "r"


@dataclass
class _Hit:
    rule: _Rule
    timestamp: str | None = "2024-01-01T00:00:00"


def _row(record: dict[str, Any]) -> list[str]:
    from stormpack.hunt import TableSink

    out = io.BytesIO()
    sink = TableSink(out)
    sink.single(_Hit(_Rule()), Record("x.jsonl", 0, 1, record))
    sink.close()
    return out.getvalue().decode().splitlines()[1].split()


def test_hunt_table_user_and_ip_columns_are_the_roles() -> None:
    from stormpack.hunt import role_columns

    assert role_columns() == (TAX.role_fields("user"), TAX.role_fields("ip"))
    row = _row({"Operation": "MailItemsAccessed", "UserId": "a@contoso.com",
                "ClientIPAddress": "203.0.113.7", "MailboxOwnerUPN": "b@contoso.com"})
    assert row[3:5] == ["a@contoso.com", "203.0.113.7"]


def test_the_mailbox_owner_is_not_shown_as_the_user() -> None:
    """hunt used to fall back to MailboxOwnerUPN for the user column (and to names no taxonomy log
    source has: userPrincipalName, UserIds, IPAddress, and the display name ``identity``): the
    owner of the mailbox acted upon is not who acted, and the Sentinel Account entity never did so."""
    row = _row({"Operation": "MailItemsAccessed", "MailboxOwnerUPN": "b@contoso.com",
                "ClientIP": "203.0.113.8"})
    assert "b@contoso.com" not in row[3:5] and "203.0.113.8" in row


def test_report_and_triage_columns_are_the_roles() -> None:
    from stormpack.report import HtmlReportSink
    from stormpack.triage import GroupedTableSink

    rec = Record("x.jsonl", 0, 1, {"properties": {"userPrincipalName": "c@contoso.com",
                                                  "ipAddress": "198.51.100.4"}, "category": "SignInLogs"})
    report = HtmlReportSink()
    report.single(_Hit(_Rule()), rec)
    assert (report.hits[0].user, report.hits[0].ip) == ("c@contoso.com", "198.51.100.4")
    out = io.BytesIO()
    triage = GroupedTableSink(out, "ip")
    triage.single(_Hit(_Rule()), rec)
    triage.close()
    assert "198.51.100.4" in out.getvalue().decode()


def test_the_entity_sources_are_the_roles_in_order() -> None:
    from stormpack.artifacts import settings

    for role, entity in settings.ROLE_ENTITIES.items():
        fields = tuple(s.field for s in settings.ENTITY_SOURCES if s.entity_type == entity.entity_type)
        assert fields == TAX.role_fields(role), role
    assert [e.entity_type for e in settings.ROLE_ENTITIES.values()] == [
        "Account", "IP", "CloudApplication", "Mailbox", "Host"]


def test_the_cloud_application_entity_prefers_the_calling_app() -> None:
    """Drift fixed: the entity read ``coalesce(AppId, ClientAppId)`` while the correlation members and
    the baseline read ClientAppId first. A Graph mail read (OTRF GoldenSAMLADFSMailAccess
    OfficeActivityEvents, the shape of fixtures/) carries AppId 00000003-0000-0000-c000-000000000000,
    Microsoft Graph itself, and the calling app in ClientAppId ("Original caller(service/protocol)
    identifier of the request", Management Activity API schema)."""
    from stormpack.artifacts.entities import entity_columns
    from stormpack.artifacts.model import rule_meta
    from stormpack.compiler import compile_rules
    from stormpack.ruleset import load_ruleset

    root = Path(__file__).resolve().parents[1]
    path = root / "rules/m365/audit/m365_audit_mail_items_accessed_by_unsanctioned_client_app.yml"
    query = compile_rules([path], "sentinel", root / "values").queries[0]
    meta = rule_meta(load_ruleset([path]).rules[0])
    app = next(c for c in entity_columns(query, meta) if c.entity_type == "CloudApplication")
    assert app.expression == "coalesce(ClientAppId, AppId)"
