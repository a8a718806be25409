"""``stormpack fmt``: rewrite a rule file into the canonical key order (conventions.RULE_KEYS /
CORRELATION_KEYS, extra keys last in their own order) and indentation (2-space mappings,
sequences indented ``  - item``), keeping comments, quoting and block-scalar styles.

Meaning is never changed: the formatted text is parsed again and must equal the original
document, otherwise the file is left alone and an error is raised.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelError

from ..errors import FormatError as FormatError
from ..errors import Location
from ..ruleset import resolve_rule_paths
from ..yamlio import YamlError, load_yaml_text, read_text_file
from .conventions import canonical_keys


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines
    y.indent(mapping=2, sequence=4, offset=2)
    y.representer.add_representer(type(None), _represent_none)
    return y


def _represent_none(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")  # not an empty value


def canonical_order(keys: Sequence[str], is_correlation: bool) -> list[str]:
    canon = canonical_keys({"correlation": None} if is_correlation else {})
    known = sorted((k for k in keys if k in canon), key=canon.index)
    return known + [k for k in keys if k not in canon]


def format_text(text: str, source: str = "<text>") -> str:
    """The canonical form of one rule file's text."""
    try:
        original = load_yaml_text(text, source, allow_aliases=False, multi=True)
    except YamlError as exc:
        raise FormatError(exc.message, exc.location) from None
    docs = [d for d in original if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise FormatError(
            "a rule file must hold exactly one YAML mapping to be formatted", Location(source, 1)
        )
    y = _yaml()
    try:
        data = y.load(text)
    except RuamelError as exc:
        raise FormatError(f"malformed YAML: {exc}", Location(source)) from None
    if not isinstance(data, CommentedMap):
        raise FormatError("a rule file must hold one YAML mapping", Location(source, 1))
    for key in canonical_order([str(k) for k in data], "correlation" in data):
        data.move_to_end(key)
    buf = io.StringIO()
    y.dump(data, buf)
    out = buf.getvalue()
    out = "\n".join(line.rstrip() for line in out.splitlines()).strip("\n") + "\n"
    _same_meaning(docs[0], out, source)
    return out


def _same_meaning(before: Any, after_text: str, source: str) -> None:
    try:
        after = load_yaml_text(after_text, source, allow_aliases=False)
    except YamlError as exc:
        raise FormatError(
            f"formatting would produce invalid YAML ({exc.message}); file left as is", Location(source)
        ) from None
    if after != before:
        raise FormatError("formatting would change the rule's meaning; file left as is", Location(source))


@dataclass(frozen=True)
class FmtResult:
    path: Path
    changed: bool


def format_paths(paths: Sequence[str | Path], *, check: bool) -> list[FmtResult]:
    """Format (or with ``check`` only compare) every rule file under ``paths``."""
    results = []
    for path in resolve_rule_paths(paths):
        try:
            text = read_text_file(path)
        except YamlError as exc:
            raise FormatError(exc.message, exc.location) from None
        formatted = format_text(text, str(path))
        changed = formatted != text
        if changed and not check:
            path.write_text(formatted, encoding="utf-8")
        results.append(FmtResult(path, changed))
    return results
