"""Hostile rule, fixture and values files (issue 6, part 2): the loaders fail with their own
StormpackError naming the file (RuleLoadError, FixtureError, ValuesError), never with another
exception, a hang or an unbounded allocation. Rules that do load must then compile for every
target and build into the matcher, or fail with a StormpackError: a rule is code-like input.

Single hostile YAML constructs (alias bomb, duplicate keys, latin-1, NUL, not-a-mapping) have
example tests in tests/test_ruleset.py; this file adds the property-based side and the bounds.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stormpack.compiler import TARGETS, compile_rules
from stormpack.errors import FixtureError, RuleLoadError, StormpackError, ValuesError
from stormpack.fixtures import load_fixture_case
from stormpack.matcher import Engine
from stormpack.ruleset import load_ruleset, load_values
from stormpack.yamlio import MAX_YAML_BYTES

_T = TypeVar("_T")

pytestmark = pytest.mark.fuzz
# a rule example loads, builds and compiles for three targets (~0.2 s): fewer examples than the
# profile's default under `make test`, a thousand under `make fuzz`
RULE_EXAMPLES = max(20, (settings().max_examples or 100) // 5)

RULE: dict[str, Any] = {
    "title": "Hostile base rule",
    "id": "6f0c6c39-0000-4000-8000-00000000beef",
    "status": "test",
    "description": "base of the mutation fuzzing",
    "author": "stormpack tests",
    "date": "2026-11-24",
    "references": ["https://example.invalid/"],
    "tags": ["attack.collection", "attack.t1114.002"],
    "logsource": {"product": "m365", "service": "audit"},
    "detection": {
        "sel": {"Operation": "MailItemsAccessed", "ClientInfoString|contains": "REST"},
        "filter": {"UserId|endswith": ["@contoso.com", "@fabrikam.com"]},
        "condition": "sel and not filter",
    },
    "fields": ["UserId", "ClientIP"],
    "falsepositives": ["none"],
    "level": "high",
}

CASE: dict[str, Any] = {
    "description": "base of the mutation fuzzing",
    "expect": "match",
    "provenance": "synthetic",
    "events": [{"CreationTime": "2023-06-14T02:41:07", "RecordType": 50, "Operation": "MailItemsAccessed"}],
    "match": [0],
}

yaml_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
    | st.dates() | st.datetimes() | st.sampled_from(["", "*", "%p%", "|", "1 of sel*", "sel and", "()", "re"])
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12) | st.integers(0, 9), inner, max_size=4),
    max_leaves=12,
)
FIELD_KEYS = st.sampled_from([
    "Operation", "ClientInfoString|contains|all", "ClientIP|cidr", "UserId|re", "UserId|re|i|m|s",
    "UserId|base64offset|contains", "UserId|windash|contains", "UserId|exists", "UserId|expand",
    "UserId|fieldref", "RecordType|gt", "RecordType|lte", "UserId|startswith|cased", "UserId|utf16le|base64",
    "Parameters.ForwardTo|contains", "Nonexistent.Field", "UserId|", "|contains", "UserId|nosuchmodifier",
])


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], extra_keys: st.SearchStrategy[Any]) -> Any:
    """``base`` with 1-4 edits: a value replaced by anything (wrong types everywhere), a key
    deleted, or a key added; sometimes the whole document replaced."""
    if draw(st.integers(0, 19)) == 0:
        return draw(yaml_values)
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(yaml_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(extra_keys)] = draw(yaml_values)
    return doc


def _write_yaml(directory: Path, name: str, doc: Any) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _loaded_or_located(load: Callable[[Path], _T], path: Path, error: type[StormpackError],
                       located: Callable[[str], bool]) -> _T | None:
    """``load(path)``, or None when it raises ``error`` whose location's path ``located`` admits."""
    try:
        return load(path)
    except error as exc:
        assert exc.location is not None and located(str(exc.location.path)), str(exc)
        return None


def _rule_outcome(path: Path) -> None:
    """Load, then build into the matcher and compile for every target: each step either works or
    raises a StormpackError that names the file."""
    ruleset = _loaded_or_located(lambda p: load_ruleset([p]), path, RuleLoadError,
                                 lambda at: Path(at) == path)
    if ruleset is None:
        return
    try:
        Engine.build(ruleset, {})
    except StormpackError as exc:
        assert str(path) in str(exc), str(exc)
    for target in TARGETS:
        result = compile_rules([path], target, {})
        for err in result.errors:
            assert str(path) in str(err), str(err)
        assert len(result.queries) + len(result.skipped) + len(result.not_generated) >= 1


@settings(max_examples=RULE_EXAMPLES)
@given(mutated(RULE, FIELD_KEYS | st.text(max_size=10)))
def test_mutated_rules_load_compile_and_build_or_fail_clearly(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        _rule_outcome(_write_yaml(Path(d), "rule.yml", doc))


@settings(max_examples=RULE_EXAMPLES)
@given(st.dictionaries(FIELD_KEYS, yaml_values, min_size=1, max_size=4), yaml_values)
def test_arbitrary_detection_items(selection: dict[str, Any], condition: Any) -> None:
    doc = copy.deepcopy(RULE)
    doc["detection"] = {"sel": selection, "condition": condition if condition is not None else "sel"}
    with tempfile.TemporaryDirectory() as d:
        _rule_outcome(_write_yaml(Path(d), "rule.yml", doc))


@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_as_rule_fixture_and_values_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "input.yml"
        path.write_bytes(data)
        for load, error in ((lambda: load_ruleset([path]), RuleLoadError),
                            (lambda: load_fixture_case(path), FixtureError),
                            (lambda: load_values(path), ValuesError)):
            try:
                load()
            except error as exc:
                assert exc.location is not None and str(exc.location.path) == str(path), str(exc)


# ------------------------------------------------------------------------------------ YAML bounds


def _rule_error(tmp_path: Path, text: str | bytes) -> RuleLoadError:
    path = tmp_path / "hostile.yml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    with pytest.raises(RuleLoadError) as exc:
        load_ruleset([path])
    assert exc.value.location is not None and Path(str(exc.value.location.path)) == path
    return exc.value


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    refs = [", ".join([f"*l{i - 1}"] * 10) for i in range(1, 10)]
    lines = ['l0: &l0 "lol"'] + [f"l{i}: &l{i} [{r}]" for i, r in enumerate(refs, start=1)]
    err = _rule_error(tmp_path, "\n".join(lines) + "\ntitle: bomb\n")  # 10**9 strings if expanded
    assert "aliases" in err.message and err.location is not None and err.location.line == 2


def test_huge_rule_file_is_refused_by_size(tmp_path: Path) -> None:
    filler = "# " + "x" * 1000 + "\n"
    err = _rule_error(tmp_path, "title: big\n" + filler * (MAX_YAML_BYTES // len(filler) + 1))
    assert "limit" in err.message


def test_deep_nesting_is_a_clear_error(tmp_path: Path) -> None:
    err = _rule_error(tmp_path, "title: deep\ndetection: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "YAML" in err.message


def test_tab_indentation_names_the_line(tmp_path: Path) -> None:
    err = _rule_error(tmp_path, "title: t\ndetection:\n\tsel:\n\t\tOperation: x\n")
    assert err.location is not None and err.location.line == 3 and "YAML" in err.message


def test_utf16_and_non_utf8_name_the_line(tmp_path: Path) -> None:
    assert "not UTF-8" in _rule_error(tmp_path, "title: t\n".encode("utf-16")).message
    err = _rule_error(tmp_path, b"title: t\nstatus: test\ndescription: caf\xe9\n")
    assert "not UTF-8" in err.message and err.location is not None and err.location.line == 3


def test_every_document_of_a_multi_document_file_is_checked(tmp_path: Path) -> None:
    good = yaml.safe_dump(RULE, sort_keys=False)
    err = _rule_error(tmp_path, good + "---\n- just\n- a list\n")
    assert "mapping" in err.message
    second = good.replace("00000000beef", "00000000bee2").replace("level: high", "level: high\nlevel: low")
    dup = good + "---\n" + second
    assert "duplicate key 'level'" in _rule_error(tmp_path, dup).message


# ------------------------------------------------------------------------------------ fixtures, values


@given(mutated(CASE, st.sampled_from(["events_file", "groups", "expected", "match", "events"])))
def test_mutated_fixture_cases_load_or_fail_clearly(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = _write_yaml(Path(d), "case.yml", doc)
        case = _loaded_or_located(load_fixture_case, path, FixtureError, lambda at: at.startswith(d))
        if case is None:
            return
        assert case.expect in ("match", "no_match") and case.events
        assert all(isinstance(e.record, dict) for e in case.events)
        json.dumps([e.record for e in case.events])  # records are plain JSON


@pytest.mark.parametrize("name", ["../outside.jsonl", "/etc/passwd", "sub/../../outside.jsonl", "", "."])
def test_events_file_cannot_leave_the_case_folder(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "case_dir"
    folder.mkdir()
    (tmp_path / "outside.jsonl").write_text('{"RecordType": 1}\n', encoding="utf-8")
    doc = {k: v for k, v in CASE.items() if k not in ("events", "match")} | {"events_file": name}
    with pytest.raises(FixtureError) as exc:
        load_fixture_case(_write_yaml(folder, "case.yml", doc))
    assert str(folder / "case.yml") in str(exc.value)


@given(st.binary(max_size=300))
def test_events_file_with_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "events.jsonl").write_bytes(data)
        doc = {k: v for k, v in CASE.items() if k not in ("events", "match")}
        doc["events_file"] = "events.jsonl"
        case = _loaded_or_located(load_fixture_case, _write_yaml(Path(d), "case.yml", doc), FixtureError,
                                  lambda at: at.startswith(d))
        if case is None:
            return
        assert case.events and all(isinstance(e.record, dict) for e in case.events)


@given(mutated({"org_domains": ["contoso.com"], "mail_client_app_ids": ["a", "b"]},
               st.text(max_size=10) | st.integers()))
def test_mutated_values_files_load_or_fail_clearly(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = _write_yaml(Path(d), "values.yml", doc)
        values = _loaded_or_located(load_values, path, ValuesError, lambda at: at == str(path))
        if values is None:
            return
        assert all(isinstance(k, str) and v and all(isinstance(x, str) for x in v) for k, v in values.items())


@pytest.mark.parametrize(("where", "value", "message"), [
    (("detection", "condition"), None, "condition must be text"),
    (("detection", "condition"), False, "condition must be text"),
    (("detection", "condition"), {"sel": 1}, "condition must be text"),
    (("detection", "sel", "UserId|re"), None, "regular expression must be text"),
    (("detection", "sel", "UserId|re"), [5, "x"], "regular expression must be text"),
    (("fields",), ["UserId", None], "fields must be a list"),
    (("fields",), [["UserId"]], "fields must be a list"),
    (("fields",), "UserId", "fields must be a list"),
    (("title",), "x\nsearch = | delete", "title must be one line"),
    (("title",), "x\r\n[evil stanza]", "title must be one line"),
    (("title",), "bell\x07", "title must be one line"),
])
def test_wrong_types_pysigma_accepts_are_load_errors(tmp_path: Path, where: tuple[str, ...], value: Any,
                                                     message: str) -> None:
    """Regression (found by the properties above): pySigma 1.5.1 loads these, then the matcher or
    a backend failed with a TypeError/AttributeError traceback, or (a title with a line break)
    the Splunk app's savedsearches.conf got a stanza header the rule wrote. Now: RuleLoadError
    with the line."""
    doc = copy.deepcopy(RULE)
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = _write_yaml(tmp_path, "rule.yml", doc)
    with pytest.raises(RuleLoadError) as exc:
        load_ruleset([path])
    assert message in exc.value.message and exc.value.location is not None
    assert exc.value.location.line is not None
    line = path.read_text(encoding="utf-8").splitlines()[exc.value.location.line - 1]
    assert line.lstrip().startswith(f"{where[-1]}:")


def test_date_values_in_rules_are_not_a_crash(tmp_path: Path) -> None:
    """YAML turns unquoted dates into date objects: in a detection value they are a clear error
    or a string comparison, never a crash (regression guard for the wrong-types property)."""
    doc = copy.deepcopy(RULE)
    doc["detection"]["sel"]["CreationTime"] = dt.date(2023, 6, 14)
    _rule_outcome(_write_yaml(tmp_path, "rule.yml", doc))


def test_fixture_event_with_an_integer_beyond_64_bits_is_a_fixture_error(tmp_path: Path) -> None:
    """Regression (found by the mutation property): orjson cannot write integers beyond 64 bits,
    and the TypeError escaped as a traceback. Now a FixtureError naming file and event."""
    doc = copy.deepcopy(CASE)
    doc["events"][0]["RecordType"] = 2**64
    path = _write_yaml(tmp_path, "case.yml", doc)
    with pytest.raises(FixtureError) as exc:
        load_fixture_case(path)
    assert "event 0" in exc.value.message and exc.value.location is not None
    assert exc.value.location.path == path and exc.value.location.line is not None
