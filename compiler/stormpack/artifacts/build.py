"""Write every deployable artifact of a compiled pack into a build directory.

``write_artifacts`` takes the compiler's queries (any mix of targets) and the loaded rules, and
writes::

    sentinel/<stem>.yaml, sentinel/azuredeploy.json, sentinel/watchlists/*.csv
    defender/<stem>.json
    splunk/<app>/..., splunk/<app>.tgz
    adx/tables.kql, adx/README.md (next to the compiled adx queries)
    catalogue.md, catalogue.html

Everything is validated before anything is written for a product; the first violation raises
:class:`ArtifactError` naming the rule file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule

from ..compiler.registry import ARTIFACT_TARGETS
from ..errors import ArtifactError
from ..naming import output_name
from ..ruleset import LoadedRule
from . import catalogue, defender, lists, sentinel, settings, splunk
from .model import QueryLike, RuleMeta, rule_meta


@dataclass(frozen=True)
class ArtifactOptions:
    splunk_es: bool = False  # write Enterprise Security correlation-search / notable / risk keys
    splunk_app_id: str = settings.SPLUNK_APP_ID
    #: enable every rule, even those whose tenant lists still hold placeholders (``--enable-all``)
    enable_all: bool = False


@dataclass
class ArtifactReport:
    written: list[Path] = field(default_factory=list)
    #: (rule stem, target, reason) of every rule a target got no artifact for
    not_built: list[tuple[str, str, str]] = field(default_factory=list)
    lists: list[lists.TenantList] = field(default_factory=list)
    #: rule id -> the unfilled tenant lists that keep it disabled (empty with ``enable_all``)
    disabled: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: rule id -> title (for messages)
    titles: dict[str, str] = field(default_factory=dict)


def _meta_for(query: QueryLike, metas: Mapping[str, RuleMeta]) -> RuleMeta:
    meta = metas.get(query.rule_id)
    if meta is None:
        raise ArtifactError(f"compiled query of rule '{query.title}' ({query.rule_id}) has no loaded rule",
                            None)
    return meta


def collect_metas(rules: Sequence[LoadedRule]) -> dict[str, RuleMeta]:
    """Rule id -> metadata, the artifact stem being the rule's output name (:mod:`..naming`:
    ``<file stem>__<title slug>`` when a file holds several rules), as the query files'."""
    out: dict[str, RuleMeta] = {}
    stems: dict[str, RuleMeta] = {}
    for lr in rules:
        meta = replace(rule_meta(lr), stem=output_name(lr, rules))
        if meta.stem in stems:
            raise ArtifactError(f"rules '{meta.title}' and '{stems[meta.stem].title}' would write the "
                                f"same artifact files ({meta.stem})", meta.location())
        stems[meta.stem] = meta
        out[meta.id] = meta
    return out


def splunk_lookups(tenant: Sequence[lists.TenantList]) -> list[splunk.Lookup]:
    return [
        splunk.Lookup(
            name=tl.lookup, filename=f"{tl.lookup}.csv", column=lists.LOOKUP_COLUMN, values=tl.values,
            description=f"{tl.name} (used by {'; '.join(tl.rule_titles)})",
        )
        for tl in tenant if tl.is_list
    ]


def write_artifacts(
    queries: Sequence[QueryLike],
    rules: Sequence[LoadedRule],
    out_dir: Path,
    values: Mapping[str, Sequence[str]],
    *,
    compile_skipped: Sequence[tuple[str, str, str]] = (),
    options: ArtifactOptions | None = None,
) -> ArtifactReport:
    """Write all artifacts. ``compile_skipped`` lists (rule id, target, reason) of rules the
    compiler could not express for a target; they appear in the catalogue."""
    opts = options or ArtifactOptions()
    metas = collect_metas(rules)
    report = ArtifactReport()
    report.lists = lists.tenant_lists(rules, values)
    status: dict[str, dict[str, str | None]] = {m.id: {} for m in metas.values()}
    for rid, target, reason in compile_skipped:
        status.setdefault(rid, {})[target] = reason

    by_target: dict[str, list[QueryLike]] = {t: [] for t in ARTIFACT_TARGETS}
    for q in queries:
        if q.target not in by_target:
            raise ArtifactError(f"compiled query of '{q.title}' has unknown target '{q.target}'")
        by_target[q.target].append(q)

    unfilled = unfilled_lists(report.lists, rules)
    report.disabled = {} if opts.enable_all else unfilled
    report.titles = {m.id: m.title for m in metas.values()}

    def enabled(rule_id: str) -> bool:
        return rule_id not in report.disabled

    # Sentinel
    s_rules = []
    s_hunts = []
    for q in by_target["sentinel"]:
        meta = _meta_for(q, metas)
        if meta.is_hunting:
            s_hunts.append(sentinel.build_hunting(q, meta))
        else:
            s_rules.append(replace(sentinel.build_rule(q, meta), enabled=enabled(meta.id)))
    if s_rules:
        report.written += sentinel.write(s_rules, out_dir / "sentinel")
    if s_hunts:
        report.written += sentinel.write_hunting(s_hunts, out_dir / "sentinel" / "hunting")
    if s_rules or s_hunts:
        report.written += lists.write_watchlists(report.lists, out_dir / "sentinel" / "watchlists")
    for q in by_target["sentinel"]:
        status[q.rule_id]["sentinel"] = None

    # Defender XDR
    d_rules = []
    d_hunts = []
    for q in by_target["defender"]:
        meta = _meta_for(q, metas)
        why = defender.not_applicable(q, meta)
        if why is None and meta.is_hunting:
            d_hunts.append((meta.stem, defender.hunting_query(q, meta)))
            status[q.rule_id]["defender"] = None
        elif why is None:
            d_rules.append(replace(defender.build_rule(q, meta), enabled=enabled(meta.id)))
            status[q.rule_id]["defender"] = None
        else:
            status[q.rule_id]["defender"] = why
    if d_rules:
        report.written += defender.write(d_rules, out_dir / "defender")
    if d_hunts:
        report.written += defender.write_hunting(d_hunts, out_dir / "defender" / "hunting")

    # Splunk
    searches = [replace(splunk.build_search(q, _meta_for(q, metas)), enabled=enabled(q.rule_id))
                for q in by_target["splunk"]]
    if searches:
        tgz = splunk.write(searches, splunk_lookups(report.lists), out_dir / "splunk",
                           es=opts.splunk_es, app_id=opts.splunk_app_id)
        report.written += [tgz.with_suffix(""), tgz]
    for q in by_target["splunk"]:
        status[q.rule_id]["splunk"] = None

    # Catalogue
    entries = []
    for lr in rules:
        m = metas[lr.id]
        used = tuple(tl.name if tl.is_list else f"{tl.name} (inlined: used as a pattern)"
                     for tl in report.lists if m.id in tl.rule_ids)
        st = status.get(m.id, {})
        entries.append(catalogue.Entry(m, {t: st.get(t, "not compiled for this target")
                                           for t in ARTIFACT_TARGETS}, used,
                                       report.disabled.get(m.id, ())))
        for t in ARTIFACT_TARGETS:
            if t not in st:
                report.not_built.append((m.stem, t, "not compiled for this target"))
            elif (why := st[t]) is not None:
                report.not_built.append((m.stem, t, why))
    report.written += catalogue.write(entries, out_dir)
    hunting = {m.title for m in metas.values() if m.is_hunting}
    report.written.append(write_navigator_layer(rules, out_dir / NAVIGATOR_LAYER, hunting))
    return report


def unfilled_lists(tenant: Sequence[lists.TenantList],
                   rules: Sequence[LoadedRule] = ()) -> dict[str, tuple[str, ...]]:
    """Rule id -> the tenant lists it reads that are empty or still hold placeholders
    (:attr:`.lists.TenantList.is_filled`); such rules are built disabled. A correlation reads
    the lists of the rules it references (transitively): its base rules are not deployed on
    their own, so the correlation is what an unfilled list makes noisy."""
    out: dict[str, list[str]] = {}
    for tl in tenant:
        if tl.is_filled:
            continue
        for rid in tl.rule_ids:
            out.setdefault(rid, []).append(tl.name)
    id_of = {id(lr.rule): lr.id for lr in rules}
    refs: dict[str, list[str]] = {}
    for lr in rules:
        if isinstance(lr.rule, SigmaCorrelationRule):
            for ref in lr.rule.rules or []:
                base = id_of.get(id(getattr(ref, "rule", None)))
                if base is not None:
                    refs.setdefault(lr.id, []).append(base)

    def reads(rid: str, seen: frozenset[str]) -> list[str]:
        names = list(out.get(rid, ()))
        for base in refs.get(rid, ()):
            if base not in seen:
                names.extend(reads(base, seen | {base}))
        return names

    result: dict[str, tuple[str, ...]] = {}
    for rid in {*out, *refs}:
        names = tuple(dict.fromkeys(reads(rid, frozenset({rid}))))
        if names:
            result[rid] = names
    return result


NAVIGATOR_LAYER = "attack-navigator-layer.json"


def write_navigator_layer(rules: Sequence[LoadedRule], path: Path,
                          hunting: frozenset[str] | set[str] = frozenset()) -> Path:
    """The ATT&CK Navigator layer of the pack (``stormpack coverage``'s layer, reused); rules
    titled in ``hunting`` are hunting queries: named as such, not counted in the score."""
    from ..coverage import compute_coverage, coverage_layer
    from ..navigator import write_layer

    files = sorted({str(lr.path): lr.path for lr in rules}.values(), key=str)
    write_layer(path, coverage_layer(compute_coverage(files), hunting=hunting))
    return path
