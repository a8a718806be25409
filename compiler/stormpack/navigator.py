"""ATT&CK Navigator layers (layer format 4.5): build, check and write one.

Reusable by anything that wants a layer (``stormpack coverage``, the build's catalogue): give
it :class:`LayerTechnique` annotations and get a dict that Navigator 5.x opens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAYER_FORMAT = "4.5"
NAVIGATOR_VERSION = "5.1.0"
DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
REQUIRED_KEYS = ("name", "versions", "domain", "techniques")
_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class LayerTechnique:
    technique_id: str  # T1114.002
    score: float | None = None
    color: str | None = None  # "#rrggbb"; overrides the score gradient
    comment: str = ""
    tactic: str | None = None  # a tactic shortname, or None for every tactic of the technique
    metadata: Sequence[tuple[str, str]] = ()
    links: Sequence[tuple[str, str]] = ()  # (label, url)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"techniqueID": self.technique_id, "enabled": True, "showSubtechniques": False}
        if self.tactic:
            out["tactic"] = self.tactic
        if self.score is not None:
            out["score"] = self.score
        if self.color:
            out["color"] = self.color
        if self.comment:
            out["comment"] = self.comment
        if self.metadata:
            out["metadata"] = [{"name": k, "value": v} for k, v in self.metadata]
        if self.links:
            out["links"] = [{"label": k, "url": v} for k, v in self.links]
        return out


@dataclass(frozen=True)
class Layer:
    name: str
    description: str
    attack_version: str  # "18.1" or "18": Navigator wants the major version
    techniques: Sequence[LayerTechnique]
    legend: Sequence[tuple[str, str]] = ()  # (label, color)
    gradient: tuple[str, str] = ("#ffffff", "#66b1ff")
    domain: str = "enterprise-attack"
    metadata: Sequence[tuple[str, str]] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        scores = [t.score for t in self.techniques if t.score is not None]
        return {
            "name": self.name,
            "versions": {
                "attack": self.attack_version.split(".")[0],
                "navigator": NAVIGATOR_VERSION,
                "layer": LAYER_FORMAT,
            },
            "domain": self.domain,
            "description": self.description,
            "sorting": 0,
            "layout": {
                "layout": "side",
                "aggregateFunction": "max",
                "showID": True,
                "showName": True,
                "showAggregateScores": False,
                "countUnscored": False,
                "expandedSubtechniques": "annotated",
            },
            "hideDisabled": False,
            "techniques": [t.to_json() for t in self.techniques],
            "gradient": {"colors": list(self.gradient), "minValue": 0, "maxValue": max([1.0, *scores])},
            "legendItems": [{"label": k, "color": v} for k, v in self.legend],
            "metadata": [{"name": k, "value": v} for k, v in self.metadata],
            "links": [],
            "showTacticRowBackground": False,
            "tacticRowBackground": "#dddddd",
            "selectTechniquesAcrossTactics": True,
            "selectSubtechniquesWithParent": False,
            "selectVisibleTechniques": False,
        }


def check_layer(layer: Mapping[str, Any]) -> list[str]:
    """Problems with a layer dict against the 4.5 format's required keys and value shapes."""
    problems = [f"missing required key '{k}'" for k in REQUIRED_KEYS if k not in layer]
    if problems:
        return problems
    if not isinstance(layer["name"], str) or not layer["name"]:
        problems.append("name must be a non-empty string")
    versions = layer["versions"]
    if not isinstance(versions, Mapping) or not all(
        isinstance(versions.get(k), str) for k in ("attack", "navigator", "layer")
    ):
        problems.append("versions must hold attack, navigator and layer strings")
    elif versions["layer"] != LAYER_FORMAT:
        problems.append(f"versions.layer must be {LAYER_FORMAT}")
    if layer["domain"] not in DOMAINS:
        problems.append(f"domain must be one of {', '.join(DOMAINS)}")
    techniques = layer["techniques"]
    if not isinstance(techniques, list):
        return [*problems, "techniques must be a list"]
    for i, t in enumerate(techniques):
        if not isinstance(t, Mapping) or not _TECHNIQUE_ID.match(str(t.get("techniqueID", ""))):
            problems.append(f"techniques[{i}] needs a techniqueID like T1234 or T1234.001")
            continue
        if "score" in t and not isinstance(t["score"], (int, float)):
            problems.append(f"techniques[{i}].score must be a number")
        if "color" in t and not _COLOR.match(str(t["color"])):
            problems.append(f"techniques[{i}].color must be #rrggbb")
    gradient = layer.get("gradient")
    if gradient is not None and not (
        isinstance(gradient, Mapping)
        and len(gradient.get("colors", [])) >= 2
        and gradient.get("minValue", 0) < gradient.get("maxValue", 0)
    ):
        problems.append("gradient needs >= 2 colors and minValue < maxValue")
    return problems


def write_layer(path: Path, layer: Layer) -> dict[str, Any]:
    data = layer.to_json()
    problems = check_layer(data)
    if problems:  # a bug in the caller, not a user error
        raise ValueError("invalid Navigator layer: " + "; ".join(problems))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data
