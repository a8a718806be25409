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

from ..errors import ExceptionsFileError as ExceptionsFileError
from ..errors import Location
from ..yamlio import YamlError, load_yaml_text, read_text_file
from .findings import Finding, Report, display_path

DEFAULT_EXCEPTIONS = "data/validation_exceptions.yml"


@dataclass(frozen=True)
class ValidationException:
    rule: str
    check: str
    reason: str
    path: str
    line: int
    field: str | None = None  # only findings about this detection field (stormpack.element_name)

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.rule, self.check, self.field)

    def describe(self) -> str:
        return f"{self.rule} / {self.check}" + (f" / {self.field}" if self.field else "")


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
    seen: dict[tuple[str, str, str | None], int] = {}
    for i, entry in enumerate(data["exceptions"]):
        line = item_lines[i] if i < len(item_lines) else 1
        loc = Location(disp, line)
        if not isinstance(entry, dict) or set(entry) - {"field"} != {"rule", "check", "reason"}:
            raise ExceptionsFileError(
                "each exception is a mapping of exactly: rule, check, reason (and field, for "
                "stormpack.element_name)", loc)
        rule, check, reason = (str(entry["rule"]), str(entry["check"]), entry["reason"])
        fld = entry.get("field")
        if "field" in entry and (check != "stormpack.element_name" or not isinstance(fld, str) or not fld):
            raise ExceptionsFileError(
                "field names the detection field of a stormpack.element_name exception", loc)
        if not isinstance(reason, str) or not reason.strip():
            raise ExceptionsFileError(f"exception for rule {rule} / {check} needs a reason", loc)
        if check not in known_checks:
            raise ExceptionsFileError(
                f"unknown or disabled check '{check}' (known: see docs/validation.md)", loc
            )
        item = ValidationException(rule, check, reason.strip(), disp, line, fld)
        if item.key in seen:
            raise ExceptionsFileError(
                f"duplicate exception for rule {item.describe()} (also at line {seen[item.key]})", loc
            )
        seen[item.key] = line
        out.append(item)
    return out


def apply_exceptions(report: Report, exceptions: Iterable[ValidationException], rule_ids: set[str]) -> None:
    """Move excepted findings to ``report.suppressed``; add a finding for every exception of a
    validated rule that matched nothing (stale). Exceptions of rules outside this run are left alone."""
    excs = list(exceptions)
    index = {e.key: e for e in excs}
    used: set[tuple[str, str, str | None]] = set()
    kept: list[Finding] = []
    for f in report.findings:
        # an exception scoped to the finding's field first, else one for the whole check
        exc = index.get((f.rule_id or "", f.check, f.field)) if f.field else None
        if exc is None:
            exc = index.get((f.rule_id or "", f.check, None))
        if exc is not None:
            used.add(exc.key)
            report.suppressed.append((f, exc.reason))
        else:
            kept.append(f)
    report.findings = kept
    for e in excs:
        if e.key not in used and e.rule in rule_ids:
            report.findings.append(
                Finding(
                    "stormpack.stale_exception",
                    f"exception for rule {e.describe()} no longer reproduces its finding: remove it",
                    e.path,
                    e.line,
                    rule_id=e.rule,
                )
            )
