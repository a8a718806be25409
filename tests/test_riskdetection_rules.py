"""What Entra ID Protection documents about when its detections are written, as the rules rely on
it (docs/deploy.md section 5, "Risk detections are late by design"):

* https://learn.microsoft.com/en-us/entra/id-protection/concept-identity-protection-risks: the
  detection type of each riskEventType (real-time, offline, or either);
* https://learn.microsoft.com/en-us/entra/id-protection/concept-risk-detection-types: "Offline
  detections take up to 48 hours to surface", and risk levels and states change afterwards;
* https://learn.microsoft.com/en-us/graph/api/resources/riskdetection: riskState values
  (atRisk ... dismissed, remediated, confirmedSafe), the record of one detection updated over time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
# riskEventTypes the concept page lists as calculated offline only (the pack's four are named there)
OFFLINE_ONLY = frozenset({"tokenIssuerAnomaly", "suspiciousInboxForwarding",
                          "mcasSuspiciousInboxManipulationRules", "unlikelyTravel", "newCountry",
                          "maliciousIPAddress", "leakedCredentials", "suspiciousBrowser"})
OFFLINE_DELAY = timedelta(hours=48)
_SPAN = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _rules(folder: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((RULES / folder).rglob("*.yml")):
        yield path, yaml.safe_load(path.read_text(encoding="utf-8"))


def _values(node: Any, key: str) -> Iterator[Any]:
    """Every value written under a detection key named ``key`` (with or without modifiers)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k).split("|")[0] == key:
                yield from (v if isinstance(v, list) else [v])
            else:
                yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_sign_in_rules_never_wait_for_an_offline_only_detection() -> None:
    """The exported sign-in record is written at the sign-in: an offline-only type is never on it."""
    seen = 0
    for folder in ("azure/signinlogs", "azure/noninteractivesigninlogs"):
        for path, rule in _rules(folder):
            types = set(_values(rule.get("detection", {}), "properties.riskEventTypes_v2"))
            seen += bool(types)
            assert not types & OFFLINE_ONLY, f"{path.name}: {sorted(types & OFFLINE_ONLY)} is offline only"
    assert seen == 2  # the two token-anomaly sign-in rules


def test_risk_detection_rules_alert_on_open_detections_only() -> None:
    """A detection is written again when it is dismissed or remediated: only atRisk alerts."""
    rules = list(_rules("azure/riskdetection"))
    assert {t for _, r in rules for t in _values(r["detection"], "properties.riskEventType")} == {
        "anomalousToken", "tokenIssuerAnomaly", "suspiciousInboxForwarding",
        "mcasSuspiciousInboxManipulationRules"}
    for path, rule in rules:
        assert set(_values(rule["detection"], "properties.riskState")) == {"atRisk"}, path.name


def _span(text: str) -> timedelta:
    m = _SPAN.match(text)
    assert m, text
    return timedelta(**{_UNIT[m[2]]: int(m[1])})


def test_correlations_on_risk_detections_cover_the_offline_delay() -> None:
    names = {r["name"] for _, r in _rules("azure/riskdetection") if "name" in r}
    correlations = [(p, r) for p, r in _rules(".") if "correlation" in r
                    and names & set(r["correlation"]["rules"])]
    assert correlations, "no correlation reads the risk detections"
    for path, rule in correlations:
        assert _span(str(rule["correlation"]["timespan"])) >= OFFLINE_DELAY, path.name
