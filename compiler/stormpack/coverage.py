"""ATT&CK coverage: the techniques the pack's rules are tagged with, against the techniques
attributed to the Storm-0558 campaign (data/campaign_techniques.yml), and a Navigator layer."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from .errors import CoverageError as CoverageError
from .errors import Location
from .navigator import Layer, LayerTechnique
from .ruleset import load_ruleset
from .validate.attack import AttackData, load_attack
from .yamlio import YamlError, load_yaml_file

Attribution = Literal["observed-2023", "historical", "provider-side", "generic"]
ATTRIBUTIONS: tuple[str, ...] = ("observed-2023", "historical", "provider-side", "generic")
CAMPAIGN: tuple[str, ...] = ("observed-2023", "historical", "provider-side")
Status = Literal["covered", "related", "not-covered"]
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)

COLORS = {
    "covered": "#2e7d32",
    "generic-covered": "#81c784",
    "related": "#fbc02d",
    "gap": "#e53935",
    "not-visible": "#bdbdbd",
}


@dataclass(frozen=True)
class CampaignTechnique:
    id: str
    behaviour: str
    attribution: str
    tenant_logs: bool
    source: str


@dataclass(frozen=True)
class TechniqueCoverage:
    id: str
    name: str
    status: Status
    rules: tuple[str, ...]  # titles of the rules tagged with it (status related: with a parent/sub-technique)
    campaign: CampaignTechnique | None

    @property
    def is_campaign(self) -> bool:
        return self.campaign is not None and self.campaign.attribution in CAMPAIGN


@dataclass(frozen=True)
class CoverageReport:
    attack_version: str
    source: str
    techniques: tuple[TechniqueCoverage, ...]

    def campaign(self) -> list[TechniqueCoverage]:
        return [t for t in self.techniques if t.is_campaign]

    def outside_campaign(self) -> list[TechniqueCoverage]:
        return [t for t in self.techniques if not t.is_campaign and t.rules]


def default_campaign_path() -> Path:
    return Path(str(resources.files("stormpack").joinpath("data/campaign_techniques.yml")))


def load_campaign(path: Path, attack: AttackData) -> tuple[str, list[CampaignTechnique]]:
    try:
        data = load_yaml_file(path)
    except YamlError as exc:
        raise CoverageError(exc.message, exc.location) from None
    if not isinstance(data, dict) or not isinstance(data.get("techniques"), list):
        raise CoverageError("expected a mapping with a 'techniques' list", Location(path, 1))
    if str(data.get("attack_version")) != attack.version:
        raise CoverageError(
            f"attack_version {data.get('attack_version')} is not the pinned ATT&CK {attack.version}",
            Location(path),
        )
    out: list[CampaignTechnique] = []
    for entry in data["techniques"]:
        tid = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        if attack.technique(tid) is None:
            raise CoverageError(f"'{tid}' is not an ATT&CK v{attack.version} technique", Location(path))
        if entry.get("attribution") not in ATTRIBUTIONS:
            raise CoverageError(
                f"{tid}: attribution must be one of {', '.join(ATTRIBUTIONS)}", Location(path)
            )
        out.append(
            CampaignTechnique(
                id=tid.upper(),
                behaviour=str(entry.get("behaviour", "")),
                attribution=str(entry["attribution"]),
                tenant_logs=bool(entry.get("tenant_logs")),
                source=str(entry.get("source", "")),
            )
        )
    return str(data.get("source", "")), out


def pack_techniques(rules_dirs: Sequence[str | Path]) -> dict[str, list[str]]:
    """Technique id -> titles of the rules tagged with it."""
    out: dict[str, list[str]] = defaultdict(list)
    for lr in load_ruleset(rules_dirs):
        for tag in lr.rule.tags or []:
            m = _TECHNIQUE_TAG.match(f"{tag.namespace}.{tag.name}")
            if m:
                out[m.group(1).upper()].append(lr.title)
    return dict(out)


def compute_coverage(rules_dirs: Sequence[str | Path], campaign_path: Path | None = None) -> CoverageReport:
    attack = load_attack()
    source, campaign = load_campaign(campaign_path or default_campaign_path(), attack)
    tagged = pack_techniques(rules_dirs)
    by_id = {c.id: c for c in campaign}
    ids = list(by_id) + sorted(t for t in tagged if t not in by_id)
    out = []
    for tid in ids:
        tech = attack.technique(tid)
        name = tech.full_name if tech else "(not in the pinned ATT&CK version)"
        exact = tuple(dict.fromkeys(tagged.get(tid, [])))
        # a sub-technique of it, or its parent, is tagged: related, but not the same behaviour
        related = [title for t, titles in tagged.items() if t.startswith(tid + ".") for title in titles]
        related += tagged.get(tid.split(".")[0], []) if "." in tid else []
        status: Status = "covered" if exact else ("related" if related else "not-covered")
        out.append(
            TechniqueCoverage(tid, name, status, exact or tuple(dict.fromkeys(related)), by_id.get(tid))
        )
    return CoverageReport(attack_version=attack.version, source=source, techniques=tuple(out))


def render_text(report: CoverageReport) -> str:
    lines = [
        f"Techniques attributed to Storm-0558 (ATT&CK v{report.attack_version}; source: {report.source})"
    ]
    camp = report.campaign()
    for t in camp:
        assert t.campaign is not None
        if t.status == "covered":
            state = f"covered by {len(t.rules)} rule(s)"
        elif t.status == "related":
            state = f"only a parent or sub-technique is tagged ({len(t.rules)} rule(s))"
        else:
            state = "NOT covered" if t.campaign.tenant_logs else "not covered (not visible in tenant logs)"
        lines.append(f"  {t.id:<10} {t.campaign.attribution:<14} {t.name[:66]:<66} {state}")
    lines.append("Techniques the pack covers beyond the campaign (generic mailbox-compromise coverage)")
    for t in report.outside_campaign():
        lines.append(f"  {t.id:<10} {t.name[:75]:<75} {len(t.rules)} rule(s)")
    visible = [t for t in camp if t.campaign is not None and t.campaign.tenant_logs]
    covered = [t for t in visible if t.status == "covered"]
    lines.append(
        f"Summary: {len(covered)}/{len(visible)} campaign techniques visible in tenant logs are covered; "
        f"{sum(1 for t in camp if t.status == 'covered')}/{len(camp)} of all campaign techniques."
    )
    return "\n".join(lines) + "\n"


def coverage_layer(report: CoverageReport, name: str = "stormpack: Storm-0558 coverage",
                   hunting: frozenset[str] | set[str] = frozenset()) -> Layer:
    """The Navigator layer; rules titled in ``hunting`` are hunting queries (time-bounded, never
    scheduled): listed as such and not counted in the score."""
    techniques = []
    for t in report.techniques:
        if not t.rules and not t.is_campaign:
            continue  # generic technique no rule covers yet: not part of either set
        c = t.campaign
        detections = [r for r in t.rules if r not in hunting]
        hunts = [r for r in t.rules if r in hunting]
        if t.status == "covered":
            color = COLORS["covered"] if t.is_campaign else COLORS["generic-covered"]
        elif t.status == "related":
            color = COLORS["related"]
        else:
            color = COLORS["gap"] if c is not None and c.tenant_logs else COLORS["not-visible"]
        comment_parts = []
        if c is not None:
            comment_parts.append(f"{c.attribution}: {c.behaviour} [{c.source}]")
        if detections:
            comment_parts.append("Rules: " + "; ".join(detections))
        if hunts:
            comment_parts.append("Hunting queries (hunting-only, not scheduled): " + "; ".join(hunts))
        techniques.append(
            LayerTechnique(
                technique_id=t.id,
                score=len(detections) if t.status == "covered" else 0,
                color=color,
                comment=" | ".join(comment_parts),
                metadata=(("status", t.status), ("attribution", c.attribution if c else "pack only")),
            )
        )
    return Layer(
        name=name,
        description="Techniques the stormpack rules are tagged with, against the techniques attributed to "
        "Storm-0558 (score = number of rules)." + (" Hunting queries (hunting-only rules) are named "
                                                   "in the comment, not counted." if hunting else ""),
        attack_version=report.attack_version,
        techniques=techniques,
        legend=(
            ("campaign technique, covered", COLORS["covered"]),
            ("generic technique, covered", COLORS["generic-covered"]),
            ("only a parent or sub-technique is tagged", COLORS["related"]),
            ("campaign technique visible in tenant logs, not covered", COLORS["gap"]),
            ("campaign technique not visible in tenant logs", COLORS["not-visible"]),
        ),
        metadata=(("generated by", "stormpack coverage"), ("campaign source", report.source)),
    )
