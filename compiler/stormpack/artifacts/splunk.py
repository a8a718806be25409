"""Splunk: an installable app with one scheduled search per rule.

``build/splunk/<app>/`` and ``build/splunk/<app>.tgz``::

    default/app.conf           app identity
    default/savedsearches.conf one scheduled, disabled-by-default search per rule
    default/macros.conf        data-source macros (index/sourcetype) + one <stem>_filter per rule
    default/transforms.conf    lookup definitions of the tenant lists
    lookups/<list>.csv         tenant lists (|expand allow-lists), filled from values/ defaults
    metadata/default.meta      permissions
    README.txt

Every search ends in `` `<stem>_filter` `` (contentctl's tuning hook): admins tune in
macros.conf (local/) without editing the pack. Enterprise Security correlation-search, notable
and risk keys are written only when ``es=True``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ArtifactError, Location
from ..syntax import SPL
from ..yamlio import load_yaml_text
from . import firstseen, settings
from .model import QueryLike, RuleMeta
from .schedule import SplunkTimes, splunk_plan


@dataclass(frozen=True)
class DataSource:
    """A data-source macro: the base search of one taxonomy log source."""

    macro: str
    definition: str
    logsource: str


@dataclass(frozen=True)
class Lookup:
    """A tenant list shipped as a CSV lookup."""

    name: str  # lookup definition (transforms.conf stanza)
    filename: str
    column: str
    values: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class SavedSearch:
    stanza: str
    description: str
    search: str
    filter_macro: str
    cron: str
    earliest: str
    latest: str
    severity: str  # notable severity
    risk_score: int
    risk_objects: tuple[tuple[str, str], ...]  # (field, risk_object_type)
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    source: Location
    extra: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = False  # ``disabled = 0``: only when the rule's tenant lists are filled
    #: a hunting report (time-bounded rule): no schedule, no alert; earliest/latest absolute
    hunting: bool = False
    #: alert.suppress.fields / period of a correlation (one alert per group and burst)
    suppress_fields: tuple[str, ...] = ()
    suppress_period: str = ""


# ------------------------------------------------------------------------------- data sources
@lru_cache(maxsize=1)
def _target_data() -> Mapping[str, Any]:
    text = resources.files("stormpack").joinpath("data/targets/splunk.yml").read_text(encoding="utf-8")
    data = load_yaml_text(text, "stormpack/data/targets/splunk.yml")
    if not isinstance(data, dict):
        raise ArtifactError("data/targets/splunk.yml is not a mapping")
    return data


def data_sources() -> dict[str, DataSource]:
    """Taxonomy log source -> its data-source macro, named as the compiler's Splunk target names
    it (``macro`` in data/targets/splunk.yml; the compiler emits `` `macro` `` with use_macros)."""
    data = _target_data()
    index = str(data.get("vars", {}).get("index", "*"))
    out: dict[str, DataSource] = {}
    for key, ls in data.get("logsources", {}).items():
        if not isinstance(ls, dict) or "macro" not in ls:
            continue
        # exactly what the compiler writes when use_macros is off (SPL_TEMPLATE of pipeline_gen)
        if ls.get("search"):
            terms = [SPL.term("index", index), str(ls["search"])]
        else:
            terms = [SPL.term("index", index), SPL.term("sourcetype", str(ls["sourcetype"]))]
            if ls.get("category"):
                terms.append(SPL.term("category", str(ls["category"])))
        out[key] = DataSource(macro=str(ls["macro"]), definition=" ".join(terms), logsource=key)
    return out


# ------------------------------------------------------------------------------- searches
def filter_macro(stem: str) -> str:
    return f"{stem}_filter"


def stanza_name(meta: RuleMeta) -> str:
    title = meta.title.replace("[", "(").replace("]", ")")
    return f"stormpack - {title} - Rule"


def _risk_objects(query: QueryLike, meta: RuleMeta) -> tuple[tuple[str, str], ...]:
    """(field, risk_object_type) of the first available field of each role of
    ``settings.SPLUNK_RISK_OBJECT_TYPES``, in the taxonomy's preference order."""
    from ..taxonomy import load_taxonomy

    out: list[tuple[str, str]] = []
    for role, kind in settings.SPLUNK_RISK_OBJECT_TYPES.items():
        for name in load_taxonomy().role_fields(role):
            if meta.is_correlation:
                group = meta.group_column_for(name)
                if group is None:
                    continue
                col = group  # stats ... by <group-by name>
            elif name in _logsource_fields(meta):
                col = query.fields.get(name, name)
            else:
                continue
            out.append((col, kind))
            break
    return tuple(out)


def _logsource_fields(meta: RuleMeta) -> set[str]:
    from ..taxonomy import load_taxonomy

    tax = load_taxonomy()
    names: set[str] = set()
    for key in meta.logsources:
        names.update(tax.logsources[key].fields)
    return names


def with_datasource_macros(text: str, meta: RuleMeta) -> str:
    """Replace the compiler's literal base search of each log source (index/sourcetype/category,
    written as in the macro definitions) by its data-source macro, so admins point the pack at
    their indexes in macros.conf."""
    sources = data_sources()
    out = text
    for ds in sources.values():
        out = out.replace(ds.definition, f"`{ds.macro}`")
    if not any(f"`{ds.macro}`" in out for ds in sources.values()):
        raise ArtifactError(
            f"the Splunk search of '{meta.title}' holds no base search of a known log source "
            f"({'; '.join(ds.definition for ds in sources.values())})", meta.location())
    return out


def with_index_slice(text: str, times: SplunkTimes) -> str:
    """A single-event search keeps the events INDEXED since the previous run
    (``_index_earliest`` / ``_index_latest`` after each base search), while the dispatch window
    reaches back over the ingestion delay by event time: each event is reported by one run."""
    terms = f"_index_earliest={times.index_earliest} _index_latest={times.index_latest}"
    out = text
    for ds in data_sources().values():
        out = out.replace(f"`{ds.macro}`", f"`{ds.macro}` {terms}")
    return out


_ABSOLUTE = "%m/%d/%Y:%H:%M:%S"  # Search Reference, Time modifiers: absolute time format
#: the default range of a hunting report that is not time-bounded (the analyst changes it)
HUNT_EARLIEST = "-30d@d"


def build_hunting(query: QueryLike, meta: RuleMeta) -> SavedSearch:
    """A hunting-only rule as a report: the search over its fixed event-time range (time-bounded
    rules) or the last 30 days, no schedule and no alert action (docs/deploy.md, section 6)."""
    macro = filter_macro(meta.stem)
    text = with_datasource_macros(query.query.strip(), meta)
    description = " ".join((meta.description or meta.title).split())
    if meta.time_bound is not None:
        why = f"matches only events from {meta.time_bound.label()}"
        earliest, latest = (meta.time_bound.start.strftime(_ABSOLUTE),
                            meta.time_bound.end.strftime(_ABSOLUTE))
    else:
        why = meta.hunting_reason()
        earliest, latest = HUNT_EARLIEST, "now"
    return SavedSearch(
        stanza=stanza_name(meta).removesuffix(" - Rule") + " - Hunt",
        description=f"{description} Hunting report (no schedule, no alert): {why}.",
        search=f"{text}\n| `{macro}`", filter_macro=macro, cron="",
        earliest=earliest,
        latest=latest,
        severity=settings.SPLUNK_NOTABLE_SEVERITY_BY_LEVEL[meta.level],
        risk_score=settings.SPLUNK_RISK_SCORE_BY_LEVEL[meta.level],
        risk_objects=_risk_objects(query, meta), techniques=meta.attack.techniques,
        tactics=meta.attack.tactic_tags, source=meta.location(), hunting=True)


def build_search(query: QueryLike, meta: RuleMeta) -> SavedSearch:
    if meta.is_hunting:
        return build_hunting(query, meta)
    times = splunk_plan(meta)
    macro = filter_macro(meta.stem)
    text = with_datasource_macros(query.query.strip(), meta)
    suppress: tuple[str, ...] = ()
    if meta.first_seen is not None:
        text = firstseen.splunk_search(text, meta, times.plan.frequency, times.plan.delay)
        suppress = firstseen.suppress_fields(meta)
    elif meta.is_correlation:
        # one alert per group: the group stays in the dispatch window for as long as the window
        # is long, so its later runs are suppressed for that long (alert.suppress.fields)
        suppress = meta.group_by
    else:
        text = with_index_slice(text, times)
    return SavedSearch(
        stanza=stanza_name(meta),
        description=" ".join((meta.description or meta.title).split()),
        search=f"{text}\n| `{macro}`",
        filter_macro=macro,
        cron=times.cron,
        earliest=times.earliest,
        latest=times.latest,
        severity=settings.SPLUNK_NOTABLE_SEVERITY_BY_LEVEL[meta.level],
        risk_score=settings.SPLUNK_RISK_SCORE_BY_LEVEL[meta.level],
        risk_objects=_risk_objects(query, meta),
        techniques=meta.attack.techniques,
        tactics=meta.attack.tactic_tags,
        source=meta.location(),
        suppress_fields=suppress,
        suppress_period=times.earliest.removeprefix("-").removesuffix("@m") if suppress else "",
    )


#: Splunk relative time modifiers: now, -70m@m, -1d@d, @w1, +5m, 0 (epoch)
_RELATIVE_TIME = re.compile(r"now|0|[+-]\d*(s|sec|m|min|h|hr|d|day|w|mon|q|y)(@\w+)?|@\w+")
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def problems(s: SavedSearch) -> list[str]:
    out: list[str] = []
    parts = s.cron.split()
    if not s.hunting and (len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts)):
        out.append(f"cron_schedule '{s.cron}' is not a 5-field cron expression")
    for label, value in (("dispatch.earliest_time", s.earliest), ("dispatch.latest_time", s.latest)):
        if s.hunting and not _RELATIVE_TIME.fullmatch(value):
            try:
                datetime.strptime(value, _ABSOLUTE)
            except ValueError:
                out.append(f"{label} '{value}' is neither an absolute time such as 03/01/2023:00:00:00 "
                           "nor a relative one such as -30d@d")
        elif not s.hunting and not _RELATIVE_TIME.fullmatch(value):
            out.append(f"{label} '{value}' is not a relative time such as -70m@m")
    for line in s.search.splitlines():
        if line.endswith("\\"):
            out.append("a search line ends in a backslash, which .conf reads as a line continuation")
            break
    if not s.search.rstrip().endswith(f"`{s.filter_macro}`"):
        out.append(f"the search does not end in its filter macro `{s.filter_macro}`")
    return out


# ------------------------------------------------------------------------------- rendering
def _conf_value(text: str) -> str:
    """A multi-line value as .conf writes it: each line but the last continued with ` \\`."""
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    return " \\\n".join(lines)


def _stanza(name: str, items: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"{k} = {_conf_value(v)}\n" for k, v in items)
    return f"[{name}]\n{body}"


def render_savedsearches(searches: Sequence[SavedSearch], *, es: bool) -> str:
    out = ["# Generated by stormpack; tune in local/savedsearches.conf and local/macros.conf.\n"]
    for s in searches:
        if s.hunting:
            out.append("\n" + _stanza(s.stanza, [
                ("description", s.description),
                ("search", s.search),
                ("enableSched", "0"),
                ("dispatch.earliest_time", s.earliest),
                ("dispatch.latest_time", s.latest),
                ("disabled", "0" if s.enabled else "1"),
            ]))
            continue
        items: list[tuple[str, str]] = [
            ("description", s.description),
            ("search", s.search),
            ("cron_schedule", s.cron),
            ("enableSched", "1"),
            ("dispatch.earliest_time", s.earliest),
            ("dispatch.latest_time", s.latest),
            ("schedule_window", "auto"),
            ("counttype", "number of events"),
            ("relation", "greater than"),
            ("quantity", "0"),
            ("alert.track", "1"),
            # a correlation alerts per result (one per group), so that alert.suppress.fields
            # throttles each group on its own (Alerting Manual, "Throttle alerts": per-result)
            ("alert.digest_mode", "0" if s.suppress_fields else "1"),
        ]
        if s.suppress_fields:
            items += [("alert.suppress", "1"),
                      ("alert.suppress.fields", ",".join(s.suppress_fields)),
                      ("alert.suppress.period", s.suppress_period)]
        items.append(("disabled", "0" if s.enabled else "1"))
        if es:
            annotations: dict[str, Any] = {"mitre_attack": list(s.techniques)}
            if s.tactics:
                annotations["mitre_attack_tactics"] = list(s.tactics)
            items += [
                ("action.correlationsearch.enabled", "1"),
                ("action.correlationsearch.label", s.stanza),
                ("action.correlationsearch.annotations", json.dumps(annotations)),
                ("action.notable", "1"),
                ("action.notable.param.rule_title", s.stanza),
                ("action.notable.param.rule_description", s.description),
                ("action.notable.param.security_domain", "identity"),
                ("action.notable.param.severity", s.severity),
            ]
            if s.risk_objects:
                risk = [{"risk_object_field": f, "risk_object_type": t, "risk_score": s.risk_score}
                        for f, t in s.risk_objects]
                items += [("action.risk", "1"), ("action.risk.param._risk", json.dumps(risk))]
        items += list(s.extra.items())
        out.append("\n" + _stanza(s.stanza, items))
    return "".join(out)


def render_macros(sources: Sequence[DataSource], searches: Sequence[SavedSearch]) -> str:
    out = ["# Generated by stormpack. Override any macro in local/macros.conf.\n"]
    for ds in sources:
        out.append("\n" + _stanza(ds.macro, [
            ("definition", ds.definition),
            ("description", f"Base search of the stormpack {ds.logsource} rules: point it at "
                            "the index/sourcetype holding these events."),
        ]))
    for s in searches:
        out.append("\n" + _stanza(s.filter_macro, [
            ("definition", "search *"),
            ("description", f"Tuning hook of '{s.stanza}': replace with e.g. "
                            "search NOT user=svc_backup to drop known-good results."),
        ]))
    return "".join(out)


def render_transforms(lookups: Sequence[Lookup]) -> str:
    out = ["# Generated by stormpack: the tenant lists. Edit lookups/*.csv (or upload your own).\n"]
    for lk in lookups:
        out.append("\n" + _stanza(lk.name, [("filename", lk.filename)]))
    return "".join(out)


def render_lookup_csv(lk: Lookup) -> str:
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    w.writerow([lk.column])
    for v in lk.values:
        w.writerow([v])
    return buf.getvalue()


def render_app_conf(app_id: str, label: str, description: str) -> str:
    return (
        "# Generated by stormpack.\n"
        "[install]\nis_configured = 0\nbuild = 1\n\n"
        f"[launcher]\nauthor = stormpack\nversion = {__version__}\ndescription = {description}\n\n"
        f"[package]\nid = {app_id}\ncheck_for_updates = 0\n\n"
        f"[ui]\nis_visible = 0\nlabel = {label}\n\n"
        f"[id]\nname = {app_id}\nversion = {__version__}\n"
    )


DEFAULT_META = (
    "# Generated by stormpack.\n"
    "[]\naccess = read : [ * ], write : [ admin, sc_admin ]\nexport = system\n\n"
    "[savedsearches]\nowner = admin\n"
)


def render_readme(searches: Sequence[SavedSearch], lookups: Sequence[Lookup],
                  sources: Sequence[DataSource]) -> str:
    lines = [
        "stormpack - Storm-0558 / mailbox-compromise detections for Splunk",
        "",
        "Every saved search is installed DISABLED. Enable the ones you want in",
        "Settings > Searches, reports, and alerts (or local/savedsearches.conf).",
        "",
        "Data sources: point these macros at your data (local/macros.conf):",
        *[f"  {ds.macro} = {ds.definition}" for ds in sources],
        "",
        "Tuning: every search ends in its own <rule>_filter macro (definition `search *`).",
        "Tenant lists (allow-lists) live in lookups/*.csv; fill them before enabling the rules:",
        *[f"  {lk.filename}: {lk.description}" for lk in lookups],
        "",
        f"Searches ({len(searches)}):",
        *[f"  {s.stanza}" for s in searches],
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- writing
def _app_files(app_id: str, searches: Sequence[SavedSearch], sources: Sequence[DataSource],
               lookups: Sequence[Lookup], es: bool) -> dict[str, str]:
    files = {
        "default/app.conf": render_app_conf(
            app_id, settings.SPLUNK_APP_LABEL,
            "Sigma-derived detections of Storm-0558 forged-token mail access and mailbox compromise.",
        ),
        "default/savedsearches.conf": render_savedsearches(searches, es=es),
        "default/macros.conf": render_macros(sources, searches),
        "metadata/default.meta": DEFAULT_META,
        "README.txt": render_readme(searches, lookups, sources),
    }
    if lookups:
        files["default/transforms.conf"] = render_transforms(lookups)
        for lk in lookups:
            files[f"lookups/{lk.filename}"] = render_lookup_csv(lk)
    return files


def _tgz(app_dir: Path, app_id: str, dest: Path) -> None:
    """A reproducible .tgz: sorted entries, fixed mtime/owner, 0644 files and 0755 dirs."""
    with tarfile.open(dest, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        paths = [app_dir, *sorted(app_dir.rglob("*"))]
        for p in paths:
            arc = app_id if p == app_dir else f"{app_id}/{p.relative_to(app_dir).as_posix()}"
            info = tar.gettarinfo(str(p), arcname=arc)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if p.is_dir():
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                with p.open("rb") as fh:
                    tar.addfile(info, fh)


def write(searches: Sequence[SavedSearch], lookups: Sequence[Lookup], out_dir: Path, *,
          es: bool = False, app_id: str = settings.SPLUNK_APP_ID) -> Path:
    """Validate every search, write the app directory and its .tgz; returns the .tgz path."""
    for s in searches:
        found = problems(s)
        if found:
            raise ArtifactError(f"Splunk saved search '{s.stanza}' is invalid: " + "; ".join(found),
                                s.source)
    seen: dict[str, SavedSearch] = {}
    for s in searches:
        if s.stanza in seen:
            raise ArtifactError(f"two rules give the same saved-search name '{s.stanza}'", s.source)
        seen[s.stanza] = s
    used = set()
    for s in searches:
        used.update(re.findall(r"`(stormpack_[A-Za-z0-9_]+)`", s.search))
    sources = [ds for ds in data_sources().values() if ds.macro in used]
    app_dir = out_dir / app_id
    if app_dir.exists():
        shutil.rmtree(app_dir)
    for rel, text in _app_files(app_id, searches, sources, lookups, es).items():
        p = app_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    tgz = out_dir / f"{app_id}.tgz"
    _tgz(app_dir, app_id, tgz)
    return tgz
