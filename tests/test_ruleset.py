"""Rule loading: fresh objects, dependency order, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.correlations import SigmaCorrelationRule

from stormpack.errors import RuleLoadError, ValuesError
from stormpack.ruleset import find_line, load_ruleset, load_values, resolve_rule_paths

BASE = """\
title: Base {n}
id: {uuid}
name: base_{n}
status: test
logsource: {{product: m365, service: audit}}
detection:
  sel: {{Operation: MailItemsAccessed}}
  condition: sel
level: low
"""

CORR = """\
title: Correlation {n}
id: {uuid}
status: test
correlation:
  type: event_count
  rules: [{refs}]
  group-by: [UserId]
  timespan: 1h
  condition: {{gte: 5}}
level: medium
"""

UUIDS = [
    "0b9f5a76-5b0e-4f0a-9e0e-000000000001",
    "0b9f5a76-5b0e-4f0a-9e0e-000000000002",
    "0b9f5a76-5b0e-4f0a-9e0e-000000000003",
    "0b9f5a76-5b0e-4f0a-9e0e-000000000004",
]


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def test_correlations_come_after_the_rules_they_reference(tmp_path: Path) -> None:
    # File names sort the correlations first; pySigma 1.5.1's sorted() would keep a partial order.
    write(tmp_path, "a_corr2.yml", CORR.format(n=2, uuid=UUIDS[0], refs="base_2"))
    write(tmp_path, "a_corr1.yml", CORR.format(n=1, uuid=UUIDS[1], refs="base_1, base_2"))
    write(tmp_path, "z_base1.yml", BASE.format(n=1, uuid=UUIDS[2]))
    write(tmp_path, "z_base2.yml", BASE.format(n=2, uuid=UUIDS[3]))
    rs = load_ruleset([tmp_path])
    order = [lr.title for lr in rs]
    for lr in rs:
        if isinstance(lr.rule, SigmaCorrelationRule):
            for ref in rs.referenced_by(lr):
                assert order.index(ref.title) < order.index(lr.title)
    assert len(rs) == 4
    assert [r.title for r in rs.collection.rules] == order


def test_each_load_gives_fresh_rule_objects(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", BASE.format(n=1, uuid=UUIDS[0]))
    first = load_ruleset([tmp_path]).rules[0].rule
    second = load_ruleset([tmp_path]).rules[0].rule
    assert first is not second
    assert first.detection is not second.detection


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yml", "title: x\ndetection:\n  sel: [a, b\n  condition: sel\n")
    with pytest.raises(RuleLoadError) as exc:
        load_ruleset([p])
    assert exc.value.location is not None
    assert str(exc.value.location.path) == str(p)
    assert exc.value.location.line is not None
    assert "malformed YAML" in str(exc.value)


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        # a duplicate key is an error, not last-one-wins
        ("  condition: sel\n", "  sel: {Operation: Send}\n  condition: sel\n", "duplicate key 'sel'", 8),
        ("{Operation: MailItemsAccessed}", "{Operation|containz: x}", "containz", 7),
    ],
    ids=["duplicate_key", "unknown_modifier"],
)
def test_load_error_is_reported_with_its_line(tmp_path: Path, old: str, new: str, message: str,
                                              line: int) -> None:
    text = BASE.format(n=1, uuid=UUIDS[0])
    assert old in text
    p = write(tmp_path, "broken.yml", text.replace(old, new))
    with pytest.raises(RuleLoadError) as exc:
        load_ruleset([p])
    assert message in str(exc.value)
    assert exc.value.location is not None and exc.value.location.line == line


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\ntitle: t\n'
    p = write(tmp_path, "bomb.yml", bomb)
    with pytest.raises(RuleLoadError) as exc:
        load_ruleset([p])
    assert "aliases" in str(exc.value)


def test_not_utf8_and_not_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yml"
    p.write_bytes("title: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RuleLoadError, match="not UTF-8"):
        load_ruleset([p])
    q = write(tmp_path, "list.yml", "- a\n- b\n")
    with pytest.raises(RuleLoadError, match="must be a YAML mapping"):
        load_ruleset([q])


def test_dangling_correlation_reference_and_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path, "c.yml", CORR.format(n=1, uuid=UUIDS[0], refs="nope"))
    with pytest.raises(RuleLoadError, match="nope"):
        load_ruleset([tmp_path])
    d = tmp_path / "dups"
    write(d, "x.yml", BASE.format(n=1, uuid=UUIDS[1]))
    write(d, "y.yml", BASE.format(n=2, uuid=UUIDS[1]))
    with pytest.raises(RuleLoadError, match="duplicate rule id"):
        load_ruleset([d])


def test_paths_empty_missing_and_dirs(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="no rule paths"):
        resolve_rule_paths([])
    with pytest.raises(RuleLoadError, match="no such file"):
        resolve_rule_paths([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuleLoadError, match="holds no rule files"):
        resolve_rule_paths([tmp_path / "empty"])
    a = write(tmp_path, "r/a.yml", "x: 1\n")
    write(tmp_path, "r/notes.txt", "x")
    assert resolve_rule_paths([tmp_path / "r", a]) == [a]


def test_values_files_and_directories(tmp_path: Path) -> None:
    write(tmp_path, "v/a.yml", "mail_ids:\n  - one\n  - two\nsingle: x\n")
    write(tmp_path, "v/b.yml", "org_domains: [contoso.com]\n")
    vals = load_values(tmp_path / "v")
    assert vals == {"mail_ids": ["one", "two"], "single": ["x"], "org_domains": ["contoso.com"]}
    write(tmp_path, "v/c.yml", "\n\norg_domains: [fabrikam.com]\n")
    with pytest.raises(ValuesError) as exc:
        load_values(tmp_path / "v")
    assert exc.value.location is not None and exc.value.location.line == 3
    bad = write(tmp_path, "bad.yml", "empty: []\n")
    with pytest.raises(ValuesError, match="non-empty list"):
        load_values(bad)
    assert load_values(None) == {}


def test_find_line() -> None:
    assert find_line("a\nb: c\nd", "b:") == 2
    assert find_line("a", "zzz") is None
