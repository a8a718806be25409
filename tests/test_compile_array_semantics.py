"""KQL array fields have any-element semantics: the condition compiled against the "\\nA\\nB\\n"
alias (contains / matches regex, evaluated here with the KQL semantics: case-insensitive
`contains`, RE2-compatible regex) is true exactly when some element matches the Sigma value."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from test_compile_constructs import M365, compile_inline

WHERE = re.compile(r'^\| where Folders_Path (contains|matches regex) ("(?:[^"\\]|\\.)*")$')


def kql_literal(tok: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), tok[1:-1]
    )


def sigma_matches(element: str, pattern: str) -> bool:
    """Sigma string semantics: case-insensitive, `*` any run of characters, `?` one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, element, flags=re.I | re.S) is not None


def compiled_predicate(modifier: str, value: str) -> tuple[str, str]:
    quoted = value.replace("'", "''")
    query = compile_inline(
        M365,
        f"""
        sel:
          Folders.Path{modifier}: '{quoted}'
        condition: sel
    """,
        "sentinel",
        Path(tempfile.mkdtemp()),
    )
    last = query.splitlines()[-1]
    m = WHERE.match(last)
    assert m, last
    return m.group(1), kql_literal(m.group(2))


def evaluate(op: str, operand: str, elements: list[str]) -> bool:
    joined = "\n" + "\n".join(elements) + "\n"
    if op == "contains":
        return operand.lower() in joined.lower()
    assert operand.startswith("(?i)")
    return re.search(operand[4:], joined, flags=re.I) is not None


element = st.text(alphabet="ab.*", max_size=4)
value = st.text(alphabet="ab.", min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(element, max_size=3),
    value,
    st.sampled_from(["", "|contains", "|startswith", "|endswith", "mid"]),
)
def test_any_element(elements: list[str], text: str, modifier: str) -> None:
    if modifier == "mid":  # a wildcard inside the value: compiled to a regex
        pattern, modifier = text[:1] + "*" + text[1:] + "a", ""
        sigma_value = pattern
    else:
        pattern = {"": text, "|contains": f"*{text}*", "|startswith": f"{text}*", "|endswith": f"*{text}"}[
            modifier
        ]
        sigma_value = text
    op, operand = compiled_predicate(modifier, sigma_value)
    expected = any(sigma_matches(e, pattern) for e in elements)
    assert evaluate(op, operand, elements) == expected, (elements, pattern, op, operand)


def test_examples_both_ways() -> None:
    op, operand = compiled_predicate("|startswith", "ab")
    assert evaluate(op, operand, ["x", "ABc"]) is True
    assert evaluate(op, operand, ["xab", "b"]) is False  # "ab" inside an element is not a prefix
    op, operand = compiled_predicate("", "a*b")
    assert evaluate(op, operand, ["a", "b"]) is False  # a match may not span two elements
    assert evaluate(op, operand, ["q", "a.b"]) is True
