"""Sigma semantics of the local matcher: every point with a matching AND a non-matching record.

Rules are written as YAML into a temporary file and go through the real loading path
(load_ruleset -> Engine.build), so what is tested is what `stormpack test` and `hunt` run.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from stormpack.errors import MatcherError
from stormpack.matcher import CompiledRule, Engine, EventRef
from stormpack.ruleset import load_ruleset

M365 = {"product": "m365", "service": "audit"}
SIGNIN = {"product": "azure", "service": "signinlogs"}


def write_rule(tmp_path: Path, detection: dict[str, Any] | str, *,
               logsource: dict[str, str] | None = None, name: str = "rule") -> Path:
    det = yaml.safe_load(textwrap.dedent(detection)) if isinstance(detection, str) else detection
    doc = {
        "title": f"test {name}",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"stormpack-test/{name}")),
        "status": "test",
        "logsource": logsource or M365,
        "detection": det,
        "level": "high",
    }
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def build(tmp_path: Path, detection: dict[str, Any] | str, *, logsource: dict[str, str] | None = None,
          values: dict[str, list[str]] | None = None, name: str = "rule") -> Engine:
    path = write_rule(tmp_path, detection, logsource=logsource, name=name)
    return Engine.build(load_ruleset([path]), values or {})


def rule(tmp_path: Path, detection: dict[str, Any] | str, **kw: Any) -> CompiledRule:
    eng = build(tmp_path, detection, **kw)
    assert len(eng.rules) == 1
    return eng.rules[0]


def ual(**fields: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"CreationTime": "2023-06-14T02:41:07", "RecordType": 1, "Operation": "Op"}
    rec.update(fields)
    return rec


def sel(**fields: Any) -> dict[str, Any]:
    return {"sel": fields, "condition": "sel"}


# --------------------------------------------------------------------------- plain values
def test_equality_is_case_insensitive_and_whole_value(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(UserId="Alice@Contoso.com"))
    assert r.matches(ual(UserId="alice@contoso.COM"))
    assert not r.matches(ual(UserId="alice@contoso.com.evil"))
    assert not r.matches(ual(UserId="xalice@contoso.com"))


def test_empty_string_is_a_value(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(UserAgent=""))
    assert r.matches(ual(UserAgent=""))
    assert not r.matches(ual())
    assert not r.matches(ual(UserAgent=None))
    assert not r.matches(ual(UserAgent="x"))


def test_wildcards_star_and_question_mark(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(ObjectId="Inbox*Rule?"))
    assert r.matches(ual(ObjectId="inbox forward rule1"))
    assert r.matches(ual(ObjectId="InboxRuleX"))
    assert not r.matches(ual(ObjectId="InboxRule"))  # ? needs exactly one character
    assert not r.matches(ual(ObjectId="InboxRule12"))
    assert not r.matches(ual(ObjectId="My InboxRule1"))


def test_escaped_star_matches_only_a_literal_star(tmp_path: Path) -> None:
    r = rule(tmp_path, 'sel:\n  ObjectId: C:\\Windows\\*\ncondition: sel\n')
    assert r.matches(ual(ObjectId="C:\\Windows*"))
    assert r.matches(ual(ObjectId="c:\\windows*"))
    assert not r.matches(ual(ObjectId="C:\\Windows\\System32"))
    assert not r.matches(ual(ObjectId="C:\\Windows"))


def test_escaped_question_mark_and_backslash(tmp_path: Path) -> None:
    r = rule(tmp_path, 'sel:\n  ObjectId: what\\?\n  Item.Subject: a\\\\*\ncondition: sel\n')
    assert r.matches(ual(ObjectId="What?", Item={"Subject": "a\\anything"}))
    assert not r.matches(ual(ObjectId="Whatx", Item={"Subject": "a\\anything"}))
    assert not r.matches(ual(ObjectId="What?", Item={"Subject": "ab"}))


def test_number_in_rule_matches_number_and_numeric_string(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(RecordType=50))
    assert r.matches(ual(RecordType=50))
    assert r.matches(ual(RecordType="50"))
    assert not r.matches(ual(RecordType=500))
    assert not r.matches(ual(RecordType="50x"))
    assert not r.matches(ual(RecordType=True))


def test_string_in_rule_matches_number_in_record(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(LogonType="0"))
    assert r.matches(ual(LogonType=0))
    assert not r.matches(ual(LogonType=1))


def test_booleans(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(ExternalAccess=True))
    assert r.matches(ual(ExternalAccess=True))
    assert r.matches(ual(ExternalAccess="True"))
    assert not r.matches(ual(ExternalAccess=False))
    assert not r.matches(ual(ExternalAccess="false"))
    assert not r.matches(ual(ExternalAccess=1))


def test_list_is_or(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(Operation=["New-InboxRule", "Set-InboxRule"]))
    assert r.matches(ual(Operation="set-inboxrule"))
    assert not r.matches(ual(Operation="Remove-InboxRule"))


def test_map_is_and(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(Operation="New-InboxRule", UserId="a@b.c"))
    assert r.matches(ual(Operation="New-InboxRule", UserId="a@b.c"))
    assert not r.matches(ual(Operation="New-InboxRule", UserId="x@b.c"))


def test_list_of_maps_is_or_of_ands(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": [{"Operation": "A", "UserId": "u1"}, {"Operation": "B", "UserId": "u2"}],
                        "condition": "sel"})
    assert r.matches(ual(Operation="A", UserId="u1"))
    assert r.matches(ual(Operation="B", UserId="u2"))
    assert not r.matches(ual(Operation="A", UserId="u2"))


# --------------------------------------------------------------------------- string modifiers
def test_contains_startswith_endswith(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ClientInfoString|contains": "REST", "UserAgent|startswith": "python",
                                "ObjectId|endswith": ".onmicrosoft.com"}, "condition": "sel"})
    good = ual(ClientInfoString="Client=rest;x", UserAgent="Python-requests/2", ObjectId="a.ONMICROSOFT.com")
    assert r.matches(good)
    assert not r.matches({**good, "ClientInfoString": "Client=OWA"})
    assert not r.matches({**good, "UserAgent": "my python"})
    assert not r.matches({**good, "ObjectId": "a.onmicrosoft.com.evil"})


def test_all_modifier_requires_every_value(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ClientInfoString|contains|all": ["rest", "system"]}, "condition": "sel"})
    assert r.matches(ual(ClientInfoString="Client=REST;Client=RESTSystem;;"))
    assert not r.matches(ual(ClientInfoString="Client=REST;;"))


def test_cased(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ObjectId|cased": "Secret"}, "condition": "sel"})
    assert r.matches(ual(ObjectId="Secret"))
    assert not r.matches(ual(ObjectId="secret"))


def test_cased_contains(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ObjectId|contains|cased": "Secret"}, "condition": "sel"})
    assert r.matches(ual(ObjectId="my Secret file"))
    assert not r.matches(ual(ObjectId="my secret file"))


def test_every_string_comparison_on_an_ip_field_sees_the_normalised_address(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ClientIP|endswith": ".7"}, "condition": "sel"})
    assert r.matches(ual(ClientIP="203.0.113.7:443"))
    assert not r.matches(ual(ClientIP="203.0.113.8:7"))


def test_windash(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ObjectId|windash|contains": " -enc "}, "condition": "sel"})
    assert r.matches(ual(ObjectId="powershell /enc AAA"))
    assert r.matches(ual(ObjectId="powershell \u2013enc AAA"))
    assert not r.matches(ual(ObjectId="powershell enc AAA"))


def test_base64_and_base64offset(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ObjectId|base64": "evil"}, "condition": "sel"})
    assert r.matches(ual(ObjectId="ZXZpbA=="))
    assert not r.matches(ual(ObjectId="evil"))
    r2 = rule(tmp_path, {"sel": {"ObjectId|base64offset|contains": "http://"}, "condition": "sel"},
              name="b64o")
    import base64

    for prefix in ("", "a", "ab"):
        assert r2.matches(ual(ObjectId=base64.b64encode((prefix + "http://x").encode()).decode()))
    assert not r2.matches(ual(ObjectId=base64.b64encode(b"https://x").decode()))


@pytest.mark.parametrize(
    ("modifier", "encoded"),
    [("utf16le", "c\x00m\x00d\x00"), ("wide", "c\x00m\x00d\x00"), ("utf16be", "\x00c\x00m\x00d"),
     ("utf16", "\ufeffc\x00m\x00d\x00")],
)
def test_utf16_modifiers(tmp_path: Path, modifier: str, encoded: str) -> None:
    r = rule(tmp_path, {"sel": {f"ObjectId|{modifier}": "cmd"}, "condition": "sel"})
    assert r.matches(ual(ObjectId=encoded))
    assert not r.matches(ual(ObjectId="cmd"))


# --------------------------------------------------------------------------- regular expressions
def test_re_is_case_sensitive_by_default_and_unanchored(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"UserAgent|re": "Python-[0-9]"}, "condition": "sel"})
    assert r.matches(ual(UserAgent="agent Python-3 x"))
    assert not r.matches(ual(UserAgent="agent python-3 x"))


def test_re_flags_i_m_s(tmp_path: Path) -> None:
    ri = rule(tmp_path, {"sel": {"UserAgent|re|i": "^python"}, "condition": "sel"}, name="i")
    assert ri.matches(ual(UserAgent="PYTHON/3"))
    assert not ri.matches(ual(UserAgent="x python"))
    rm = rule(tmp_path, {"sel": {"ObjectId|re|m": "^second$"}, "condition": "sel"}, name="m")
    assert rm.matches(ual(ObjectId="first\nsecond\nthird"))
    r_no_m = rule(tmp_path, {"sel": {"ObjectId|re": "^second$"}, "condition": "sel"}, name="nom")
    assert not r_no_m.matches(ual(ObjectId="first\nsecond\nthird"))
    rs = rule(tmp_path, {"sel": {"ObjectId|re|s": "a.b"}, "condition": "sel"}, name="s")
    assert rs.matches(ual(ObjectId="a\nb"))
    r_no_s = rule(tmp_path, {"sel": {"ObjectId|re": "a.b"}, "condition": "sel"}, name="nos")
    assert not r_no_s.matches(ual(ObjectId="a\nb"))


def test_re_on_text_with_a_lone_surrogate(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"UserAgent|re": "bad.agent"}, "condition": "sel"})
    assert r.matches(ual(UserAgent="bad\ud800agent"))
    assert not r.matches(ual(UserAgent="good\ud800agent"))
    w = rule(tmp_path, sel(UserAgent="bad?agent*"), name="w")
    assert w.matches(ual(UserAgent="bad\ud800agent 1"))


def test_re_unsupported_by_re2_is_an_error_naming_the_rule(tmp_path: Path) -> None:
    with pytest.raises(MatcherError) as exc:
        build(tmp_path, {"sel": {"UserAgent|re": "(?=python)p"}, "condition": "sel"}, name="lookahead")
    assert "lookahead.yml" in str(exc.value) and "RE2" in str(exc.value)


def test_re_pathological_pattern_runs_in_linear_time(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ObjectId|re": "^(a+)+$"}, "condition": "sel"})
    assert not r.matches(ual(ObjectId="a" * 5000 + "!"))  # catastrophic for backtracking engines
    assert r.matches(ual(ObjectId="a" * 5000))


# --------------------------------------------------------------------------- ip / cidr
def test_cidr_v4_by_address_arithmetic(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ClientIP|cidr": "10.0.0.0/8"}, "condition": "sel"})
    assert r.matches(ual(ClientIP="10.1.2.3"))
    assert r.matches(ual(ClientIP="10.1.2.3:5678"))
    assert r.matches(ual(ClientIP="::ffff:10.9.9.9"))
    assert not r.matches(ual(ClientIP="10.example.com"))
    assert not r.matches(ual(ClientIP="100.1.2.3"))
    assert not r.matches(ual(ClientIP="11.0.0.1"))


def test_cidr_v6(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"ClientIP|cidr": "2001:db8::/32"}, "condition": "sel"})
    assert r.matches(ual(ClientIP="[2001:db8::1]:443"))
    assert r.matches(ual(ClientIP="2001:DB8:ffff::9"))
    assert not r.matches(ual(ClientIP="2001:db9::1"))
    assert not r.matches(ual(ClientIP="10.0.0.1"))


def test_ip_field_equality_uses_the_normalised_address(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(ClientIP="203.0.113.7"))
    assert r.matches(ual(ClientIP="203.0.113.7:51234"))
    assert not r.matches(ual(ClientIP="203.0.113.70"))


# --------------------------------------------------------------------------- null / exists
def test_null_means_missing_or_json_null(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"UserAgent": None}, "condition": "sel"})
    assert r.matches(ual())
    assert r.matches(ual(UserAgent=None))
    assert not r.matches(ual(UserAgent=""))
    assert not r.matches(ual(UserAgent="x"))


def test_exists_false_vs_json_null(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"UserAgent|exists": False}, "condition": "sel"})
    assert r.matches(ual())
    assert r.matches(ual(UserAgent=None))  # JSON null: no value, as on every target
    assert not r.matches(ual(UserAgent=""))
    assert not r.matches(ual(UserAgent="x"))


def test_exists_true(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"AppAccessContext.UniqueTokenId|exists": True}, "condition": "sel"})
    assert r.matches(ual(AppAccessContext={"UniqueTokenId": "abc"}))
    assert r.matches(ual(AppAccessContext={"UniqueTokenId": ""}))
    assert not r.matches(ual(AppAccessContext={"UniqueTokenId": None}))
    assert not r.matches(ual(AppAccessContext={}))
    assert not r.matches(ual())


# --------------------------------------------------------------------------- numbers / fieldref
def test_numeric_comparisons(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"OperationCount|gte": 10, "LogonType|lt": 2}, "condition": "sel"})
    assert r.matches(ual(OperationCount=10, LogonType=0))
    assert r.matches(ual(OperationCount="250", LogonType="1"))
    assert not r.matches(ual(OperationCount=9, LogonType=0))
    assert not r.matches(ual(OperationCount=10, LogonType=2))
    assert not r.matches(ual(OperationCount="many", LogonType=0))
    r2 = rule(tmp_path, {"sel": {"OperationCount|gt": 10, "LogonType|lte": 2}, "condition": "sel"}, name="b")
    assert r2.matches(ual(OperationCount=11, LogonType=2))
    assert not r2.matches(ual(OperationCount=10, LogonType=2))


def test_neq(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"Operation": "MailItemsAccessed", "LogonType|neq": 0}, "condition": "sel"})
    assert r.matches(ual(Operation="MailItemsAccessed", LogonType=2))
    assert not r.matches(ual(Operation="MailItemsAccessed", LogonType=0))


def test_fieldref(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"UserId|fieldref": "MailboxOwnerUPN"}, "condition": "sel"})
    assert r.matches(ual(UserId="Alice@x.com", MailboxOwnerUPN="alice@X.com"))
    assert not r.matches(ual(UserId="bob@x.com", MailboxOwnerUPN="alice@x.com"))
    assert not r.matches(ual(UserId="bob@x.com"))
    rc = rule(tmp_path, {"sel": {"ObjectId|fieldref|contains": "UserId"}, "condition": "sel"}, name="c")
    assert rc.matches(ual(ObjectId="mailbox of bob@x.com here", UserId="bob@x.com"))
    assert not rc.matches(ual(ObjectId="mailbox of alice", UserId="bob@x.com"))


# --------------------------------------------------------------------------- placeholders
def test_expand_resolves_placeholders_from_values(tmp_path: Path) -> None:
    vals = {"trusted_apps": ["00000002-0000-0ff1-ce00-000000000000", "abc*"]}
    r = rule(tmp_path, {"sel": {"AppId|expand": "%trusted_apps%"}, "condition": "sel"}, values=vals)
    assert r.matches(ual(AppId="00000002-0000-0FF1-CE00-000000000000"))
    assert r.matches(ual(AppId="abcdef"))
    assert not r.matches(ual(AppId="13937bba-652e-4c46-b222-3003f4d1ff97"))


def test_unresolved_placeholder_is_an_error_naming_rule_and_placeholder(tmp_path: Path) -> None:
    with pytest.raises(MatcherError) as exc:
        build(tmp_path, {"sel": {"AppId|expand": "%nope%"}, "condition": "sel"}, name="needs_values")
    msg = str(exc.value)
    assert "needs_values.yml" in msg and "%nope%" in msg


# --------------------------------------------------------------------------- keywords
def test_keywords_search_every_string_value_recursively(tmp_path: Path) -> None:
    r = rule(tmp_path, {"keywords": ["forwardingsmtpaddress"], "condition": "keywords"})
    assert r.matches(ual(Parameters=[{"Name": "ForwardingSmtpAddress", "Value": "smtp:x@evil.com"}]))
    assert r.matches(ual(Deep={"a": [{"b": "set ForwardingSMTPAddress now"}]}))
    assert not r.matches(ual(Parameters=[{"Name": "ForwardTo", "Value": "x@evil.com"}]))


def test_keywords_search_numbers_and_booleans_through_their_string_form(tmp_path: Path) -> None:
    """Sigma spec: keywords are searched in the string form of every value, numbers included."""
    num = rule(tmp_path, {"keywords": [4625], "condition": "keywords"}, name="num")
    assert num.matches(ual(EventID=4625))
    assert num.matches(ual(Deep={"codes": [1, 4625]}))
    assert num.matches(ual(EventID=14625))  # substring search, as on strings
    assert not num.matches(ual(EventID=4624))
    text = rule(tmp_path, {"keywords": ["4625"], "condition": "keywords"}, name="text")
    assert text.matches(ual(EventID=4625))
    flt = rule(tmp_path, {"keywords": ["2.5"], "condition": "keywords"}, name="flt")
    assert flt.matches(ual(Score=2.5))
    assert not flt.matches(ual(Score=2.25))
    boolean = rule(tmp_path, {"keywords": ["true"], "condition": "keywords"}, name="bool")
    assert boolean.matches(ual(ExternalAccess=True))
    assert not boolean.matches(ual(ExternalAccess=False))
    assert not boolean.matches(ual(ExternalAccess=None))  # null has no string form
    wild = rule(tmp_path, {"keywords": ["46*5"], "condition": "keywords"}, name="wild")
    assert wild.matches(ual(EventID=4625))
    assert not wild.matches(ual(Operation="4"))


# --------------------------------------------------------------------------- field access
def test_dotted_field_addresses_nested_objects(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(**{"AppAccessContext.ClientAppId": "app-1"}))
    assert r.matches(ual(AppAccessContext={"ClientAppId": "APP-1"}))
    assert not r.matches(ual(AppAccessContext={"ClientAppId": "app-2"}))
    assert not r.matches(ual(ClientAppId="app-1"))


def test_json_array_field_matches_if_any_element_matches(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(**{"properties.riskEventTypes_v2": "anomalousToken"}), logsource=SIGNIN)
    rec = {"category": "SignInLogs", "time": "2023-06-14T02:41:07Z",
           "properties": {"riskEventTypes_v2": ["unfamiliarFeatures", "anomalousToken"]}}
    assert r.matches(rec)
    assert not r.matches({**rec, "properties": {"riskEventTypes_v2": ["unfamiliarFeatures"]}})
    assert not r.matches({**rec, "properties": {"riskEventTypes_v2": []}})


def test_array_on_the_path_matches_any_element(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"Folders.Path|endswith": "\\Inbox"}, "condition": "sel"})
    assert r.matches(ual(Folders=[{"Path": "\\Sent Items"}, {"Path": "\\Inbox"}]))
    assert not r.matches(ual(Folders=[{"Path": "\\Sent Items"}, {"Id": "x"}]))


def test_name_value_array_is_addressed_by_exact_name(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"Parameters.ForwardTo|contains": "@"}, "condition": "sel"})
    assert r.matches(ual(Parameters=[{"Name": "Name", "Value": "x"},
                                     {"Name": "ForwardTo", "Value": "a@b.c"}]))
    assert not r.matches(ual(Parameters=[{"Name": "Name", "Value": "a@b.c"}]))
    assert not r.matches(ual(Parameters=[{"Name": "ForwardToX", "Value": "a@b.c"}]))
    assert not r.matches(ual(Parameters=[{"Name": "forwardto", "Value": "a@b.c"}]))


def test_name_value_element_name_may_contain_dots(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(**{"ModifiedProperties.ConsentContext.IsAdminConsent": "True"}))
    assert r.matches(ual(ModifiedProperties=[{"Name": "ConsentContext.IsAdminConsent", "NewValue": "True",
                                              "OldValue": ""}]))
    assert not r.matches(ual(ModifiedProperties=[{"Name": "ConsentContext.IsAdminConsent",
                                                  "NewValue": "False", "OldValue": "True"}]))


# --------------------------------------------------------------------------- conditions
COND_DET = {"a": {"Operation": "A"}, "b": {"UserId": "B"}, "c": {"ObjectId": "C"}}


@pytest.mark.parametrize(
    ("condition", "record", "expected"),
    [
        ("a or b and c", {"Operation": "A"}, True),  # and binds tighter than or
        ("a or b and c", {"UserId": "B"}, False),
        ("(a or b) and c", {"Operation": "A"}, False),
        ("(a or b) and c", {"UserId": "B", "ObjectId": "C"}, True),
        ("not a and b", {"UserId": "B"}, True),
        ("not a and b", {"Operation": "A", "UserId": "B"}, False),
        ("not (a or b)", {"ObjectId": "C"}, True),
        ("not (a or b)", {"UserId": "B"}, False),
    ],
)
def test_condition_precedence_and_brackets(tmp_path: Path, condition: str, record: dict[str, Any],
                                           expected: bool) -> None:
    r = rule(tmp_path, {**COND_DET, "condition": condition})
    assert r.matches(ual(**{"Operation": "zzz", **record})) is expected


@pytest.mark.parametrize(
    ("condition", "record", "expected"),
    [
        ("1 of sel_*", {"UserId": "B"}, True),
        ("1 of sel_*", {"ObjectId": "C"}, False),  # `other` is not a sel_* detection
        ("all of sel_*", {"Operation": "A", "UserId": "B"}, True),
        ("all of sel_*", {"Operation": "A"}, False),
        ("1 of them", {"ObjectId": "C"}, True),
        ("1 of them", {"Workload": "none"}, False),
        ("all of them", {"Operation": "A", "UserId": "B", "ObjectId": "C"}, True),
        ("all of them", {"Operation": "A", "UserId": "B"}, False),
    ],
)
def test_quantified_conditions(tmp_path: Path, condition: str, record: dict[str, Any],
                               expected: bool) -> None:
    det = {"sel_a": {"Operation": "A"}, "sel_b": {"UserId": "B"}, "other": {"ObjectId": "C"},
           "condition": condition}
    r = rule(tmp_path, det)
    assert r.matches(ual(**{"Operation": "zzz", **record})) is expected


# --------------------------------------------------------------------------- engine dispatch
def test_engine_only_runs_rules_of_the_records_log_source(tmp_path: Path) -> None:
    eng = build(tmp_path, {"sel": {"category": "SignInLogs"}, "condition": "sel"}, logsource=SIGNIN)
    signin = {"category": "SignInLogs", "time": "2023-06-14T02:41:07Z"}
    assert [h.ref.index for h in eng.process(signin, EventRef("s", 0))] == [0]
    ual_rec = ual(category="SignInLogs")  # same field value, but a UAL record
    assert eng.classify(ual_rec) is not None and eng.classify(ual_rec).key == "m365_audit"  # type: ignore[union-attr]
    assert eng.process(ual_rec, EventRef("s", 1)) == []


def test_prefilter_keeps_case_insensitive_matches(tmp_path: Path) -> None:
    eng = build(tmp_path, {"sel": {"Operation": ["New-InboxRule", "Set-InboxRule"], "UserId": "u"},
                           "condition": "sel"})
    r = eng.rules[0]
    assert r.prefilter == [("Operation", "str", frozenset({"new-inboxrule", "set-inboxrule"}))]
    hits = eng.process(ual(Operation="SET-INBOXRULE", UserId="U"), EventRef("f", 3))
    assert [(h.rule.stem, h.ref, h.timestamp) for h in hits] == [
        ("rule", EventRef("f", 3), "2023-06-14T02:41:07")]
    assert eng.process(ual(Operation="Remove-InboxRule", UserId="u"), EventRef("f", 4)) == []
    # a non-string Operation cannot be decided by the prefilter: the rule is evaluated
    assert eng.process(ual(Operation=["Set-InboxRule"], UserId="u"), EventRef("f", 5))


def test_prefilter_alternatives_over_several_ip_fields(tmp_path: Path) -> None:
    det = {"ioc": [{"ClientIP": ["203.0.113.7", "198.51.100.1"]}, {"ActorIpAddress": "203.0.113.7"}],
           "month": {"CreationTime|startswith": "2023-06"}, "condition": "ioc and month"}
    eng = build(tmp_path, det)
    assert sorted(eng.rules[0].prefilter or []) == [
        ("ActorIpAddress", "ip", frozenset({"203.0.113.7"})),
        ("ClientIP", "ip", frozenset({"203.0.113.7", "198.51.100.1"})),
    ]
    assert eng.process(ual(ClientIP="198.51.100.1:443"), EventRef("f", 0))
    assert eng.process(ual(ActorIpAddress="::ffff:203.0.113.7"), EventRef("f", 1))
    assert eng.process(ual(ClientIP=["10.0.0.1", "198.51.100.1"]), EventRef("f", 2))  # list: evaluated
    assert not eng.process(ual(ClientIP="198.51.100.2:443"), EventRef("f", 3))
    assert not eng.process(ual(ClientIP="198.51.100.1", CreationTime="2023-07-01T00:00:00"), EventRef("f", 4))


def test_a_record_mutated_in_place_is_judged_afresh(tmp_path: Path) -> None:
    eng = build(tmp_path, sel(Operation="New-InboxRule"))
    rec = ual(Operation="New-InboxRule")
    assert eng.process(rec, EventRef("f", 0))
    rec["Operation"] = "Set-Mailbox"
    assert not eng.process(rec, EventRef("f", 1))
    assert not eng.rules[0].matches(rec)


def test_integer_prefilter_on_odd_numbers(tmp_path: Path) -> None:
    eng = build(tmp_path, sel(RecordType=50))
    for value, fires in [(50, True), ("50", True), (" 50 ", True), (50.0, True), ("5e1", True),
                         ("1e400", False), (float("inf"), False), ("nan", False), (50.5, False),
                         (True, False), ([50], True), ("x", False)]:
        assert bool(eng.process(ual(RecordType=value), EventRef("f", 0))) is fires, value


def test_an_integer_too_long_for_text_matches_no_string(tmp_path: Path) -> None:
    r = rule(tmp_path, sel(ObjectId="1*"))
    assert not r.matches(ual(ObjectId=10 ** 5000))
    assert r.matches(ual(ObjectId=10 ** 50))


def test_timestamp_part_modifiers(tmp_path: Path) -> None:
    r = rule(tmp_path, {"sel": {"CreationTime|hour": 2}, "condition": "sel"})
    assert r.matches(ual(CreationTime="2023-06-14T02:41:07"))
    assert not r.matches(ual(CreationTime="2023-06-14T03:41:07"))


def test_rule_of_an_unknown_log_source_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(MatcherError) as exc:
        build(tmp_path, sel(ImageLoaded="x"), logsource={"product": "windows", "category": "driver_load"},
              name="win_rule")
    assert "win_rule.yml" in str(exc.value) and "not in the taxonomy" in str(exc.value)


def test_non_strict_build_records_broken_rules_and_keeps_the_others(tmp_path: Path) -> None:
    write_rule(tmp_path, sel(Operation="A"), name="good")
    write_rule(tmp_path, {"sel": {"AppId|expand": "%missing%"}, "condition": "sel"}, name="bad")
    eng = Engine.build(load_ruleset([tmp_path / "good.yml", tmp_path / "bad.yml"]), {}, strict=False)
    assert [r.loaded.stem for r in eng.rules] == ["good"]
    assert list(eng.errors) == [tmp_path / "bad.yml"]
    assert "%missing%" in str(eng.errors[tmp_path / "bad.yml"])
    assert [h.rule.stem for h in eng.process(ual(Operation="a"), EventRef("f", 0))] == ["good"]


def test_deeply_nested_records_do_not_exhaust_the_stack(tmp_path: Path) -> None:
    deep: Any = "needle"
    for i in range(5000):
        deep = [deep] if i % 2 else {"k": deep}
    kw = rule(tmp_path, {"keywords": ["needle"], "condition": "keywords"}, name="kw")
    assert kw.matches(ual(Deep=deep))
    assert not kw.matches(ual(Deep=[[[[["hay"]]]]]))
    nested = [deep]
    for _ in range(5000):
        nested = [nested]
    arr = rule(tmp_path, sel(ObjectId="needle"), name="arr")
    assert not arr.matches(ual(ObjectId=nested))  # the leaf inside is an object, not "needle"
    assert arr.matches(ual(ObjectId=[[[[["x"]]], [["needle"]]]]))
