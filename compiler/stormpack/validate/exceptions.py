"""Accepted findings as data: ``data/validation_exceptions.yml``, keyed by rule id + check, each
with a reason. An exception that no longer reproduces its finding is itself an error
(``stormpack.stale_exception``), as in Azure-Sentinel's self-expiring skip lists: the list
only ever shrinks to what is still true."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import Location, StormpackError
from ..yamlio import YamlError, load_yaml_text, read_text_file
from .findings import Finding, Report, display_path

DEFAULT_EXCEPTIONS = "data/validation_exceptions.yml"


class ExceptionsFileError(StormpackError):
    """The exceptions file is malformed."""


@dataclass(frozen=True)
class ValidationException:
    rule: str
    check: str
    reason: str
    path: str
    line: int


def default_exceptions_path() -> Path:
    return Path(str(resources.files("stormpack").joinpath(DEFAULT_EXCEPTIONS)))


def load_exceptions(path: Path, known_checks: set[str]) -> list[ValidationException]:
    disp = display_path(path)
    try:
        text = read_text_file(path)
        data = load_yaml_text(text, disp, allow_aliases=False)
    except YamlError as exc:
        raise ExceptionsFileError(exc.message, exc.location) from None
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"exceptions"} or not isinstance(data["exceptions"], list):
        raise ExceptionsFileError(
            "an exceptions file is a mapping with one key, 'exceptions', holding a list", Location(disp, 1)
        )
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    item_lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == "exceptions" and isinstance(v, yaml.SequenceNode):
                item_lines = [item.start_mark.line + 1 for item in v.value]
    out: list[ValidationException] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(data["exceptions"]):
        line = item_lines[i] if i < len(item_lines) else 1
        loc = Location(disp, line)
        if not isinstance(entry, dict) or set(entry) != {"rule", "check", "reason"}:
            raise ExceptionsFileError("each exception is a mapping of exactly: rule, check, reason", loc)
        rule, check, reason = (str(entry["rule"]), str(entry["check"]), entry["reason"])
        if not isinstance(reason, str) or not reason.strip():
            raise ExceptionsFileError(f"exception for rule {rule} / {check} needs a reason", loc)
        if check not in known_checks:
            raise ExceptionsFileError(
                f"unknown or disabled check '{check}' (known: see docs/validation.md)", loc
            )
        if (rule, check) in seen:
            raise ExceptionsFileError(
                f"duplicate exception for rule {rule} / {check} (also at line {seen[(rule, check)]})", loc
            )
        seen[(rule, check)] = line
        out.append(ValidationException(rule, check, reason.strip(), disp, line))
    return out


def apply_exceptions(report: Report, exceptions: Iterable[ValidationException], rule_ids: set[str]) -> None:
    """Move excepted findings to ``report.suppressed``; add a finding for every exception of a
    validated rule that matched nothing (stale). Exceptions of rules outside this run are left alone."""
    excs = list(exceptions)
    index = {(e.rule, e.check): e for e in excs}
    used: set[tuple[str, str]] = set()
    kept: list[Finding] = []
    for f in report.findings:
        key = (f.rule_id or "", f.check)
        exc = index.get(key)
        if exc is not None:
            used.add(key)
            report.suppressed.append((f, exc.reason))
        else:
            kept.append(f)
    report.findings = kept
    for e in excs:
        if (e.rule, e.check) not in used and e.rule in rule_ids:
            report.findings.append(
                Finding(
                    "stormpack.stale_exception",
                    f"exception for rule {e.rule} / {e.check} no longer reproduces its finding: remove it",
                    e.path,
                    e.line,
                    rule_id=e.rule,
                )
            )
