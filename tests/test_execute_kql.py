"""The KQL executor on the documented examples of Microsoft Learn's function and operator pages.

Each example's page is cited next to it; the query text is parsed by Kusto.Language
(tools/kqlcheck/kqlsyntax.js) and evaluated by stormpack.execute.kql.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stormpack.execute.base import Dataset, UnsupportedConstruct
from stormpack.execute.kql import KqlExecutor, KqlSyntaxError

NOW = datetime(2023, 7, 1, 12, 0, tzinfo=UTC)
EX = KqlExecutor("sentinel")
ONE = Dataset(tables={"T": [{"x": 1}]}, now=NOW)


def value(expr: str) -> Any:
    (row,) = EX.run(f"T | project r = {expr}", ONE)
    return row["r"]


LEARN = "https://learn.microsoft.com/en-us/kusto/query/"

# (expression, documented result, page)
DOCUMENTED: list[tuple[str, Any, str]] = [
    # string operators page table
    ('"North America" has "america"', True, "datatypes-string-operators"),
    ('"North America" !has "amer"', True, "datatypes-string-operators"),
    ('"North America" has_cs "America"', True, "datatypes-string-operators"),
    ('"North America" has_cs "america"', False, "datatypes-string-operators"),
    ('"North America" has_any ("south", "north")', True, "datatypes-string-operators"),
    ('"FabriKam" contains "BRik"', True, "datatypes-string-operators"),
    ('"FabriKam" contains_cs "Kam"', True, "datatypes-string-operators"),
    ('"FabriKam" !contains_cs "Kam"', False, "datatypes-string-operators"),
    ('"Fabrikam" startswith "fab"', True, "datatypes-string-operators"),
    ('"Fabrikam" startswith_cs "fab"', False, "datatypes-string-operators"),
    ('"Fabrikam" endswith "Kam"', True, "datatypes-string-operators"),
    ('"Fabrikam" !endswith "brik"', True, "datatypes-string-operators"),
    ('"abc" =~ "ABC"', True, "datatypes-string-operators"),
    ('"aBc" !~ "xyz"', True, "datatypes-string-operators"),
    ('"aBc" == "abc"', False, "datatypes-string-operators"),
    ('"abc" in~ ("123", "345", "ABC")', True, "datatypes-string-operators"),
    ('"bca" !in~ ("123", "345", "ABC")', True, "datatypes-string-operators"),
    ('"abc" in ("123", "345", "abc")', True, "datatypes-string-operators"),
    ('"Fabrikam" matches regex "b.*k"', True, "datatypes-string-operators"),
    # tostring / conversions
    ("tostring(123)", "123", "tostring-function"),
    ("tostring(long(null))", "", "tostring-function"),
    ('toint("123")', 123, "toint-function"),
    ('toint("abc")', None, "toint-function"),
    # null and empty
    ('isempty("")', True, "isempty-function"),
    ('isempty("x")', False, "isempty-function"),
    ('isempty(parse_json(""))', True, "isempty-function"),
    ('isempty(parse_json("[]"))', False, "isempty-function"),
    ('isempty(parse_json("{}"))', False, "isempty-function"),
    ('isnull("")', False, "isnull-function"),
    ('isnull(parse_json(""))', True, "isnull-function"),
    ('isnull(parse_json("[]"))', False, "isnull-function"),
    ('isnotempty("")', False, "isnotempty-function"),
    # string functions
    ('countof("aaa", "a")', 3, "countof-function"),
    ('countof("aaaa", "aa")', 3, "countof-function"),
    ('countof("ababa", "aba", "regex")', 1, "countof-function"),
    ('countof("abcabc", "a.c", "regex")', 2, "countof-function"),
    ('substring("123456", 1)', "23456", "substring-function"),
    ('substring("123456", 2, 2)', "34", "substring-function"),
    ('substring("ABCD", 0, 2)', "AB", "substring-function"),
    ('trim("--", "--https://bing.com--")', "https://bing.com", "trim-function"),
    ('extract("x=([0-9.]+)", 1, "hello x=45.6|wo")', "45.6", "extract-function"),
    ('split("aa_bb", "_")', ["aa", "bb"], "split-function"),
    ('split("aaa_bbb_ccc", "_", 1)', ["bbb"], "split-function"),
    ('strcat_array(dynamic([1, 2, 3]), "->")', "1->2->3", "strcat-array-function"),
    ('strcat("hello", " ", "world")', "hello world", "strcat-function"),
    ('tolower("Hello")', "hello", "tolower-function"),
    # dynamic
    ('array_length(dynamic([1, 2, 3, "four"]))', 4, "array-length-function"),
    ("array_length(dynamic({}))", None, "array-length-function"),
    ("bag_has_key(dynamic({'A': 1, 'B': {'C': 2}}), 'A')", True, "bag-has-key-function"),
    ("bag_has_key(dynamic({'A': 1, 'B': {'C': 2}}), 'C')", False, "bag-has-key-function"),
    ('parse_json(\'{"a": {"b": 7}}\').a.b', 7, "parse-json-function"),
    # ip functions
    ('ipv4_is_in_range("192.168.1.6", "192.168.1.1/24")', True, "ipv4-is-in-range-function"),
    ('ipv4_is_in_range("192.168.1.1", "192.168.2.1/24")', False, "ipv4-is-in-range-function"),
    ('ipv4_is_in_range("fe80::1", "192.168.2.1/24")', None, "ipv4-is-in-range-function"),
    ("ipv6_is_in_range('a5e:f127:8a9d:146d:e102:b5d3:c755:abcd',"
     " 'a5e:f127:8a9d:146d:e102:b5d3:c755:0000/112')",
     True, "ipv6-is-in-range-function"),
    ("ipv6_is_in_range('a5e:f127:8a9d:146d:e102:b5d3:c756:abcd',"
     " 'a5e:f127:8a9d:146d:e102:b5d3:c755:0000/112')",
     False, "ipv6-is-in-range-function"),
    ("ipv4_is_match('192.168.1.1', '192.168.1.255', 24)", True, "ipv4-is-match-function"),
    ("ipv4_is_match('192.168.1.1', '192.168.1.255')", False, "ipv4-is-match-function"),
    # bin and datetime arithmetic
    ("bin(4.5, 1)", 4.0, "bin-function"),
    ("bin(time(16d), 7d)", timedelta(days=14), "bin-function"),
    ("bin(datetime(1970-05-11 13:45:07), 1d)", datetime(1970, 5, 11, tzinfo=UTC), "bin-function"),
    ("datetime(2023-01-02) - datetime(2023-01-01)", timedelta(days=1), "datetime-timespan-arithmetic"),
    ("datetime(2023-01-01) + 1h", datetime(2023, 1, 1, 1, tzinfo=UTC), "datetime-timespan-arithmetic"),
    ("ago(1h)", NOW - timedelta(hours=1), "ago-function"),
    ("now(-2d)", NOW - timedelta(days=2), "now-function"),
    # conditionals
    ('case(1 > 2, "a", 2 > 1, "b", "c")', "b", "case-function"),
    ('iff(1 > 2, "a", "b")', "b", "iff-function"),
    ('not(1 > 2)', True, "not-function"),
    # parse_xml conversion table (elements, attributes as "@name", text beside them as "#text",
    # repeated elements as an array; invalid XML gives null)
    ('parse_xml("<e/>")', {"e": None}, "parse-xml-function"),
    ('parse_xml("<e>text</e>")', {"e": "text"}, "parse-xml-function"),
    ("parse_xml('<e name=\"value\" />')", {"e": {"@name": "value"}}, "parse-xml-function"),
    ("parse_xml('<e name=\"value\">text</e>')", {"e": {"@name": "value", "#text": "text"}},
     "parse-xml-function"),
    ('parse_xml("<e><a>text</a><b>text</b></e>")', {"e": {"a": "text", "b": "text"}}, "parse-xml-function"),
    ('parse_xml("<e><a>text</a><a>text</a></e>")', {"e": {"a": ["text", "text"]}}, "parse-xml-function"),
    ('tostring(parse_xml("<e><a>x</a><a>y</a></e>").e.a[1])', "y", "parse-xml-function"),
    ('isnull(parse_xml("<e>"))', True, "parse-xml-function"),
]


@pytest.fixture(scope="module", autouse=True)
def _parse_once() -> None:
    """All example queries parsed in one Kusto.Language process (not one per example)."""
    EX.prepare(f"T | project r = {d[0]}" for d in DOCUMENTED)


@pytest.mark.parametrize(("expr", "expected", "page"), DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_example(expr: str, expected: Any, page: str) -> None:
    got = value(expr)
    assert got == expected, f"{LEARN}{page}: {expr} gave {got!r}"
    assert type(got) is type(expected) or expected is None


def test_has_matches_whole_terms_only() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators#what-is-a-term
    assert value('"ab-cd ef" has "cd"') is True
    assert value('"abcd" has "bc"') is False
    assert value('"user@contoso.com" has "contoso.com"') is True
    assert value('"user@contoso.community" has "contoso.com"') is False


ROWS = [{"k": "a", "n": 1, "t": "2023-07-01T10:05:00Z"}, {"k": "a", "n": 2, "t": "2023-07-01T10:55:00Z"},
        {"k": "B", "n": 3, "t": "2023-07-01T11:10:00Z"}]
TYPED = Dataset(tables={"T": ROWS}, now=NOW, schemas={"T": {"k": "string", "n": "long", "t": "datetime",
                                                             "m": "string", "d": "dynamic"}})


def test_missing_string_column_is_empty_not_null_and_schema_types_apply() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/null-values: strings are never null
    rows = EX.run("T | where isempty(m) and isnull(d) and not(isnull(m)) | project k, t", TYPED)
    assert [r["k"] for r in rows] == ["a", "a", "B"]
    assert rows[0]["t"] == datetime(2023, 7, 1, 10, 5, tzinfo=UTC)


def test_summarize_by_bin_with_aggregates() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/summarize-operator
    rows = EX.run("T | summarize c = count(), s = make_set(k), mx = max(n) by w = bin(t, 1h)", TYPED)
    assert rows == [
        {"w": datetime(2023, 7, 1, 10, tzinfo=UTC), "c": 2, "s": ["a"], "mx": 2},
        {"w": datetime(2023, 7, 1, 11, tzinfo=UTC), "c": 1, "s": ["B"], "mx": 3},
    ]


def test_summarize_without_by_over_no_rows_returns_one_row() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/summarize-operator (empty input, no group keys)
    assert EX.run("T | where n > 10 | summarize c = count()", TYPED) == [{"c": 0}]
    assert EX.run("T | where n > 10 | summarize c = count() by k", TYPED) == []


def test_mv_apply_make_bag_of_name_value_pairs_and_empty_array() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/mv-apply-operator
    data = Dataset(tables={"T": [{"P": '[{"Name": "A", "Value": "1"}, {"Name": "B", "Value": ""}]'},
                                 {"P": "[]"}]}, now=NOW)
    q = ('T | mv-apply __nv = parse_json(P) on (summarize b = make_bag(bag_pack(tostring(__nv.Name), '
         '__nv.Value))) | project a = tostring(b["A"]), hasB = bag_has_key(b, "B"), c = tostring(b["C"])')
    assert EX.run(q, data) == [{"a": "1", "hasB": True, "c": ""}, {"a": "", "hasB": False, "c": ""}]


def test_union_let_watchlist_and_join() -> None:
    data = Dataset(tables={"A": [{"u": "x", "v": 1}], "B": [{"u": "Y", "w": 2}]}, now=NOW,
                   watchlists={"ok": [{"SearchKey": "y", "Value": "y"}]})
    # https://learn.microsoft.com/en-us/kusto/query/union-operator: missing columns are null
    assert EX.run("union A, B", data) == [{"u": "x", "v": 1, "w": None}, {"u": "Y", "v": None, "w": 2}]
    # https://learn.microsoft.com/en-us/azure/sentinel/watchlists-queries
    q = "let L = B | where u in~ ((_GetWatchlist('ok') | project SearchKey)); L | project u"
    assert EX.run(q, data) == [{"u": "Y"}]
    # https://learn.microsoft.com/en-us/kusto/query/join-operator
    j = EX.run("A | extend u = toupper(u) | join kind=leftouter (B) on u", data)
    assert j == [{"u": "X", "v": 1, "u1": None, "w": None}]


def test_unknown_function_or_operator_is_named() -> None:
    with pytest.raises(UnsupportedConstruct, match=r"function base64_decode_tostring\(\)"):
        value('base64_decode_tostring("YQ==")')
    with pytest.raises(UnsupportedConstruct, match="tabular operator TopOperator"):
        EX.run("T | top 1 by x", ONE)
    with pytest.raises(UnsupportedConstruct, match="column or name 'nope'"):
        value("nope")


def test_syntax_error_is_reported_by_the_parser() -> None:
    with pytest.raises(KqlSyntaxError, match="Kusto.Language"):
        EX.run("T | where (", ONE)


# ---------------------------------------------------------------- sort and window functions
SEQ = Dataset(tables={"T": [{"a": v, "k": k} for v, k in ((3, "x"), (1, "y"), (2, "x"), (5, "y"), (4, "x"))]},
              now=NOW)


def test_sort_is_descending_unless_asc_is_written() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/sort-operator: "desc" is the default order
    assert [r["a"] for r in EX.run("T | sort by a", SEQ)] == [5, 4, 3, 2, 1]
    assert [r["a"] for r in EX.run("T | sort by a asc", SEQ)] == [1, 2, 3, 4, 5]
    assert [(r["k"], r["a"]) for r in EX.run("T | sort by k asc, a desc", SEQ)] == [
        ("x", 4), ("x", 3), ("x", 2), ("y", 5), ("y", 1)]


def test_prev_and_next_read_neighbouring_rows_of_a_serialized_row_set() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/prev-function: prev(column, offset, default)
    # https://learn.microsoft.com/en-us/kusto/query/next-function
    rows = EX.run("T | sort by a asc | extend p = prev(a), p2 = prev(a, 2, -1), n = next(a)", SEQ)
    assert [(r["p"], r["p2"], r["n"]) for r in rows] == [
        (None, -1, 2), (1, -1, 3), (2, 1, 4), (3, 2, 5), (4, 3, None)]


def test_row_cumsum_restarts_where_told() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/row-cumsum-function: the documented example
    # sums 1..10 in order (1, 3, 6, 10, ...); a true restart starts again at the current term
    rows = EX.run("T | sort by a asc | extend c = row_cumsum(a), r = row_cumsum(a, a % 2 == 0)", SEQ)
    assert [r["c"] for r in rows] == [1, 3, 6, 10, 15]
    assert [r["r"] for r in rows] == [1, 2, 5, 4, 9]


def test_window_functions_need_a_serialized_row_set() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/window-functions: sort / serialize produce a
    # serialized row set, where / extend keep it, summarize does not
    rows = EX.run("T | serialize | where a > 1 | extend p = prev(a)", SEQ)
    assert [r["p"] for r in rows] == [None, 3, 2, 5]
    with pytest.raises(UnsupportedConstruct, match="serialized"):
        EX.run("T | summarize by a | extend p = prev(a)", SEQ)
    with pytest.raises(UnsupportedConstruct, match="serialized"):
        EX.run("T | extend p = prev(a)", SEQ)


def test_mv_expand_parallel_arrays_to_typeof_and_pack_array() -> None:
    # https://learn.microsoft.com/en-us/kusto/query/mv-expand-operator: several columns expand in
    # parallel (the n-th elements in one row); "to typeof(T)" gives the expanded column type T.
    # https://learn.microsoft.com/en-us/kusto/query/pack-array-function: pack_array(x, y) = [x, y]
    # https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/dynamic: dynamic([1, -1])
    t = datetime(2024, 5, 1, 10, tzinfo=UTC)
    data = Dataset(tables={"T": [{"at": t, "k": "a"}]}, now=NOW)
    rows = EX.run("T | extend p = pack_array(at, at + 1h), d = dynamic([1, -1]) "
                  "| mv-expand p to typeof(datetime), d to typeof(long)", data)
    assert [(r["p"], r["d"]) for r in rows] == [(t, 1), (t + timedelta(hours=1), -1)]
    assert value("pack_array(1, 'x')") == [1, "x"]
    rows = EX.run('T | extend s = dynamic(["3"]) | mv-expand s to typeof(long)', ONE)
    assert rows[0]["s"] == 3


def test_sliding_window_sweep_as_compiled() -> None:
    """The shape kql_correlation emits (docs/compiler.md, "Correlation windows"): +1/-1 rows per
    event, sorted with -1 first at an instant, row_cumsum per group = events in the half-open
    window ending there."""
    t = datetime(2024, 5, 1, 10, tzinfo=UTC)
    ev = [{"k": "a", "stormpack_time": t + timedelta(minutes=m)} for m in (0, 5, 10)]
    data = Dataset(tables={"T": ev}, now=NOW)
    rows = EX.run("T | extend stormpack_at = pack_array(stormpack_time, stormpack_time + 10m), "
                  "stormpack_delta = dynamic([1, -1]) "
                  "| mv-expand stormpack_at to typeof(datetime), stormpack_delta to typeof(long) "
                  "| sort by k asc, stormpack_at asc, stormpack_delta asc "
                  "| extend n = row_cumsum(stormpack_delta, k != prev(k)) | where stormpack_delta > 0", data)
    # 10:10 is exactly 10 minutes after 10:00, so 10:00 has left the window: 1, 2, 2
    assert [r["n"] for r in rows] == [1, 2, 2]
