"""What each target collects (data/collection.yml) and the compile decisions it drives (issue 10 point 8)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from sigma.rule import SigmaRule

from stormpack.compiler import compile_rules
from stormpack.compiler.availability import decide, load_availability, parse_availability, rule_families
from stormpack.compiler.registry import ARTIFACT_TARGETS
from stormpack.errors import NotCollectedError, TaxonomyError
from stormpack.ruleset import load_ruleset
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]

# Every (rule, target) refused because the target does not collect the rule's records; every other
# (rule, target) of the pack is compiled as far as availability goes. Written out from the table:
# OfficeActivity holds no Entra records of the unified audit log (RecordType 8/9/15, UserLoggedIn /
# UserLoginFailed) and no eDiscovery records (Workload SecurityComplianceCenter).
REFUSED = {
    ("m365_audit_mail_read_permission_granted_to_application", "sentinel"),
    ("m365_audit_advanced_auditing_licence_plan_disabled_for_user", "sentinel"),
    ("m365_audit_sign_in_failed_with_wrong_password", "sentinel"),
    ("m365_audit_password_rejected_at_token_endpoint", "sentinel"),
    ("m365_audit_sign_in_succeeded_at_token_endpoint", "sentinel"),
    ("m365_audit_ediscovery_search_or_export_by_unlisted_operator", "sentinel"),
}
TARGETS = ARTIFACT_TARGETS  # the products data/collection.yml describes


@pytest.fixture(scope="module")
def pack_rules() -> list[Any]:
    return [lr for lr in load_ruleset([ROOT / "rules"]) if isinstance(lr.rule, SigmaRule)]


def test_every_table_entry_names_a_source_url() -> None:
    avail = load_availability()
    assert avail.collections
    for (target, ls), coll in avail.collections.items():
        assert coll.sources, f"{target}/{ls} names no source"
        assert all(u.startswith("https://") for u in coll.sources), (target, ls, coll.sources)
        assert coll.connector, (target, ls)
    for ls in avail.families:
        assert avail.family_sources.get(ls), f"families of {ls} name no source"


def test_table_covers_every_target_for_the_unified_audit_log() -> None:
    avail = load_availability()
    assert {t for t, ls in avail.collections if ls == "m365_audit"} == set(TARGETS)
    assert "m365_audit" in load_taxonomy().logsources


def test_table_says_what_the_products_document() -> None:
    avail = load_availability()
    sentinel = avail.collections[("sentinel", "m365_audit")]
    assert sentinel.collects == {"exchange", "sharepoint", "teams"}
    assert set(sentinel.not_collected) == {"entra", "compliance"}
    defender = avail.collections[("defender", "m365_audit")]
    assert "entra" in defender.collects  # CloudAppEvents carries e.g. "Add delegated permission grant."
    splunk = avail.collections[("splunk", "m365_audit")]
    assert splunk.collects == set(avail.families["m365_audit"])  # every content type can be subscribed


@pytest.mark.parametrize("target", TARGETS)
def test_every_pack_rule_decision_follows_the_table(pack_rules: list[Any], target: str) -> None:
    tax = load_taxonomy()
    got = set()
    for lr in pack_rules:
        ls = tax.logsource_for(lr.rule.logsource, lr.title)
        d = decide(lr.rule, ls.key, target)
        if d.kind == "refuse":
            got.add((lr.stem, target))
            assert "not collected on" in d.reason and "https://" in d.reason, d.reason
    assert got == {r for r in REFUSED if r[1] == target}


def test_compile_refuses_with_the_reason() -> None:
    rule = ROOT / "rules/m365/audit/m365_audit_mail_read_permission_granted_to_application.yml"
    res = compile_rules([rule], "sentinel", ROOT / "values")
    assert not res.queries
    (err,) = res.errors
    assert isinstance(err, NotCollectedError)
    assert "Entra ID records in the unified audit log (Audit.AzureActiveDirectory)" in str(err)
    assert "learn.microsoft.com/en-us/azure/sentinel/data-connectors/office-365" in str(err)
    for target in ("defender", "splunk"):
        assert compile_rules([rule], target, ROOT / "values").queries, target


def _rule(detection: str) -> SigmaRule:
    text = textwrap.dedent(
        """\
        title: t
        id: 00000000-0000-4000-8000-000000000001
        logsource: {product: m365, service: audit}
        detection:
        """
    ) + textwrap.indent(textwrap.dedent(detection), "  ")
    return SigmaRule.from_yaml(text)


def test_rule_families_from_required_literals() -> None:
    fams = rule_families(_rule("sel: {RecordType: 8, Operation: x}\ncondition: sel"), "m365_audit")
    assert fams == {"entra"}
    both = _rule("a: {RecordType: 8}\nb: {RecordType: 1}\ncondition: a or b")
    assert rule_families(both, "m365_audit") == {"entra", "exchange"}
    # one branch requires nothing of RecordType: any family
    open_branch = _rule("a: {RecordType: 8}\nb: {Operation: MailItemsAccessed}\ncondition: a or b")
    assert rule_families(open_branch, "m365_audit") == set(load_availability().families["m365_audit"])
    # a negation requires nothing
    negated = _rule("a: {RecordType: 8}\nb: {Operation: x}\ncondition: b and not a")
    assert rule_families(negated, "m365_audit") == set(load_availability().families["m365_audit"])
    # a wildcard is no literal
    wild = _rule("a: {Workload|startswith: Azure}\ncondition: a")
    assert rule_families(wild, "m365_audit") == set(load_availability().families["m365_audit"])
    # an operation only Entra writes; an operation the table does not place leaves all families
    assert rule_families(_rule("a: {Operation: UserLoggedIn}\ncondition: a"), "m365_audit") == {"entra"}
    mixed_ops = _rule("a: {Operation: [UserLoggedIn, Set-Mailbox]}\ncondition: a")
    assert len(rule_families(mixed_ops, "m365_audit")) > 1
    # several conditions are OR-ed
    two = _rule("a: {Workload: SecurityComplianceCenter}\nb: {Workload: Exchange}\ncondition: [a, b]")
    assert rule_families(two, "m365_audit") == {"compliance", "exchange"}


def test_mixed_rule_is_compiled_where_one_family_is_collected() -> None:
    mixed = _rule("a: {RecordType: [8, 1]}\ncondition: a")
    assert decide(mixed, "m365_audit", "sentinel").kind == "compile"
    assert decide(_rule("a: {RecordType: 8}\ncondition: a"), "m365_audit", "sentinel").kind == "refuse"
    ediscovery = _rule("a: {Workload: SecurityComplianceCenter}\ncondition: a")
    assert decide(ediscovery, "m365_audit", "defender").kind == "compile"  # undocumented: compiled


BASE = {
    "families": {"m365_audit": {"a": {"title": "A", "content_type": "Audit.A", "record_types": [1]},
                                "b": {"title": "B", "content_type": "Audit.B", "record_types": [2]}}},
}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"collects": ["a", "c"], "not_collected": {"b": "x"}}, "unknown family 'c'"),
        ({"collects": ["a"]}, "exactly one of"),
        ({"collects": ["a", "b"], "not_collected": {"b": "x"}}, "exactly one of"),
        ({"collects": ["a"], "not_collected": {"b": " "}}, "needs a reason"),
    ],
)
def test_bad_table_fails_loud(entry: dict[str, Any], message: str) -> None:
    data = dict(BASE, targets={"sentinel": {"m365_audit": entry}})
    with pytest.raises(TaxonomyError, match=message):
        parse_availability(data)
