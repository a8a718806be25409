"""Rendering a validation :class:`Report` as text, JSON or SARIF 2.1.0 (GitHub code scanning
shows SARIF results on the changed lines of a pull request)."""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from .findings import Finding, Report

FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render(report: Report, fmt: str) -> str:
    if fmt == "text":
        return render_text(report)
    if fmt == "json":
        return json.dumps(render_json(report), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(render_sarif(report), indent=2) + "\n"
    raise ValueError(fmt)


def render_text(report: Report) -> str:
    lines = [str(f) for f in report.sorted()]
    errors = len(report.errors)
    others = len(report.findings) - errors
    lines.append(
        f"{report.rules_checked} rule(s) checked: {errors} error(s), {others} warning(s)/note(s), "
        f"{len(report.suppressed)} accepted by exceptions"
    )
    return "\n".join(lines) + "\n"


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "check": f.check,
        "severity": f.severity,
        "path": f.path,
        "line": f.line,
        "rule_id": f.rule_id,
        "message": f.message,
    }


def render_json(report: Report) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "rules_checked": report.rules_checked,
        "errors": len(report.errors),
        "findings": [_finding_json(f) for f in report.sorted()],
        "suppressed": [{**_finding_json(f), "reason": reason} for f, reason in report.suppressed],
    }


def _result(f: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "ruleId": f.check,
        "ruleIndex": rule_index[f.check],
        "level": f.severity,
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line or 1},
                }
            }
        ],
    }
    if f.rule_id:
        res["properties"] = {"sigmaRuleId": f.rule_id}
    return res


def render_sarif(report: Report) -> dict[str, Any]:
    all_findings = report.sorted() + [f for f, _ in report.suppressed]
    checks = sorted({f.check for f in all_findings})
    rule_index = {c: i for i, c in enumerate(checks)}
    results = [_result(f, rule_index) for f in report.sorted()]
    for f, reason in report.suppressed:
        r = _result(f, rule_index)
        r["suppressions"] = [{"kind": "external", "justification": reason}]
        results.append(r)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "stormpack-validate",
                        "version": __version__,
                        "rules": [
                            {"id": c, "name": c, "shortDescription": {"text": f"stormpack check {c}"}}
                            for c in checks
                        ],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
