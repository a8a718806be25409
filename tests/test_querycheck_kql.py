"""The KQL checker: Microsoft's Kusto.Language parser (via tools/kqlcheck/kqlcheck.js) against
the schema exported from the Kusto backend. Every query of a target is checked in ONE node call
(module-scoped fixtures), so this file starts node only a handful of times."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stormpack.errors import StormpackError
from stormpack.querycheck import (
    CheckerFailedError,
    CheckerUnavailableError,
    KqlReport,
    KqlSchema,
    LogicBool,
    LogicLeaf,
    LogicNot,
    check_kql,
)
from stormpack.querycheck import kql as kql_module

# --------------------------------------------------------------------------------------------
# the queries: valid ones the pack's shapes need, and each kind of mistake the checker must catch

SENTINEL_VALID = {
    "inbox_rule_mv_apply": (
        'OfficeActivity | where Operation in~ ("New-InboxRule", "Set-InboxRule")'
        " | mv-apply P = todynamic(Parameters) on (where tostring(P.Name) =~ \"ForwardTo\""
        " | extend Fwd = tostring(P.Value))"
    ),
    "mailitemsaccessed_rest": (
        'OfficeActivity | where Operation =~ "MailItemsAccessed" and ClientInfoString has "Client=REST"'
        ' and Logon_Type == "Owner" and RecordType =~ "ExchangeItemAggregated"'
    ),
    "signin_cidr": (
        'SigninLogs | where ipv4_is_in_range(IPAddress, "10.0.0.0/8") or ipv6_is_in_range(IPAddress, '
        '"2001:db8::/32") | summarize count() by bin(TimeGenerated, 1h), UserPrincipalName'
    ),
    "noninteractive_parse_json": (
        "AADNonInteractiveUserSignInLogs | extend D = parse_json(DeviceDetail)"
        ' | where tostring(D.isCompliant) =~ "false" and ResultType == "0"'
    ),
    "signin_dynamic_device": 'SigninLogs | where tostring(DeviceDetail.isCompliant) =~ "false"',
    "auditlogs_mv_expand": (
        'AuditLogs | where OperationName =~ "Consent to application" | mv-expand T = TargetResources'
        ' | where tostring(T.userPrincipalName) endswith "@contoso.com"'
    ),
    "watchlist": (
        'OfficeActivity | where Client_IPAddress in (_GetWatchlist("storm0558_ips") | project SearchKey)'
    ),
    "let_and_join": (
        'let ids = SigninLogs | where TimeGenerated > ago(1d) | distinct UniqueTokenIdentifier;\n'
        'OfficeActivity | where Operation == "MailItemsAccessed"'
        " | extend Tok = tostring(parse_json(OperationProperties)[0].Value)"
        " | join kind=leftanti ids on $left.Tok == $right.UniqueTokenIdentifier"
    ),
}

DEFENDER_VALID = {
    "cloudappevents": (
        'CloudAppEvents | where ActionType =~ "MailItemsAccessed"'
        ' and tostring(RawEventData.ClientInfoString) startswith "Client=REST"'
        " | summarize count() by bin(Timestamp, 1d), AccountObjectId"
    ),
    "entraid_signin": (
        'EntraIdSignInEvents | where ErrorCode == 0 and ipv4_is_in_range(IPAddress, "192.0.2.0/24")'
        " | project Timestamp, AccountUpn"
    ),
    "cloudappevents_mv_apply": (
        'CloudAppEvents | where ActionType in~ ("New-InboxRule", "Set-InboxRule")'
        " | mv-apply P = RawEventData.Parameters on (where tostring(P.Name) == \"ForwardTo\")"
    ),
}

# name -> (query, expected error code, the text the error must point at or None)
SENTINEL_INVALID: dict[str, tuple[str, str, str | None]] = {
    "keyword_or": ('OfficeActivity | where ("Set-Mailbox" or "Add-MailboxPermission")', "KS106", "or"),
    "missing_paren": ('OfficeActivity | where (Operation =~ "MailItemsAccessed"', "KS005", None),
    "dangling_and": ('OfficeActivity | where Operation =~ "MailItemsAccessed" and (', "KS006", None),
    "typo_column": ('OfficeActivity | where Operaton =~ "MailItemsAccessed"', "KS142", "Operaton"),
    "wrong_table_column": ('SigninLogs | where ClientInfoString has "REST"', "KS142", "ClientInfoString"),
    "watchlist_column": ('_GetWatchlist("x") | where SearchKeyy == "a"', "KS142", "SearchKeyy"),
    "defender_table_on_sentinel": ("EntraIdSignInEvents | take 1", "KS204", "EntraIdSignInEvents"),
}

DEFENDER_INVALID: dict[str, tuple[str, str, str | None]] = {
    "typo_column": ('EntraIdSignInEvents | where AccountUpnn has "x"', "KS142", "AccountUpnn"),
    "sentinel_table_on_defender": ("SigninLogs | take 1", "KS204", "SigninLogs"),
}


def _batch(
    target: str, valid: dict[str, str], invalid: dict[str, tuple[str, str, str | None]]
) -> dict[str, KqlReport]:
    names = [*valid, *invalid]
    queries = [*valid.values(), *(spec[0] for spec in invalid.values())]
    reports = check_kql(queries, target="sentinel" if target == "sentinel" else "defender")
    assert [r.query for r in reports] == queries
    return dict(zip(names, reports, strict=True))


@pytest.fixture(scope="module")
def sentinel() -> dict[str, KqlReport]:
    return _batch("sentinel", SENTINEL_VALID, SENTINEL_INVALID)


@pytest.fixture(scope="module")
def defender() -> dict[str, KqlReport]:
    return _batch("defender", DEFENDER_VALID, DEFENDER_INVALID)


@pytest.mark.parametrize("name", sorted(SENTINEL_VALID))
def test_valid_sentinel_queries_have_no_errors(sentinel: dict[str, KqlReport], name: str) -> None:
    assert sentinel[name].errors == ()


@pytest.mark.parametrize("name", sorted(DEFENDER_VALID))
def test_valid_defender_queries_have_no_errors(defender: dict[str, KqlReport], name: str) -> None:
    assert defender[name].errors == ()


def _assert_error(report: KqlReport, code: str, points_at: str | None) -> None:
    assert not report.ok
    matching = [d for d in report.errors if d.code == code]
    assert matching, f"expected {code}, got {[str(d) for d in report.diagnostics]}"
    if points_at is not None:
        d = matching[0]
        assert report.query[d.start : d.start + d.length] == points_at


@pytest.mark.parametrize("name", sorted(SENTINEL_INVALID))
def test_sentinel_mistakes_are_caught(sentinel: dict[str, KqlReport], name: str) -> None:
    _, code, points_at = SENTINEL_INVALID[name]
    _assert_error(sentinel[name], code, points_at)


@pytest.mark.parametrize("name", sorted(DEFENDER_INVALID))
def test_defender_mistakes_are_caught(defender: dict[str, KqlReport], name: str) -> None:
    _, code, points_at = DEFENDER_INVALID[name]
    _assert_error(defender[name], code, points_at)


# --------------------------------------------------------------------------------------------
# the structural summary


def test_structure_of_pipeline_and_nested_where(sentinel: dict[str, KqlReport]) -> None:
    report = sentinel["inbox_rule_mv_apply"]
    (stmt,) = report.statements
    assert stmt.kind == "ExpressionStatement"
    assert (stmt.source_kind, stmt.source) == ("NameReference", "OfficeActivity")
    assert [op.name for op in stmt.operators] == ["where", "mv-apply"]
    assert report.tables == ("OfficeActivity",)
    top, nested = report.filters
    assert (top.nested, nested.nested) == (False, True)
    (cmp,) = top.comparisons
    assert (cmp.kind, cmp.op, cmp.left) == ("InCsExpression", "in~", "Operation")
    assert cmp.left_columns == ("Operation",)
    assert [o.value for o in cmp.right] == ["New-InboxRule", "Set-InboxRule"]
    assert top.logic == LogicLeaf(0)
    (inner,) = nested.comparisons
    assert (inner.op, inner.left, [o.value for o in inner.right]) == ("=~", "tostring(P.Name)", ["ForwardTo"])


def test_structure_of_boolean_logic_and_function_calls(sentinel: dict[str, KqlReport]) -> None:
    report = sentinel["signin_cidr"]
    (flt,) = report.filters
    assert flt.logic == LogicBool("or", (LogicLeaf(0), LogicLeaf(1)))
    assert [(c.op, c.left, tuple(o.value for o in c.right)) for c in flt.comparisons] == [
        ("ipv4_is_in_range", "IPAddress", ("10.0.0.0/8",)),
        ("ipv6_is_in_range", "IPAddress", ("2001:db8::/32",)),
    ]
    assert [op.name for op in report.statements[0].operators] == ["where", "summarize"]


def test_structure_of_let_statements(sentinel: dict[str, KqlReport]) -> None:
    report = sentinel["let_and_join"]
    let, main = report.statements
    assert (let.kind, let.name, let.source) == ("LetStatement", "ids", "SigninLogs")
    assert [op.name for op in let.operators] == ["where", "distinct"]
    assert (main.kind, main.source) == ("ExpressionStatement", "OfficeActivity")
    assert [op.name for op in main.operators] == ["where", "extend", "join"]
    assert [f.statement for f in report.filters] == [0, 1]


def test_structure_shows_keyword_bug_as_literal_only_comparisons(sentinel: dict[str, KqlReport]) -> None:
    (flt,) = sentinel["keyword_or"].filters
    assert isinstance(flt.logic, LogicBool) and flt.logic.op == "or"
    assert all(c.left_columns == () and c.op is None for c in flt.comparisons)
    assert [c.left for c in flt.comparisons] == ['"Set-Mailbox"', '"Add-MailboxPermission"']


TINY_QUERIES = {
    "not_and_types": 'T | where C == "a" and not(N > 3 or C in ("x", @"y\\z"))',
    "leaf_kinds": (
        'T | where C has_any ("a", "b") and N between (1 .. 5) and C !in ("z") and isnotempty(C)'
        ' and C matches regex @"\\d+" and C == strcat("p", "q")'
    ),
    "literal_forms": 'T | where C == "a" "b" or C == h"secret" or C == @"x""y" or C == \'it\\\'s\'',
    "filter_synonym_and_union": 'T | filter C == "x" | union (T | where C == "u")',
}


@pytest.fixture(scope="module")
def tiny() -> dict[str, KqlReport]:
    schema = KqlSchema(name="tiny", tables={"T": {"C": "string", "N": "long"}})
    reports = check_kql(list(TINY_QUERIES.values()), schema=schema)
    return dict(zip(TINY_QUERIES, reports, strict=True))


def test_structure_of_not_and_literal_types(tiny: dict[str, KqlReport]) -> None:
    report = tiny["not_and_types"]
    assert report.ok
    (flt,) = report.filters
    negated = LogicNot(LogicBool("or", (LogicLeaf(1), LogicLeaf(2))))
    assert flt.logic == LogicBool("and", (LogicLeaf(0), negated))
    n_cmp = flt.comparisons[1]
    assert (n_cmp.op, n_cmp.right[0].type, n_cmp.right[0].value) == (">", "long", "3")
    assert [o.value for o in flt.comparisons[2].right] == ["x", "y\\z"]
    assert [s.value for s in report.string_literals] == ["a", "x", "y\\z"]


def test_structure_of_each_leaf_kind(tiny: dict[str, KqlReport]) -> None:
    report = tiny["leaf_kinds"]
    assert report.ok
    (flt,) = report.filters
    assert flt.logic == LogicBool("and", tuple(LogicLeaf(i) for i in range(6)))
    leaves = [(c.kind, c.op, c.left, tuple(o.value for o in c.right)) for c in flt.comparisons]
    assert leaves == [
        ("HasAnyExpression", "has_any", "C", ("a", "b")),
        ("BetweenExpression", "between", "N", ("1", "5")),
        ("NotInExpression", "!in", "C", ("z",)),
        ("FunctionCallExpression", "isnotempty", "C", ()),
        ("MatchesRegexExpression", "matches regex", "C", ("\\d+",)),
        ("EqualExpression", "==", "C", (None,)),  # not a literal: strcat(...)
    ]
    assert flt.comparisons[5].right[0].text == 'strcat("p", "q")'


def test_every_string_literal_form_is_decoded_by_the_parser(tiny: dict[str, KqlReport]) -> None:
    report = tiny["literal_forms"]
    assert report.ok
    values = [c.right[0].value for c in report.filters[0].comparisons]
    assert values == ["ab", "secret", 'x"y', "it's"]


def test_filter_synonym_and_nested_pipelines(tiny: dict[str, KqlReport]) -> None:
    report = tiny["filter_synonym_and_union"]
    assert report.ok
    assert [op.name for op in report.statements[0].operators] == ["filter", "union"]
    filters = [(f.nested, f.comparisons[0].right[0].value) for f in report.filters]
    assert filters == [(False, "x"), (True, "u")]


# --------------------------------------------------------------------------------------------
# literal round trip (hypothesis, batched: one node call per example, each a list of ~200 values)


def kql_quote(value: str) -> str:
    """A KQL double-quoted string literal for ``value`` (escapes: backslash, quote, and every
    control / line-separator / surrogate code point as \\uXXXX)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif code < 0x20 or code == 0x7F or ch in "\u2028\u2029" or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


TINY = KqlSchema(name="tiny", tables={"T": {"C": "string"}})
NASTY = st.sampled_from(
    ['"', "\\", "'", "|", ";", "\n", "\r", "\t", "\x00", "\u200f", "\u202e", "*", "?", "é", "😀"]
)
VALUES = st.lists(st.text(NASTY, max_size=6) | st.text(max_size=40), min_size=180, max_size=220)
INJECTIONS = ['x" or 1==1 or "', 'a" | take 1 //', '\\" ; print 1', '"', "\\", "", "'; T | where C != '"]


def _round_trip(values: Sequence[str]) -> None:
    queries = [f"T | where C == {kql_quote(v)}" for v in values]
    for value, report in zip(values, check_kql(queries, schema=TINY), strict=True):
        assert report.ok, (value, [str(d) for d in report.diagnostics])
        (stmt,) = report.statements
        assert [op.name for op in stmt.operators] == ["where"]
        (flt,) = report.filters
        assert flt.logic == LogicLeaf(0)
        (cmp,) = flt.comparisons
        assert (cmp.op, cmp.left_columns) == ("==", ("C",))
        (operand,) = cmp.right
        assert operand.literal and operand.type == "string"
        assert operand.value == value
        assert [s.value for s in report.string_literals] == [value]


# Each example is one node call checking ~200 values: one generated example under make test,
# proportionally more under make fuzz (STORMPACK_FUZZ_EXAMPLES); plus the explicit injections.
@pytest.mark.fuzz
@settings(max_examples=max(1, settings.default.max_examples // 150))
@given(VALUES)
@example(INJECTIONS)
def test_string_literal_round_trip(values: list[str]) -> None:
    _round_trip(values)


# --------------------------------------------------------------------------------------------
# failures of the checker itself are clear errors


def test_missing_node_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STORMPACK_NODE", str(tmp_path / "no-node"))
    with pytest.raises(CheckerUnavailableError, match="make setup") as exc:
        check_kql(["T"], schema=TINY)
    assert isinstance(exc.value, StormpackError)


def test_missing_npm_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kql_module, "KUSTO_PACKAGE", tmp_path / "language-service-next")
    with pytest.raises(CheckerUnavailableError, match="run make setup"):
        check_kql(["T"], schema=TINY)


def test_check_kql_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError):
        check_kql("T | take 1", schema=TINY)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema": {"T": {"C": "strng"}}, "queries": []}', "unknown type"),
        ('{"schema": {}, "queries": "T"}', "'queries' must be an array"),
        ('{"schema": {}, "queries": [], "extra": 1}', "unknown request key 'extra'"),
    ],
)
def test_kqlcheck_js_rejects_bad_requests(stdin: str, message: str) -> None:
    node, script = kql_module.ensure_checker()
    proc = subprocess.run([node, str(script)], input=stdin.encode(), capture_output=True, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr.decode()
    assert proc.stdout == b""


def test_bad_request_surfaces_as_checker_failed() -> None:
    with pytest.raises(CheckerFailedError, match="unknown type"):
        kql_module.run_checker({"schema": {"T": {"C": "text"}}, "queries": ["T"]})


def test_kqlcheck_js_answers_in_order_with_parser_version() -> None:
    node, script = kql_module.ensure_checker()
    request = {"schema": {"T": {"C": "string"}}, "queries": ["T | where C == 'one'", "T | where C == 'two'"]}
    proc = subprocess.run(
        [node, str(script)], input=json.dumps(request).encode(), capture_output=True, check=True
    )
    answer = json.loads(proc.stdout)
    lock = json.loads((kql_module.KQLCHECK_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/@kusto/language-service-next"]["version"]
    assert answer["parser"] == f"@kusto/language-service-next@{pinned}" == (
        f"@kusto/language-service-next@{kql_module.parser_version()}"
    )
    assert [r["string_literals"][0]["value"] for r in answer["results"]] == ["one", "two"]
