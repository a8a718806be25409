"""`stormpack fmt`: canonical key order and indentation, comments kept, meaning unchanged,
idempotent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cli_support import run
from stormpack.validate.rulefmt import FormatError, format_text

REPO = Path(__file__).resolve().parent.parent
PACK_RULES = sorted((Path(__file__).parent / "data" / "validate" / "pack" / "rules").rglob("*.yml"))
REAL_RULES = sorted((REPO / "rules").rglob("*.yml"))

MESSY = """\
# header comment: kept
title: Messy Rule
level: high   # trailing comment on level
id: 0b6a0c39-1a8e-4c55-9f0a-6d0f1b5e2a11
x_custom: 5
description: >-
    Observed in Storm-0558: folded
    text here.
tags:
    - attack.collection   # tactic comment
    - attack.t1114.002
# comment before logsource
logsource:
    product: m365
    service: audit
detection:
    selection:
        Operation: 'MailItemsAccessed'
        LogonType:
            - 0
            - ~
    condition: selection
status: experimental
references:
- https://example.com/a
author: me
date: 2026-11-01
falsepositives:
    - "Something"
"""


def test_messy_rule_gets_canonical_order_and_indentation() -> None:
    out = format_text(MESSY)
    assert list(yaml.safe_load(out)) == [
        "title", "id", "status", "description", "references", "author", "date", "tags",
        "logsource", "detection", "falsepositives", "level", "x_custom",
    ]
    assert yaml.safe_load(out) == yaml.safe_load(MESSY)
    for comment in re.findall(r"#.*", MESSY):
        assert comment in out
    indents = {len(line) - len(line.lstrip(" ")) for line in out.splitlines() if line.strip()}
    assert indents <= {0, 2, 4, 6}  # 2-space steps everywhere (MESSY used 4)
    assert "    Operation: 'MailItemsAccessed'" in out  # quoting kept
    assert "description: >-\n  Observed in Storm-0558: folded\n  text here.\n" in out
    assert "      - null\n" in out
    assert format_text(out) == out


@pytest.mark.parametrize("path", PACK_RULES + REAL_RULES, ids=lambda p: p.name)
def test_fmt_is_idempotent_and_meaning_preserving(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert yaml.safe_load(once) == yaml.safe_load(text)
    assert format_text(once) == once


@given(st.permutations(list(yaml.safe_load(PACK_RULES[0].read_text(encoding="utf-8")))))
def test_any_key_order_formats_to_the_same_text(order: list[str]) -> None:
    rule = yaml.safe_load(PACK_RULES[0].read_text(encoding="utf-8"))
    shuffled = yaml.safe_dump({k: rule[k] for k in order}, sort_keys=False, indent=4)
    reference = format_text(PACK_RULES[0].read_text(encoding="utf-8"))
    out = format_text(shuffled)
    assert yaml.safe_load(out) == rule
    assert list(yaml.safe_load(out)) == list(yaml.safe_load(reference))


def test_check_reports_without_writing_then_fmt_rewrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "rule.yml"
    f.write_text(MESSY, encoding="utf-8")
    assert run("fmt", "--check", str(tmp_path)) == 1
    assert f.read_text(encoding="utf-8") == MESSY
    assert f"would reformat {f}" in capsys.readouterr().out
    assert run("fmt", str(tmp_path)) == 0
    assert f.read_text(encoding="utf-8") == format_text(MESSY)
    assert run("fmt", "--check", str(f)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: a\n---\ntitle: b\n", "exactly one YAML mapping"),
        ("- a\n- b\n", "exactly one YAML mapping"),
        ("title: a\ntitle: b\n", "duplicate key"),
    ],
)
def test_fmt_refuses_what_it_cannot_format_safely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    f = tmp_path / "rule.yml"
    f.write_text(text, encoding="utf-8")
    assert run("fmt", str(f)) == 2
    assert message in capsys.readouterr().err
    assert f.read_text(encoding="utf-8") == text
    with pytest.raises(FormatError):
        format_text(text)


def test_fmt_empty_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("fmt", str(tmp_path)) == 2
    assert "holds no rule files" in capsys.readouterr().err
