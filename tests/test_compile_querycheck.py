"""Every compiled query passes Microsoft's Kusto.Language parser (KQL, against the schema exported
from the Kusto backend's tables.py) or the SPL structural lint: the construct tests' rules, the
correlation tests' rules and every rule in rules/. Plus the issue's explicit bans."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from stormpack.compiler import CompiledQuery, compile_rules
from stormpack.compiler.pipeline_gen import field_table
from stormpack.compiler.schema import table_columns
from stormpack.compiler.targets import TARGETS, FieldRef, load_target
from stormpack.querycheck.kql import check_kql
from stormpack.querycheck.spl import lint_spl
from test_compile_constructs import CASES, rule_text

ROOT = Path(__file__).resolve().parents[1]
CORRELATIONS = ROOT / "tests" / "data" / "compile" / "correlations"
KQL_TARGETS = [t for t in TARGETS if load_target(t).is_kql]


def _construct_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="stormpack-constructs-"))
    for i, (name, ls, det, _) in enumerate(CASES):
        (d / f"{i:02d}_{name}.yml").write_text(
            rule_text(ls, det, title=f"Construct {name}").replace(
                "6f0c6c39-0000-4000-8000-000000000001", f"6f0c6c39-0000-4000-8000-{i:012d}"
            ),
            encoding="utf-8",
        )
    return d


def types_of(target: str, q: CompiledQuery) -> dict[str, str]:
    """Kusto type of every column of the query's table(s) and every alias of its log source(s)."""
    spec = load_target(target)
    out: dict[str, str] = {}
    for key in q.logsource.split("+"):
        lt = spec.logsources[key]
        out.update(table_columns(spec.schema or "", lt.schema_table or lt.table or ""))
        out.update({r.name: r.type for r in field_table(target)[key].values() if isinstance(r, FieldRef)})
    return out


@pytest.fixture(scope="module")
def compiled() -> dict[str, list[CompiledQuery]]:
    constructs = _construct_dir()
    out: dict[str, list[CompiledQuery]] = {}
    for target in TARGETS:
        queries: list[CompiledQuery] = []
        for paths, values in (([constructs], {}), ([CORRELATIONS], {}), ([ROOT / "rules"], ROOT / "values")):
            res = compile_rules(paths, target, values)
            queries += res.queries
        out[target] = queries
    return out


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_kql_has_no_parser_diagnostics(compiled: dict[str, list[CompiledQuery]], target: str) -> None:
    queries = compiled[target]
    assert len(queries) > 30
    reports = check_kql([q.query for q in queries], target=target)  # type: ignore[arg-type]
    bad = [
        (q.path, q.title, [str(d) for d in r.diagnostics])
        for q, r in zip(queries, reports, strict=True)
        if r.errors
    ]
    assert bad == []


def test_spl_passes_the_lint(compiled: dict[str, list[CompiledQuery]]) -> None:
    queries = compiled["splunk"]
    assert len(queries) > 30
    bad = [(q.path, q.title, lint_spl(q.query)) for q in queries if lint_spl(q.query)]
    assert bad == []


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_kql_bans(compiled: dict[str, list[CompiledQuery]], target: str) -> None:
    for q in compiled[target]:
        # a dotted field quoted as a string literal is a constant, never a column; a bracketed
        # identifier ['a.b'] IS a column name (the KQL quoting of names with dots, used for the
        # group-by columns of correlations: learn.microsoft.com/kusto/query/schema-entities/entity-names)
        assert not re.search(r"(?<!\[)'[A-Za-z_]\w*(\.\w+)+'(?!\])", q.query), q.title
        # Kusto strings are never null: isnull() only on a non-string column of the rule's table
        for arg in re.findall(r"isnull\((\w+)\)", q.query):
            assert types_of(target, q)[arg] != "string", (q.title, arg)
        # keywords are `* has`, never a bare `"a" or "b"`
        assert not re.search(r'(^|\(|where )"[^"]*" or "', q.query), q.title
        # IPv6 networks never go to ipv4_is_in_range
        for net in re.findall(r'ipv4_is_in_range\([^,]+, "([^"]+)"\)', q.query):
            assert ":" not in net, q.title
