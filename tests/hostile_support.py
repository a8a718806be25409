"""Helpers of the hostile-input tests (tests/test_hostile_*.py): rule files with arbitrary literal
values, compiled by the real compiler, and the expected shape of what comes out.

A rule value is written so that pySigma reads back exactly the intended literal text
(:func:`sigma_literal`); every compiled query is then decoded with independent tools (Microsoft's
Kusto.Language parser, the SPL decoding of :mod:`stormpack.querycheck.spl`) and compared with
that text, never with a hard-coded query.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stormpack.compiler import TARGETS, CompileResult, compile_rules
from stormpack.querycheck import (
    Comparison,
    KqlReport,
    LogicLeaf,
    SearchTerm,
    SearchValue,
    decode_spl_quoted,
    lint_spl,
    split_commands,
    split_search_terms,
)

FIELD = "ClientInfoString"  # a plain string field of m365/audit on every target
LOGSOURCE = {"product": "m365", "service": "audit"}
KINDS = ("eq", "contains", "startswith", "endswith", "re", "list", "keyword")
KQL_OP = {"eq": "=~", "contains": "contains", "startswith": "startswith", "endswith": "endswith",
          "re": "matches regex", "list": "in~", "keyword": "has"}
MODIFIER = {"eq": "", "contains": "|contains", "startswith": "|startswith", "endswith": "|endswith",
            "re": "|re", "list": ""}


def sigma_literal(text: str) -> str:
    """The Sigma string value that pySigma reads as exactly ``text``: ``\\``, ``*`` and ``?`` are
    escaped with a backslash (Sigma's only escapes); everything else is literal."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@dataclass(frozen=True)
class Case:
    """One generated rule: ``kind`` of detection over ``values`` (one value, or a list)."""

    index: int
    kind: str
    values: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"hostile {self.index:05d} {self.kind}"

    @property
    def value(self) -> str:
        return self.values[0]

    def detection(self) -> dict[str, Any]:
        if self.kind == "keyword":
            return {"keywords": [sigma_literal(self.value)], "condition": "keywords"}
        if self.kind == "re":  # a regex is written as the pattern itself, no Sigma escaping
            return {"sel": {FIELD + "|re": self.value}, "condition": "sel"}
        if self.kind == "list":
            return {"sel": {FIELD: [sigma_literal(v) for v in self.values]}, "condition": "sel"}
        return {"sel": {FIELD + MODIFIER[self.kind]: sigma_literal(self.value)}, "condition": "sel"}

    def document(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "id": f"6f0c6c39-0000-4000-8000-{self.index:012d}",
            "status": "test",
            "logsource": dict(LOGSOURCE),
            "detection": self.detection(),
            "level": "low",
        }


# characters a YAML 1.1 file cannot hold raw (PyYAML's printable set), plus the line breaks it
# folds inside a quoted scalar (NEL, LS, PS): written as \\uXXXX escapes
_YAML_UNSAFE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def rule_file_text(document: dict[str, Any]) -> str:
    """The rule as JSON (which YAML reads): every string in double quotes with escapes, so the
    file holds exactly the values (PyYAML's own dumper writes NEL raw, and reads it back as a
    space)."""
    text = json.dumps(document, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def write_cases(directory: Path, cases: Sequence[Case]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (directory / f"r{case.index:05d}.yml").write_text(rule_file_text(case.document()), encoding="utf-8")


def compile_cases(directory: Path) -> dict[str, CompileResult]:
    return {target: compile_rules([directory], target, {}) for target in TARGETS}


def by_title(result: CompileResult) -> tuple[dict[str, str], dict[str, str]]:
    """(title -> query, title -> error message) of one target's result."""
    queries = {q.title: q.query for q in result.queries}
    errors = {lr.title: why for lr, why in result.skipped}
    assert not set(queries) & set(errors)
    return queries, errors


# ------------------------------------------------------------------------------------ KQL shape


def kql_operators(report: KqlReport) -> list[str]:
    (stmt,) = report.statements
    return [op.name for op in stmt.operators]


def kql_single_comparison(report: KqlReport, baseline_operators: Sequence[str]) -> Comparison:
    """The one comparison of a query that must be the baseline pipeline plus one ``where`` with
    exactly one leaf: no extra statement, operator or boolean connective."""
    assert report.ok, [str(d) for d in report.errors]
    assert kql_operators(report) == [*baseline_operators, "where"], report.query
    top = [f for f in report.filters if not f.nested]
    assert len(top) == 1 and len(report.filters) == 1, report.query
    (flt,) = top
    assert flt.logic == LogicLeaf(0), report.query
    (cmp,) = flt.comparisons
    return cmp


def kql_literal_values(cmp: Comparison) -> list[str]:
    values = []
    for operand in cmp.right:
        assert operand.literal and operand.type == "string", cmp.text
        assert operand.value is not None
        values.append(operand.value)
    return values


# ------------------------------------------------------------------------------------ SPL shape

_REGEX_COMMAND = re.compile(r"regex\s+(?P<field>[\w.{}]+)\s*=\s*(?P<value>\".*\")\Z", re.DOTALL)


@dataclass(frozen=True)
class SplShape:
    """What a compiled single-condition search decodes to."""

    terms: tuple[SearchTerm, ...]  # search terms after the base search
    regex: tuple[str, str] | None  # (field, decoded pattern) of a trailing `| regex`


def spl_shape(query: str, base: str) -> SplShape:
    """Decode ``query``: the base search, then either search terms or `` *`` and one ``| regex``."""
    assert lint_spl(query) == [], (query, lint_spl(query))
    commands = split_commands(query)
    first = commands[0]
    assert first.name is None and first.text.startswith(base + " "), query
    terms = tuple(split_search_terms(first.text[len(base) + 1:]))
    if len(commands) == 1:
        return SplShape(terms, None)
    assert len(commands) == 2, query
    assert [(t.kind, t.field, [v.value for v in t.values]) for t in terms] == [("term", None, ["*"])], query
    m = _REGEX_COMMAND.match(commands[1].text)
    assert commands[1].name == "regex" and m, query
    return SplShape((), (m.group("field"), decode_spl_quoted(m.group("value"))))


def spl_term_values(shape: SplShape, field: str | None, op: str) -> list[SearchValue]:
    assert shape.regex is None
    (term,) = shape.terms
    assert (term.kind, term.field, term.op if field else None) == ("term", field, op if field else None), term
    return list(term.values)


def spl_expected_pattern(case: Case) -> str:
    """The search-term value (``*`` = wildcard) that expresses ``case`` exactly."""
    v = case.value
    return {"eq": v, "contains": f"*{v}*", "startswith": f"{v}*", "endswith": f"*{v}",
            "keyword": v}[case.kind]


# ------------------------------------------------------------------------------------ matcher


def near_variants(case: Case) -> list[str]:
    """Texts the rule must NOT match: one character short on the side the rule anchors (a
    shorter text can neither equal, contain, start nor end with the value), and a different
    last character for equality."""
    v = case.value
    out = [v[:-1]] if case.kind in ("eq", "contains", "startswith", "keyword", "re") else [v[1:]]
    if case.kind == "eq":
        out.append(v + "\x01")
    return out


def baseline_operators(reports: Mapping[str, KqlReport]) -> list[str]:
    """Operators of the benign baseline query, without its final ``where``."""
    ops = kql_operators(reports["baseline"])
    assert ops[-1] == "where"
    return ops[:-1]


# ------------------------------------------------------------------------------------ hunt CLI

_SUMMARY = re.compile(
    r"summary: (?P<files>[\d,]+) file\(s\), (?P<read>[\d,]+) records read = (?P<evaluated>[\d,]+) evaluated"
    r" \+ (?P<unrecognised>[\d,]+) unrecognised \+ (?P<rejected>[\d,]+) rejected\n"
    r"  matched: (?P<matched>[\d,]+) records \((?P<hits>[\d,]+) hits\)"
)


@dataclass(frozen=True)
class HuntCounts:
    files: int
    read: int
    evaluated: int
    unrecognised: int
    rejected: int
    matched: int
    hits: int


@dataclass(frozen=True)
class HuntRun:
    """What one `stormpack hunt` run printed."""

    exit_code: int
    stdout: str
    stderr: str

    def counts(self) -> HuntCounts:
        """The summary's counts; they must add up to the records read."""
        m = _SUMMARY.search(self.stderr) or _SUMMARY.search(self.stdout)
        assert m, (self.exit_code, self.stderr[-2000:])
        c = HuntCounts(**{k: int(v.replace(",", "")) for k, v in m.groupdict().items()})
        assert c.read == c.evaluated + c.unrecognised + c.rejected, c
        return c

    def hits(self) -> list[dict[str, Any]]:
        """The single-event hits of a ``--format jsonl`` run, in output order."""
        out = []
        for line in self.stdout.splitlines():
            obj = json.loads(line)
            assert isinstance(obj, dict) and "rule_id" in obj, line
            if "event" in obj:
                out.append(obj)
        return out


def hunt_cli(rules: Path, values: Path, *args: Path | str) -> HuntRun:
    """Run the real entry point (`stormpack.cli.main`, which turns a StormpackError into one line
    and exit 2) in-process with captured output. A Path argument is an ``--events`` input; a
    string is passed as is; ``--format jsonl`` unless a format is given. Any exception other than
    the command's own exit fails the test with its traceback."""
    from click.testing import CliRunner

    from stormpack.cli import main

    argv = ["hunt", "--rules", str(rules), "--values", str(values)]
    for a in args:
        argv += ["--events", str(a)] if isinstance(a, Path) else [a]
    if "--format" not in argv:
        argv += ["--format", "jsonl"]
    runner = CliRunner()
    with runner.isolation() as streams:
        code = 0
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return HuntRun(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
