"""The query-language syntax objects (stormpack.syntax, issue 16).

* Hostile identifiers and string literals (backslashes, both quotes, line breaks, tabs, NUL,
  non-ASCII, injection attempts, empty) written by ``KQL`` are parsed by Microsoft's
  Kusto.Language parser (tools/kqlcheck) into exactly the original name and value, and the KQL
  executor returns exactly them; those written by ``SPL`` pass the SPL lint, decode to the
  original (``querycheck.spl``) and round-trip through the SPL executor.
* No module outside ``stormpack/syntax/`` escapes or quotes KQL/SPL text by itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stormpack.errors import UnspellableError
from stormpack.execute.base import Dataset
from stormpack.execute.kql import KqlExecutor
from stormpack.execute.spl import executor as spl_executor
from stormpack.querycheck import KqlReport, KqlSchema, check_kql, decode_spl_quoted, lint_spl, split_commands
from stormpack.syntax import KQL, SPL

SRC = Path(__file__).resolve().parents[1] / "compiler" / "stormpack"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

HOSTILE_VALUES = [
    "", '"', "'", "\\", "\\\\", '\\"', "\\'", "trail\\", "a\nb", "a\r\nb", "\r", "\t", "\x00", "\x7f",
    "\u2028", "\u0085", "\u202eevil", "é", "İß", "😀 ok", '" or 1==1 or "', "') | take 1 //",
    "|", "a | delete",
    "[x]", "*", "?", "%", "{}", "$", "//", "/*", "let", "x" * 500,
]
HOSTILE_NAMES = [
    "", "a b", "a.b", "A-b", "1abc", "it's", 'say "x"', "back\\slash", "trail\\", "new\nline", "cr\rx",
    "tab\tx", "é ü 😀", "']", "['x']", "a\\'b", "x\x00y", "Parameters{}.Name", "a|b", "x=y", "plain_Name1",
]


# ------------------------------------------------------------------------------ KQL
@pytest.fixture(scope="module")
def kql_reports() -> tuple[list[str], list[str], list[KqlReport]]:
    """One parser run: a comparison of column C with each value, of each name with ""."""
    names = [n for n in HOSTILE_NAMES if n]  # a table column needs a name
    schema = KqlSchema(name="hostile", tables={"T": {"C": "string", **{n: "string" for n in names}}})
    queries = [f"T | where C == {KQL.string(v)}" for v in HOSTILE_VALUES]
    queries += [f"T | where {KQL.ident(n)} == {KQL.string('')}" for n in names]
    return names, queries, check_kql(queries, schema=schema)


def test_kql_literals_and_identifiers_parse_to_the_original(
    kql_reports: tuple[list[str], list[str], list[KqlReport]],
) -> None:
    names, queries, reports = kql_reports
    expected = [("C", v) for v in HOSTILE_VALUES] + [(n, "") for n in names]
    for query, report, (column, value) in zip(queries, reports, expected, strict=True):
        assert report.ok, (query, report.errors)
        (flt,) = report.filters
        (cmp,) = flt.comparisons
        assert cmp.left_columns == (column,), query
        assert [o.value for o in cmp.right] == [value], query


def test_kql_escape_keeps_every_line_break_out_of_the_text() -> None:
    # a raw line break ends a Kusto string literal (Kusto.Language KS001)
    for v in HOSTILE_VALUES + HOSTILE_NAMES:
        assert "\n" not in KQL.string(v) and "\r" not in KQL.string(v)
        assert "\n" not in KQL.ident(v) and "\r" not in KQL.ident(v)


def test_kql_bare_identifiers_stay_bare() -> None:
    assert [KQL.ident(n) for n in ("ClientIP", "_x", "a1")] == ["ClientIP", "_x", "a1"]
    assert KQL.ident("a.b") == "['a.b']"
    assert KQL.ident("back\\slash") == "['back\\\\slash']"  # the quoting that once forgot `\`


def test_kql_executor_returns_the_original_name_and_value() -> None:
    ex = KqlExecutor("sentinel")
    one = Dataset(tables={"T": [{"x": 1}]}, now=NOW)
    names = [n for n in HOSTILE_NAMES if n]
    for name, value in zip(names, HOSTILE_VALUES * 2, strict=False):
        (row,) = ex.run(f"T | project {KQL.ident(name)} = {KQL.string(value)}", one)
        assert row == {name: value}


def test_kql_timespan_and_steps() -> None:
    assert [KQL.timespan(s) for s in (86400, 7200, 300, 45)] == ["1d", "2h", "5m", "45s"]
    assert KQL.coalesce(["a"]) == "a" and KQL.coalesce(["a", "b"]) == "coalesce(a, b)"
    steps, presence = KQL.name_value_steps("P_x", "P_bag", "Parameters", "Name", "Value", 'we"ird\\')
    (row,) = KqlExecutor("sentinel").run(
        "T | extend Parameters = dynamic([{\"Name\": \"we\\\"ird\\\\\", \"Value\": \"v\"}])"
        + "".join("\n| " + s.text for s in steps) + f"\n| project P_x, present = {presence}",
        Dataset(tables={"T": [{"x": 1}]}, now=NOW),
    )
    assert row == {"P_x": "v", "present": True}


# ------------------------------------------------------------------------------ SPL
def _spl_run(query: str) -> list[dict[str, object]]:
    event = {"_time": NOW.timestamp(), "index": "main", "sourcetype": "test", "_raw": "{}"}
    return spl_executor().run(query, Dataset(tables={"test": [event]}, now=NOW))


# the SPL executor, like Splunk, expands macros anywhere in the text, quoted or not: a backtick
# cannot be written in a literal (the SPL lint reports unbalanced ones)
SPL_VALUES = [v for v in HOSTILE_VALUES if "`" not in v]


@pytest.mark.parametrize("value", SPL_VALUES, ids=range(len(SPL_VALUES)))
def test_spl_literals_lint_decode_and_execute_to_the_original(value: str) -> None:
    token = SPL.string(value)
    assert decode_spl_quoted(token) == value
    query = f"index=* | eval out={token} | where out={token}"
    lint_spl(query)
    assert len(split_commands(query)) == 3
    (row,) = _spl_run(query)
    assert row["out"] == value


def test_spl_eval_names_round_trip_or_are_refused() -> None:
    for name in HOSTILE_NAMES:
        if "'" in name or "|" in name or name.endswith("\\"):
            with pytest.raises(UnspellableError, match="cannot write field name"):
                SPL.eval_ref(name)
            continue
        ref = SPL.eval_ref(name)
        query = f'index=* | eval {ref}="x" | where {ref}="x"'
        lint_spl(query)
        (row,) = _spl_run(query)
        assert row[name] == "x", query


def test_spl_field_lists_quote_what_is_not_plain() -> None:
    for name in HOSTILE_NAMES:
        for spelled in (SPL.field(name), SPL.word_field(name), SPL.eval_name(name)):
            lint_spl(f"index=* | table {spelled}")
            plain = spelled == name
            assert plain or decode_spl_quoted(spelled) == name
    assert SPL.field("Parameters{}.Name") == "Parameters{}.Name"
    assert SPL.word_field("a.b") == '"a.b"'
    assert SPL.eval_ref("properties.ipAddress") == "'properties.ipAddress'"


# ------------------------------------------------------------------------------ one place
#: idioms that escape or quote query text: each belongs in stormpack/syntax/ only
ESCAPING_IDIOMS = {
    "doubles backslashes": re.compile(r"""\.replace\(\s*(["'])\\\\\1\s*,\s*(["'])\\\\\\\\\2\s*\)"""),
    "escapes a double quote": re.compile(r"""\.replace\(\s*'"'\s*,\s*'\\\\"'\s*\)"""),
    "escapes a single quote": re.compile(r"""\.replace\(\s*"'"\s*,\s*"\\\\'"\s*\)"""),
    "escapes a line break": re.compile(r"""\.replace\(\s*(["'])\\n\1\s*,\s*(["'])\\\\n\2\s*\)"""),
    "opens a bracketed KQL identifier": re.compile(r"""(?<![\w'])"\['"""),
    "wraps a name in quotes": re.compile(r"""f'"\{[^}]*\}"'|"'"\s*\+\s*\w+(?:\.\w+)*\s*\+\s*"'\""""),
}


def test_no_quoting_or_escaping_outside_the_syntax_package() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("syntax/"):
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, rx in ESCAPING_IDIOMS.items():
                if rx.search(line):
                    found.append(f"{rel}:{no}: {what}: {line.strip()}")
    assert not found, "quote/escape through stormpack.syntax (KQL / SPL):\n" + "\n".join(found)


def test_the_guard_sees_each_idiom() -> None:
    samples = [
        'x.replace("\\\\", "\\\\\\\\")', "x.replace('\"', '\\\\\"')", 'x.replace("\'", "\\\\\'")',
        'x.replace("\\n", "\\\\n")', 'return "[\'" + name', "f'\"{name}\"'", "\"'\" + name + \"'\"",
    ]
    for sample in samples:
        assert any(rx.search(sample) for rx in ESCAPING_IDIOMS.values()), sample
