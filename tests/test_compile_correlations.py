"""Correlation rules (event_count, value_count, temporal, temporal_ordered; group-by, timespan,
aliases) compile to the exact KQL and SPL reviewed in tests/data/compile/correlations/expected/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stormpack.compiler import EXTENSIONS, TARGETS, compile_rules
from stormpack.execute.base import Dataset
from stormpack.execute.spl import executor, splunk_events

DATA = Path(__file__).parent / "data" / "compile" / "correlations"
CASES = ["event_count", "value_count", "temporal", "temporal_unordered"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_correlation_query(case: str, target: str) -> None:
    res = compile_rules([DATA / f"{case}.yml"], target, {})
    assert not res.errors
    assert [q.is_correlation for q in res.queries] == [True]
    expected = (DATA / "expected" / f"{case}.{target}.{EXTENSIONS[target]}").read_text(encoding="utf-8")
    assert res.queries[0].query + "\n" == expected
    # the base rules are not output on their own (generate: false)
    assert {lr.title for lr in res.not_generated} and all(not lr.is_correlation for lr in res.not_generated)


def test_windows_slide_on_every_target() -> None:
    """No bucket: KQL sweeps +1/-1 rows with row_cumsum per group, SPL runs streamstats over a
    time_window per group after sorting by time (docs/compiler.md, "Correlation windows")."""
    for target in TARGETS:
        q = compile_rules([DATA / "event_count.yml"], target, {}).queries[0].query
        assert "bin(" not in q and "| bin " not in q
        if target == "splunk":
            assert "| sort 0 _time\n| streamstats time_window=1h count as event_count" in q
        else:
            assert "stormpack_at = pack_array(stormpack_time, stormpack_time + 1h)" in q
            assert "row_cumsum(stormpack_delta, UserId != prev(UserId))" in q


def test_lower_bounds_only() -> None:
    """A sliding window with an upper bound (lt / lte / eq) holds for almost every window: refused
    with a clear message; gt n is gte n + 1."""
    import yaml

    text = (DATA / "event_count.yml").read_text(encoding="utf-8")
    docs = list(yaml.safe_load_all(text))
    corr = next(d for d in docs if "correlation" in d)
    for op, ok in (("gt", True), ("lt", False), ("eq", False)):
        corr["correlation"]["condition"] = {op: 5}
        path = DATA.parent / f"_tmp_{op}.yml"
        try:
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
            for target in TARGETS:
                res = compile_rules([path], target, {})
                if ok:
                    q = res.queries[0].query
                    assert ("stormpack_active >= 6" in q) if target != "splunk" else ("event_count >= 6" in q)
                else:
                    assert res.errors and "sliding windows" in str(res.errors[0])
        finally:
            path.unlink()


def test_group_by_values_are_lower_cased_on_every_target() -> None:
    """Cross-source group-by compares case-insensitively, as the matcher (issue #10 point 4):
    sign-in UserPrincipalName 'Alice@X' and audit UserId 'alice@x' are one group."""
    q = compile_rules([DATA / "temporal.yml"], "sentinel", {}).queries[0].query
    assert "user = tolower(tostring(UserPrincipalName))" in q and "user = tolower(tostring(UserId))" in q
    q = compile_rules([DATA / "temporal.yml"], "splunk", {}).queries[0].query
    assert "| eval user=lower(user)" in q


def test_group_by_alias_resolves_per_rule_and_log_source() -> None:
    q = compile_rules([DATA / "temporal.yml"], "sentinel", {}).queries[0].query
    assert "user = tolower(tostring(UserPrincipalName))" in q  # SigninLogs side
    assert "user = tolower(tostring(UserId))" in q  # OfficeActivity side
    assert compile_rules([DATA / "temporal.yml"], "sentinel", {}).queries[0].fields == {
        "user": "UserPrincipalName"
    }


def test_value_count_field_is_defined_in_the_base_query_on_splunk() -> None:
    q = compile_rules([DATA / "value_count.yml"], "splunk", {}).queries[0].query
    assert q.index("| eval ClientIPAddress_addr=") < q.index("stormpack_value=lower(ClientIPAddress_addr)")


def test_no_splunk_correlation_starts_without_a_base_search() -> None:
    for case in CASES:
        q = compile_rules([DATA / f"{case}.yml"], "splunk", {}).queries[0].query
        first = q.lstrip().splitlines()[0]
        assert not first.startswith("| rex") and not first.startswith("| bin")
        for line in q.splitlines():
            if line.startswith("[ search"):
                assert line.startswith('[ search index="*" sourcetype=')


def test_temporal_ordered_with_three_rules_fails_loudly(tmp_path: Path) -> None:
    text = (DATA / "temporal.yml").read_text(encoding="utf-8")
    text = text.replace(
        "rules: [risky_signin, forwarding_rule]", "rules: [risky_signin, forwarding_rule, risky_signin2]"
    )
    text += """---
title: Risky Sign-In 2
id: 0b1c5e0a-3333-4000-8000-000000000009
name: risky_signin2
status: test
logsource: {product: azure, service: signinlogs}
detection:
  sel:
    properties.appId: 00000003-0000-0000-c000-000000000000
  condition: sel
level: low
"""
    text = text.replace(
        "      forwarding_rule: UserId\n",
        "      forwarding_rule: UserId\n      risky_signin2: properties.userPrincipalName\n",
    )
    p = tmp_path / "three.yml"
    p.write_text(text, encoding="utf-8")
    for target in ("sentinel", "splunk"):
        res = compile_rules([p], target, {})
        assert len(res.errors) == 1
        assert "more than two rules" in str(res.errors[0])
        assert res.errors[0].target == target


def test_splunk_correlation_outputs_the_group_by_names_the_rule_writes(tmp_path: Path) -> None:
    """A group-by on a computed column (a normalised address, a name/value element) is renamed
    back after `stats`, so Splunk rows carry the rule's names as the KQL projection does."""
    rules = tmp_path / "r.yml"
    rules.write_text(
        "title: Failed\nid: 0b1c5e0a-2222-4000-8000-000000000011\nname: failed\nstatus: test\n"
        "logsource: {product: m365, service: audit}\n"
        "detection: {sel: {Operation: UserLoginFailed}, condition: sel}\nlevel: low\n---\n"
        "title: Spray\nid: 0b1c5e0a-2222-4000-8000-000000000012\nstatus: test\n"
        "correlation: {type: value_count, rules: [failed],"
        " group-by: [ClientIP, ExtendedProperties.UserAgent], timespan: 30m,"
        " condition: {field: UserId, gte: 2}}\nlevel: medium\n", encoding="utf-8")
    q = compile_rules([rules], "splunk", {}).queries[0].query
    assert q.endswith('\n| rename ClientIP_addr AS ClientIP, '
                      'ExtendedProperties_UserAgent AS "ExtendedProperties.UserAgent"')
    # Defender: OfficeActivity holds no UserLoginFailed records (data/collection.yml)
    kql = compile_rules([rules], "defender", {}).queries[0].query
    assert "ClientIP = tolower(tostring(ClientIP_addr))" in kql
    assert "['ExtendedProperties.UserAgent'] = " in kql
    recs = [{"CreationTime": f"2023-07-12T12:38:4{i}", "Operation": "UserLoginFailed", "RecordType": 15,
             "UserId": u, "ClientIP": "203.0.113.9:4431", "Workload": "AzureActiveDirectory",
             "ExtendedProperties": [{"Name": "UserAgent", "Value": "python-requests/2.28.2"}]}
            for i, u in enumerate(["a@x.test", "b@x.test"])]
    now = datetime(2023, 7, 12, 13, 0, tzinfo=UTC)
    rows = executor().run(q, Dataset(tables=splunk_events("m365_audit", recs), now=now))
    assert [(r.get("ClientIP"), r.get("ExtendedProperties.UserAgent")) for r in rows] == [
        ("203.0.113.9", "python-requests/2.28.2")]
    # a group-by on a plain column is left alone
    assert "| rename" not in compile_rules([DATA / "value_count.yml"], "splunk", {}).queries[0].query
