"""The alert budget: learn on the first half of the generated month, alert on the second (not a test).

    python bench/noise/evaluate.py [--data bench/data/noise] [--users 60] [--doc docs/noise.md]

1. generates the month (``generate.py``) unless ``--data`` already holds it with the same
   arguments (``tenant.json``);
2. learns the tenant's values from the FIRST half with ``stormpack baseline --events first/ -o
   values/``, then applies the analyst's review of the report's review items (``review.yml``);
3. hunts the SECOND half with ``stormpack hunt --values <learned> --format jsonl`` (once with the
   reviewed values, once with the baseline's alone);
4. turns the hits into alerts (definition: ``ALERT_DEFINITION`` below, written into the doc),
   compares each rule's benign alerts per 1,000 users per day with its level's budget, and
   scores precision per rule and recall per injected scenario step against ``labels.jsonl``;
5. writes ``docs/noise.md`` (the table, the budget status and, for each rule over budget, the
   decision recorded in ``bench/noise/decisions.yml``) and ``<data>/noise.json``.

Exit status 1 when a rule is over budget and has no decision in decisions.yml.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BUDGET = {"critical": 0.05, "high": 0.05, "medium": 0.5, "low": 2.0}

ALERT_DEFINITION = """\
* **single-event rule**: one alert per (rule, entity, run interval). The run interval is the
  rule's Sentinel `queryFrequency` from the pack's schedule model
  (`stormpack.artifacts.schedule.sentinel_plan`: 1 hour for high and medium, 1 day for low,
  unless the rule overrides it); a run alerts on the records new in its interval. The entity is
  the first field of the record the artifacts map to an entity
  (`stormpack.artifacts.settings.ENTITY_SOURCES`: account, else address, else application,
  else mailbox). Sentinel groups a run's rows into one alert (`aggregationKind: SingleAlert`),
  so counting one per entity and run is an upper bound of what Sentinel raises and what an
  analyst triages (one incident per user per run).
* **correlation**: one alert per (rule, group) and suppression period: the matcher's
  correlation hits of one group are one alert while each starts within the rule's Splunk
  suppression period (`alert.suppress.period` = run interval + ingestion delay + window, the
  dispatch window of `stormpack.artifacts.schedule.splunk_plan`) of the alert before; Sentinel
  keeps only groups not already returned by the previous run (`new_groups_only`).
* **hunting-only rules** (`RuleMeta.is_hunting`: time-bound rules, informational rules and rules
  with `hunting_only: true`) raise no alert; their hits are listed as hunting hits.
* **base rules** of a correlation with `generate: false` raise nothing on their own (the hunt
  reports only their correlation).
* An alert is **malicious** when one of its records carries a label, else **benign**; the
  budget counts benign alerts only: alerts per 1,000 users per day =
  benign alerts / (users / 1000) / days of the second half."""


@dataclass
class RuleInfo:
    id: str
    title: str
    level: str
    path: str
    correlation: bool
    hunting: bool
    frequency: timedelta
    suppress: timedelta
    disabled_by: tuple[str, ...] = ()


@dataclass
class Alert:
    rule: str
    key: tuple[Any, ...]
    start: datetime
    records: set[tuple[str, int]] = field(default_factory=set)


def _parse_time(text: str) -> datetime:
    t = text.replace("Z", "+00:00")
    if "." in t:
        head, tail = t.split(".", 1)
        zone = tail[tail.find("+") :] if "+" in tail else ""
        t = head + zone
    d = datetime.fromisoformat(t)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _get(record: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = record
    for part in dotted.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def rule_infos(rules_dir: Path, values: Mapping[str, Sequence[str]]) -> dict[str, RuleInfo]:
    from stormpack.artifacts import lists
    from stormpack.artifacts.build import collect_metas, unfilled_lists
    from stormpack.artifacts.schedule import sentinel_plan, splunk_plan
    from stormpack.ruleset import load_ruleset

    ruleset = load_ruleset([rules_dir])
    loaded = list(ruleset)
    metas = collect_metas(loaded)
    try:
        disabled = unfilled_lists(lists.tenant_lists(loaded, values), loaded)
    except Exception as exc:  # a values dir lacking a list: reported, every rule counted as enabled
        print(f"note: tenant lists not checked: {exc}", file=sys.stderr)
        disabled = {}
    out: dict[str, RuleInfo] = {}
    for rid, m in metas.items():
        plan = sentinel_plan(m)
        out[rid] = RuleInfo(
            rid,
            m.title,
            m.level,
            str(m.path.relative_to(ROOT) if m.path.is_absolute() else m.path),
            m.is_correlation,
            m.is_hunting,
            plan.frequency,
            splunk_plan(m).plan.lookback,
            tuple(disabled.get(rid, ())),
        )
    return out


def entity_of(event: Mapping[str, Any]) -> str:
    from stormpack.artifacts.settings import ENTITY_SOURCES

    for kind in ("Account", "IP", "CloudApplication", "Mailbox"):
        for src in ENTITY_SOURCES:
            if src.entity_type == kind:
                v = _get(event, src.field)
                if v not in (None, ""):
                    return f"{kind}:{str(v).lower()}"
    return "none"


def load_labels(data: Path) -> dict[tuple[str, int], tuple[str, str]]:
    out: dict[tuple[str, int], tuple[str, str]] = {}
    with (data / "labels.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            lab = json.loads(line)
            out[(lab["file"], int(lab["index"]))] = (lab["scenario"], lab["step"])
    return out


def _rel(source: str, data: Path) -> str:
    p = Path(source)
    if not p.is_absolute():
        p = (ROOT / p).resolve()
    return p.relative_to(data.resolve()).as_posix()


def alerts_from_hits(
    hits: Iterable[Mapping[str, Any]],
    rules: Mapping[str, RuleInfo],
    data: Path,
    labels: Mapping[tuple[str, int], tuple[str, str]],
) -> tuple[list[Alert], list[Alert], int]:
    """(alerts, hunting-only hits as one-record 'alerts', label mismatches)."""
    single: dict[tuple[Any, ...], Alert] = {}
    hunting: list[Alert] = []
    corr: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    mismatches = 0
    corr_hits = []
    for h in hits:
        info = rules[h["rule_id"]]
        if "group" in h:
            corr_hits.append(h)
            continue
        ref = (_rel(h["source"], data), int(h["event_index"]))
        if ref in labels and not _label_matches(h["event"], ref, data):
            mismatches += 1
        t = _parse_time(h["timestamp"])
        if info.hunting:
            hunting.append(Alert(info.id, (), t, {ref}))
            continue
        step = int(info.frequency.total_seconds())
        bucket = int(t.timestamp()) // step
        key = (info.id, entity_of(h["event"]), bucket)
        a = single.setdefault(key, Alert(info.id, key, t))
        a.records.add(ref)
    for h in sorted(corr_hits, key=lambda x: x["first_seen"]):
        info = rules[h["rule_id"]]
        refs = {(_rel(e["source"], data), int(e["event_index"])) for e in h["events"]}
        t = _parse_time(h["first_seen"])
        if info.hunting:
            hunting.append(Alert(info.id, (), t, refs))
            continue
        gkey = (info.id, json.dumps(h["group"], sort_keys=True))
        series = corr[gkey]
        if series and t - series[-1].start <= info.suppress:
            series[-1].records |= refs
        else:
            series.append(Alert(info.id, gkey, t, refs))
    alerts = list(single.values()) + [a for s in corr.values() for a in s]
    return alerts, hunting, mismatches


_ID_CACHE: dict[str, list[str]] = {}


def _label_matches(event: Mapping[str, Any], ref: tuple[str, int], data: Path) -> bool:
    """The hunt's record index points at the labelled line (checks the reader's numbering)."""
    if ref[0] not in _ID_CACHE:
        with (data / ref[0]).open(encoding="utf-8") as fh:
            _ID_CACHE[ref[0]] = [
                str(json.loads(x).get("Id") or json.loads(x)["properties"]["id"]) for x in fh
            ]
    want = _ID_CACHE[ref[0]][ref[1]]
    return str(event.get("Id") or _get(event, "properties.id")) == want


# ----------------------------------------------------------------------------- running
def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    print("+ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, check=False)


def stormpack() -> str:
    exe = Path(sys.executable).with_name("stormpack")
    return str(exe) if exe.exists() else (shutil.which("stormpack") or "stormpack")


def ensure_data(data: Path, users: int, days: int, seed: int) -> dict[str, Any]:
    import generate

    want = {"users": users, "days": days, "seed": seed}
    meta = data / "tenant.json"
    if meta.exists():
        have = json.loads(meta.read_text(encoding="utf-8"))
        if all(have.get(k) == v for k, v in want.items()):
            return dict(have)
    if data.exists():
        shutil.rmtree(data)
    generate.main(["--out", str(data), "--users", str(users), "--days", str(days), "--seed", str(seed)])
    return dict(json.loads(meta.read_text(encoding="utf-8")))


def learn_values(data: Path) -> Path:
    """The values ``stormpack baseline`` learns from the first half (``<data>/values``)."""
    out = data / "values"
    if out.exists():
        shutil.rmtree(out)
    res = run(
        [
            stormpack(),
            "baseline",
            "--events",
            str(data / "first"),
            "-o",
            str(out),
            "--report",
            str(data / "baseline-report.md"),
        ]
    )
    if res.returncode != 0:
        raise SystemExit(f"stormpack baseline failed ({res.returncode}):\n{res.stderr}")
    return out


def apply_review(
    learned: Path, data: Path, review_file: Path, tenant: Mapping[str, Any]
) -> tuple[Path, list[str]]:
    """``<data>/values-reviewed``: the learned values plus the analyst's accepted review items
    (``review.yml``); (directory, one line per addition for the doc). An entry the baseline
    report does not list for review is refused."""
    review = yaml.safe_load(review_file.read_text(encoding="utf-8")) or {}
    report = json.loads((data / "baseline-report.json").read_text(encoding="utf-8"))["lists"]
    out = data / "values-reviewed"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(learned, out)
    files = {
        name: f
        for f in sorted(out.glob("*.yml"))
        for name in (yaml.safe_load(f.read_text(encoding="utf-8")) or {})
    }
    notes: list[str] = []
    for name, entries in review.items():
        if name not in files:
            raise SystemExit(f"{review_file}: list '{name}' is not in the learned values")
        added: list[str] = []
        for e in entries:
            if "value" in e:
                listed = {v["value"] for v in report.get(name, {}).get("values", []) if v.get("review")}
                if e["value"] not in listed:
                    raise SystemExit(
                        f"{review_file}: {name}: '{e['value']}' is not a review item of the baseline report"
                    )
                added.append(str(e["value"]))
            else:
                added += [u["upn"] for u in tenant["profiles"] if e["role"] in u["roles"]]
        doc = yaml.safe_load(files[name].read_text(encoding="utf-8"))
        doc[name] = [v for v in doc[name] if "invalid" not in str(v)] + [
            a for a in added if a not in doc[name]
        ]
        files[name].write_text(yaml.safe_dump(doc, sort_keys=True), encoding="utf-8")
        notes.append(f"`{name}` + " + ", ".join(f"`{a}`" for a in added))
    return out, notes


def hunt(data: Path, values: Path, name: str) -> list[dict[str, Any]]:
    out = data / name
    res = run(
        [
            stormpack(),
            "hunt",
            "--rules",
            "rules",
            "--values",
            str(values),
            "--events",
            str(data / "second"),
            "--format",
            "jsonl",
            "--output",
            str(out),
            "--max-disorder",
            "none",
        ]
    )
    if res.returncode not in (0,):
        raise SystemExit(f"stormpack hunt failed ({res.returncode}):\n{res.stderr}")
    with out.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# ----------------------------------------------------------------------------- scoring and writing
@dataclass
class RuleRow:
    info: RuleInfo
    alerts: int = 0
    malicious: int = 0
    hunting_hits: int = 0
    hunting_malicious: int = 0

    @property
    def benign(self) -> int:
        return self.alerts - self.malicious


def score(
    alerts: Sequence[Alert],
    hunting: Sequence[Alert],
    rules: Mapping[str, RuleInfo],
    labels: Mapping[tuple[str, int], tuple[str, str]],
) -> tuple[dict[str, RuleRow], dict[str, Any]]:
    rows = {rid: RuleRow(info) for rid, info in rules.items()}
    for a in alerts:
        rows[a.rule].alerts += 1
        if any(r in labels for r in a.records):
            rows[a.rule].malicious += 1
    for h in hunting:
        rows[h.rule].hunting_hits += 1
        if any(r in labels for r in h.records):
            rows[h.rule].hunting_malicious += 1
    alerted = {r for a in alerts for r in a.records}
    hunted = {r for a in hunting for r in a.records}
    steps: dict[tuple[str, str], dict[str, Any]] = {}
    for ref, (scenario, step) in labels.items():
        s = steps.setdefault((scenario, step), {"records": 0, "alerted": 0, "hunted": 0, "rules": set()})
        s["records"] += 1
        s["alerted"] += ref in alerted
        s["hunted"] += ref in hunted or ref in alerted
    for a in alerts:
        for r in a.records:
            if r in labels:
                steps[labels[r]]["rules"].add(rules[a.rule].title)
    return rows, {f"{k[0]}/{k[1]}": v | {"rules": sorted(v["rules"])} for k, v in steps.items()}


def _status(row: RuleRow, rate: float) -> str:
    if row.info.hunting:
        return "hunting-only"
    limit = BUDGET.get(row.info.level)
    if limit is None:
        return "hunting-only"
    return "within" if rate <= limit else "**OVER**"


def write_doc(
    doc: Path,
    rows: Mapping[str, RuleRow],
    raw_rows: Mapping[str, RuleRow],
    steps: Mapping[str, Any],
    tenant: Mapping[str, Any],
    review_notes: Sequence[str],
    decisions: Mapping[str, Any],
    hits: int,
) -> list[str]:
    users, days = int(tenant["users"]), int(tenant["second_half_days"])
    per = 1000.0 / users / days
    undecided: list[str] = []
    lines = [
        "# Noise: the alert budget on a generated tenant month",
        "",
        "Generated by `make noise` (`bench/noise/evaluate.py`); do not edit by hand: the decisions",
        "come from `bench/noise/decisions.yml`, the month from `bench/noise/generate.py` (see",
        "`bench/noise/README.md` for what the month holds and where each record shape comes from).",
        "",
        f"* Tenant: {users} users, {tenant['days']} days from {tenant['start']} (seed {tenant['seed']});",
        "  records: " + ", ".join(f"`{k}` {v:,}" for k, v in sorted(tenant["records"].items())) + ".",
        "* Values: learned by `stormpack baseline --events first/ -o values/` from the first half",
        "  (report: `<data>/baseline-report.md`), plus the analyst's review of the values the report",
        "  lists for review (`bench/noise/review.yml`, each with the check behind it): "
        + ("; ".join(review_notes) or "none")
        + '. The column "benign, baseline only" is the same',
        "  count with the baseline's values alone.",
        f"* Evaluated: the second half ({days} days), {hits:,} hunt results.",
        f"* Resolution: one benign alert in the second half = {per:.2f} alerts per 1,000 users per day.",
        "",
        "## What counts as an alert",
        "",
        ALERT_DEFINITION,
        "",
        "Budget (benign alerts per 1,000 users per day): high and critical <= 0.05, medium <= 0.5,",
        "low <= 2; informational rules are hunting-only.",
        "",
        "## Per rule",
        "",
        "Rules with no alert and no hunting hit are left out (listed at the end).",
        "",
        "| rule | level | kind | alerts (benign / malicious) | benign, baseline only "
        "| benign per 1k users/day | budget | status | decision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    quiet: list[str] = []
    total_alerts = total_mal = 0
    for row in sorted(rows.values(), key=lambda r: (-r.benign, -r.alerts, r.info.title)):
        info = row.info
        rate = row.benign * per
        status = _status(row, rate)
        total_alerts += row.alerts
        total_mal += row.malicious
        raw = raw_rows[info.id]
        if not row.alerts and not row.hunting_hits and not raw.alerts:
            quiet.append(info.title)
            continue
        kind = "correlation" if info.correlation else "single event"
        if info.disabled_by:
            kind += " (disabled: " + ", ".join(info.disabled_by) + " unfilled)"
        dec = decisions.get(info.id)
        decision = ""
        if dec:
            decision = f"{dec['decision']} (see below)"
        elif status == "**OVER**":
            decision = "UNDECIDED"
            undecided.append(info.title)
        if info.hunting:
            counts = f"hunting hits {row.hunting_hits} ({row.hunting_malicious} malicious)"
            budget = "-"
            shown_rate = "-"
        else:
            counts = f"{row.benign} / {row.malicious}"
            budget = str(BUDGET.get(info.level, "-"))
            shown_rate = f"{rate:.2f}"
        lines.append(
            f"| [{info.title}](../{info.path}) | {info.level} | {kind} | {counts} | "
            f"{'-' if info.hunting else raw.benign} | {shown_rate} | {budget} | {status} | {decision} |"
        )
    precision = total_mal / total_alerts if total_alerts else 0.0
    lines += [
        "",
        f"All alerts: {total_alerts} ({total_mal} malicious, {total_alerts - total_mal} benign): "
        f"precision {precision:.0%}.",
        "",
        "## Recall per injected step",
        "",
        "`alerted` = labelled records inside at least one alert; `seen` = inside an alert or a",
        "hunting-only hit; precision = malicious alerts / all alerts of the rules that alerted on the step",
        "(over the whole second half, both intrusions counting as malicious).",
        "",
        "| scenario / step | records | alerted | seen | precision of its alerting rules | alerting rules |",
        "|---|---|---|---|---|---|",
    ]
    by_title = {r.info.title: r for r in rows.values()}
    for name, s in sorted(steps.items()):
        fired = [by_title[t] for t in s["rules"]]
        n_al, n_mal = sum(r.alerts for r in fired), sum(r.malicious for r in fired)
        prec = f"{n_mal / n_al:.0%} ({n_mal} of {n_al} alerts)" if n_al else "-"
        lines.append(
            f"| {name} | {s['records']} | {s['alerted']} ({s['alerted'] / s['records']:.0%}) | "
            f"{s['hunted']} ({s['hunted'] / s['records']:.0%}) | {prec} | {', '.join(s['rules']) or '-'} |"
        )
    rec_all = sum(s["records"] for s in steps.values())
    rec_al = sum(s["alerted"] for s in steps.values())
    detected = sum(1 for s in steps.values() if s["alerted"])
    lines += [
        "",
        f"Malicious records alerted: {rec_al} of {rec_all} ({rec_al / rec_all:.0%}); steps with at "
        f"least one alert: {detected} of {len(steps)}.",
        "",
    ]
    lines += [
        "## Decisions for the rules over budget",
        "",
        "Measured on the pack before the change (`before`: which round of the generator, same seed and "
        "method), "
        "decided, and re-measured by this run (`now`).",
        "",
    ]
    for rid, dec in decisions.items():
        row = rows.get(rid)
        now = (
            "not in the pack"
            if row is None
            else (
                "hunting-only"
                if row.info.hunting
                else f"{row.benign} benign alerts ({row.benign * per:.2f} per 1k users/day), "
                f"{_status(row, row.benign * per)}"
            )
        )
        lines += [
            f"### {dec['title']}",
            "",
            f"* before: {dec['before']}",
            f"* decision: **{dec['decision']}**",
            f"* why: {' '.join(str(dec['reason']).split())}",
            f"* now: {now}",
            "",
        ]
    if quiet:
        lines += ["## Rules with no alert on this month", "", ", ".join(sorted(quiet)) + ".", ""]
    doc.write_text("\n".join(lines), encoding="utf-8")
    return undecided


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "noise")
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=558)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "noise.md")
    args = ap.parse_args(argv)
    data = args.data.resolve()
    tenant = ensure_data(data, args.users, args.days, args.seed)
    from stormpack.ruleset import load_values

    learned = learn_values(data)
    reviewed, review_notes = apply_review(learned, data, HERE / "review.yml", tenant)
    labels = load_labels(data)
    results = {}
    for key, values_dir in (("baseline", learned), ("reviewed", reviewed)):
        rules = rule_infos(ROOT / "rules", load_values(values_dir))
        hits = hunt(data, values_dir, f"hits-{key}.jsonl")
        alerts, hunting, mismatches = alerts_from_hits(hits, rules, data, labels)
        if mismatches:
            raise SystemExit(
                f"{mismatches} labelled hits point at a record with another id: labels and "
                "hunt record numbering disagree"
            )
        results[key] = (*score(alerts, hunting, rules, labels), len(hits))
    rows, steps, nhits = results["reviewed"]
    raw_rows = results["baseline"][0]
    decisions = yaml.safe_load((HERE / "decisions.yml").read_text(encoding="utf-8")) or {}
    undecided = write_doc(args.doc, rows, raw_rows, steps, tenant, review_notes, decisions, nhits)
    summary = {
        "review": review_notes,
        "rules": {
            r.info.title: {
                "level": r.info.level,
                "alerts": r.alerts,
                "malicious": r.malicious,
                "hunting": r.info.hunting,
                "hunting_hits": r.hunting_hits,
                "benign_with_baseline_values_only": raw_rows[r.info.id].benign,
            }
            for r in rows.values()
            if r.alerts or r.hunting_hits or raw_rows[r.info.id].alerts
        },
        "steps": steps,
    }
    (data / "noise.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.doc}")
    if undecided:
        print(
            "over budget with no decision in bench/noise/decisions.yml: " + "; ".join(undecided),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
