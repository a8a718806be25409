"""pySigma's validators and the SigmaHQ validators, run offline against vendored data.

Each validator runs on its own so every issue carries the validator's name (the check id that
exceptions and SARIF use). Validators are all enabled except those in :data:`DISABLED`, each
with the reason (also in docs/validation.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaRuleTag
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue, SigmaValidationIssueSeverity

from .findings import Finding, Severity, display_path
from .loading import RuleDoc
from .locate import top_level_key_line, value_line
from .sigmahq_data import configure_offline

DISABLED: dict[str, str] = {
    "d3_fendtag": "needs the MITRE D3FEND ontology, downloaded at run time; no registry package "
    "carries it and the pack uses no d3fend tags",
    "sigmahq_filename_prefix": "SigmaHQ's prefixes (azure_, microsoft365_) differ from the pack's; "
    "superseded by stormpack.filename",
    "sigmahq_correlation_filename_prefix": "SigmaHQ wants correlation_*; the pack names correlations "
    "corr_<log source prefix>; superseded by stormpack.filename",
    "sigmahq_logsource_unknown": "SigmaHQ's taxonomy has no azure/noninteractivesigninlogs; the pack's "
    "taxonomy decides; superseded by stormpack.unknown_logsource",
    "sigmahq_tags_techniques_without_tactics": "demands every tactic of a technique; the pack's convention "
    "is at least one; superseded by stormpack.attack_tactic",
    "identifier_uniqueness": "superseded by stormpack.unique_id, which points at every duplicate",
    "duplicate_title": "superseded by stormpack.unique_title, which points at every duplicate",
    "sigmahq_status_to_high": "depends on today's date (rule age), so a rule would start failing "
    "without any change",
}

_SEVERITY: dict[SigmaValidationIssueSeverity, Severity] = {
    SigmaValidationIssueSeverity.HIGH: "error",
    SigmaValidationIssueSeverity.MEDIUM: "error",
    SigmaValidationIssueSeverity.LOW: "warning",
}


@lru_cache(maxsize=1)
def all_validators() -> dict[str, type[SigmaRuleValidator]]:
    configure_offline()
    found: dict[str, Any] = InstalledSigmaPlugins.autodiscover().validators
    return {k: found[k] for k in sorted(found)}


def enabled_validators() -> dict[str, type[SigmaRuleValidator]]:
    return {k: v for k, v in all_validators().items() if k not in DISABLED}


def known_checks() -> set[str]:
    return set(all_validators())


def pack_attributes() -> frozenset[str]:
    """The custom attributes the pack documents and reads (schedule, ingestion delay, version,
    hunting-only; docs/deploy.md): SigmaHQ's unknown-field check does not report them."""
    from ..artifacts import settings

    return frozenset((settings.ATTR_SENTINEL_FREQUENCY, settings.ATTR_SENTINEL_PERIOD,
                      settings.ATTR_DEFENDER_PERIOD, settings.ATTR_SPLUNK_CRON, settings.ATTR_VERSION,
                      settings.ATTR_INGESTION_DELAY, settings.ATTR_HUNTING_ONLY))


def _without_pack_attributes(issue: SigmaValidationIssue) -> SigmaValidationIssue | None:
    """A SigmaHQ unknown-field issue less the pack's own attributes (None: nothing left)."""
    names = getattr(issue, "fieldname", None)
    if not isinstance(names, list):
        return issue
    rest = [n for n in names if n not in pack_attributes()]
    if not rest:
        return None
    return dataclasses.replace(issue, **{"fieldname": rest})


def run_validators(docs: Sequence[RuleDoc]) -> list[Finding]:
    configure_offline()
    by_rule = {id(d.rule): d for d in docs if d.rule is not None}
    out: list[Finding] = []
    for name, cls in enabled_validators().items():
        validator = cls()
        issues: list[SigmaValidationIssue] = []
        for d in docs:
            if d.rule is not None:
                issues.extend(validator.validate(d.rule))
        issues.extend(validator.finalize())
        if name == "sigmahq_unknown_field":
            issues = [i for i in map(_without_pack_attributes, issues) if i is not None]
        for issue in issues:
            out.extend(_to_findings(name, issue, by_rule))
    return out


def _detail(issue: SigmaValidationIssue) -> list[str]:
    parts = []
    for f in dataclasses.fields(issue):
        if f.name in ("rules", "severity", "description"):
            continue
        parts.append(_text(getattr(issue, f.name)))
    return [p for p in parts if p]


def _text(v: object) -> str:
    if isinstance(v, SigmaRuleTag):
        return f"{v.namespace}.{v.name}"
    if isinstance(v, (list, tuple, set)):
        return ", ".join(_text(x) for x in v)
    return "" if v is None else str(v)


def _line(doc: RuleDoc, details: list[str], name: str) -> int | None:
    for d in details:
        for piece in [d, *d.split(", ")]:
            if len(piece) >= 3:
                line = value_line(doc.text, piece)
                if line:
                    return line
    for key, words in (
        ("tags", ("tag",)),
        ("title", ("title",)),
        ("date", ("date", "modified")),
        ("references", ("link", "reference")),
        ("falsepositives", ("falsepositive",)),
        ("description", ("description",)),
        ("status", ("status",)),
        ("level", ("level",)),
        ("detection", ("condition", "detection", "modifier", "field", "wildcard")),
        ("author", ("author",)),
        ("correlation", ("correlation",)),
    ):
        if any(w in name for w in words):
            line = top_level_key_line(doc.text, key)
            if line:
                return line
    return 1


def _to_findings(name: str, issue: SigmaValidationIssue, by_rule: dict[int, RuleDoc]) -> list[Finding]:
    details = _detail(issue)
    msg = issue.description.strip() + (f" ({'; '.join(details)})" if details else "")
    sev = _SEVERITY.get(issue.severity, "error")
    out = []
    for rule in issue.rules:
        doc = by_rule.get(id(rule))
        if doc is None:
            continue
        out.append(Finding(name, msg, display_path(doc.path), _line(doc, details, name), sev, doc.id))
    return out
