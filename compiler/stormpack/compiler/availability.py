"""Which record families a target collects (data/collection.yml), and what that means for a rule.

A rule is refused on a target when every record family its condition can match is one the
target's connector does not collect: the query would compile but could never fire. The families a
rule can match come from the literals every branch of its condition requires (required.py):
RecordType numbers, Workload names, and operations only one family writes. A rule that requires
none of them could match any family and is always compiled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from ..errors import TaxonomyError
from ..yamlio import load_yaml_text
from .required import rule_required_values

DATA_PATH = "data/collection.yml"


@dataclass(frozen=True)
class Family:
    key: str
    title: str
    content_type: str
    record_types: frozenset[str]
    workloads: frozenset[str]  # lower-cased
    operations: frozenset[str]  # lower-cased


@dataclass(frozen=True)
class Collection:
    """What one target collects of one log source."""

    target: str
    logsource: str
    connector: str
    collects: frozenset[str]
    not_collected: Mapping[str, str]  # family -> why
    undocumented: Mapping[str, str]  # family -> why
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Availability:
    families: Mapping[str, Mapping[str, Family]]  # log source -> family key -> family
    family_sources: Mapping[str, tuple[str, ...]]
    collections: Mapping[tuple[str, str], Collection]  # (target, log source) -> collection


@dataclass(frozen=True)
class Decision:
    kind: Literal["compile", "refuse"]
    families: frozenset[str]  # the families the rule can match (all of the log source if unconstrained)
    reason: str = ""  # why refused, or the note on undocumented families
    sources: tuple[str, ...] = ()


def _strings(data: Any, where: str) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(x, (str, int)) for x in data):
        raise TaxonomyError(f"stormpack/{DATA_PATH}: {where} must be a list of names")
    return [str(x) for x in data]


def _why_map(data: Any, where: str, known: Mapping[str, Family]) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise TaxonomyError(f"stormpack/{DATA_PATH}: {where} must map family to reason")
    for key, why in data.items():
        if key not in known:
            raise TaxonomyError(f"stormpack/{DATA_PATH}: {where} names unknown family '{key}'")
        if not isinstance(why, str) or not why.strip():
            raise TaxonomyError(f"stormpack/{DATA_PATH}: {where}.{key} needs a reason")
    return {str(k): " ".join(str(v).split()) for k, v in data.items()}


def parse_availability(data: Mapping[str, Any]) -> Availability:
    families: dict[str, dict[str, Family]] = {}
    family_sources: dict[str, tuple[str, ...]] = {}
    for ls, fams in (data.get("families") or {}).items():
        families[ls] = {}
        for key, f in fams.items():
            families[ls][key] = Family(
                key=key,
                title=str(f["title"]),
                content_type=str(f["content_type"]),
                record_types=frozenset(
                    _strings(f.get("record_types", []), f"families.{ls}.{key}.record_types")
                ),
                workloads=frozenset(
                    w.lower() for w in _strings(f.get("workloads", []), f"families.{ls}.{key}.workloads")
                ),
                operations=frozenset(
                    o.lower() for o in _strings(f.get("operations", []), f"families.{ls}.{key}.operations")
                ),
            )
    for ls, urls in (data.get("family_sources") or {}).items():
        family_sources[ls] = tuple(_strings(urls, f"family_sources.{ls}"))
    collections: dict[tuple[str, str], Collection] = {}
    for target, per_ls in (data.get("targets") or {}).items():
        for ls, c in per_ls.items():
            where = f"targets.{target}.{ls}"
            known = families.get(ls)
            if known is None:
                raise TaxonomyError(f"stormpack/{DATA_PATH}: {where}: no families for log source {ls}")
            collects = _strings(c.get("collects", []), f"{where}.collects")
            for key in collects:
                if key not in known:
                    raise TaxonomyError(
                        f"stormpack/{DATA_PATH}: {where}.collects names unknown family '{key}'"
                    )
            not_collected = _why_map(c.get("not_collected"), f"{where}.not_collected", known)
            undocumented = _why_map(c.get("undocumented"), f"{where}.undocumented", known)
            listed = set(collects) | set(not_collected) | set(undocumented)
            if listed != set(known) or len(collects) + len(not_collected) + len(undocumented) != len(known):
                raise TaxonomyError(
                    f"stormpack/{DATA_PATH}: {where} must put every family of {ls} "
                    f"({', '.join(sorted(known))}) in exactly one of collects / not_collected / undocumented"
                )
            collections[(target, ls)] = Collection(
                target=target,
                logsource=ls,
                connector=str(c.get("connector", "")),
                collects=frozenset(collects),
                not_collected=not_collected,
                undocumented=undocumented,
                sources=tuple(_strings(c.get("sources", []), f"{where}.sources")),
            )
    return Availability(families=families, family_sources=family_sources, collections=collections)


@cache
def load_availability() -> Availability:
    text = resources.files("stormpack").joinpath(DATA_PATH).read_text(encoding="utf-8")
    return parse_availability(load_yaml_text(text, f"stormpack/{DATA_PATH}"))


def rule_families(rule: Any, logsource: str, avail: Availability | None = None) -> frozenset[str]:
    """The record families of ``logsource`` a SigmaRule can match."""
    avail = avail or load_availability()
    fams = avail.families.get(logsource, {})
    possible = set(fams)
    record_types = rule_required_values(rule, "RecordType")
    if record_types is not None and record_types <= {rt for f in fams.values() for rt in f.record_types}:
        possible &= {k for k, f in fams.items() if f.record_types & record_types}
    workloads = rule_required_values(rule, "Workload")
    if workloads is not None and workloads <= {w for f in fams.values() for w in f.workloads}:
        possible &= {k for k, f in fams.items() if f.workloads & workloads}
    operations = rule_required_values(rule, "Operation")
    if operations is not None and operations <= {o for f in fams.values() for o in f.operations}:
        possible &= {k for k, f in fams.items() if f.operations & operations}
    return frozenset(possible)


def decide(rule: Any, logsource: str, target: str, avail: Availability | None = None) -> Decision:
    """Compile or refuse ``rule`` (a SigmaRule of ``logsource``) on ``target``."""
    avail = avail or load_availability()
    coll = avail.collections.get((target, logsource))
    if coll is None:
        return Decision("compile", frozenset())
    fams = rule_families(rule, logsource, avail)
    if fams and all(f in coll.not_collected for f in fams):
        families = avail.families[logsource]
        what = "; ".join(
            f"{families[f].title} ({families[f].content_type}): {coll.not_collected[f]}" for f in sorted(fams)
        )
        reason = (
            f"not collected on {target}: the rule can only match records its {coll.connector} does "
            f"not ingest - {what} (sources: {', '.join(coll.sources)}; data/collection.yml)"
        )
        return Decision("refuse", fams, reason, coll.sources)
    unknown = sorted(f for f in fams if f in coll.undocumented)
    note = "; ".join(f"{f}: {coll.undocumented[f]}" for f in unknown)
    return Decision("compile", fams, note, coll.sources)
