"""``stormpack new``: a rule skeleton, its two fixture case skeletons and its phase-map row.

The rule follows the pack's conventions (docs/writing-rules.md, enforced by ``stormpack
validate``): SigmaHQ key order, a fresh UUID, the file name and folder of its log source, an
ATT&CK technique with one of its tactics, a reference. Its detection selects on fields of a real
record of the log source (data/new_rule_records.yml), and the two cases (a positive and a
near-miss negative) start from that same record, each with a ``todo`` key, so ``stormpack test``
fails with "fill in the cases" until the author has written them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..compiler.targets import TARGETS
from ..errors import NewRuleError as NewRuleError
from ..naming import slug
from ..taxonomy import load_taxonomy
from ..validate.attack import AttackData, Technique, load_attack
from ..validate.conventions import PLACEMENT
from ..yamlio import load_yaml_text

LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
RECORDS_FILE = "data/new_rule_records.yml"
OBSERVED = "Observed in Storm-0558:"
GENERIC = "Generic mailbox-compromise coverage:"
_PHASE_HEADING = re.compile(r"^## (?P<num>\d+)\. (?P<name>.+)$")
_TECHNIQUE = re.compile(r"^(?:attack\.)?(?P<id>t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class SampleRecord:
    logsource: str  # taxonomy key
    record: dict[str, Any]
    selection: tuple[str, ...]  # fields of the record the skeleton's selection reads
    provenance: str
    reference: str  # the log source's schema page


@dataclass(frozen=True)
class Phase:
    number: int
    name: str
    line: int  # 0-based line of the heading in the phase map


@dataclass(frozen=True)
class NewRule:
    title: str
    logsource: str  # taxonomy key, e.g. m365_audit
    level: str
    technique: str  # T1114.003
    tactic: str  # collection
    observed: bool  # reported for Storm-0558
    author: str = "stormpack"
    phase: int | None = None
    today: date | None = None


@dataclass(frozen=True)
class Written:
    rule: Path
    cases: list[Path]
    phase_map: Path | None  # the rules/README.md a row was added to

    def next_commands(self) -> list[str]:
        r = self.rule.as_posix()
        return [f"stormpack validate {r}", f"stormpack test {r}",
                *(f"stormpack compile --target {t} {r}" for t in TARGETS)]


# ------------------------------------------------------------------------------ inputs
def load_samples() -> dict[str, SampleRecord]:
    text = resources.files("stormpack").joinpath(RECORDS_FILE).read_text(encoding="utf-8")
    data = load_yaml_text(text, f"stormpack/{RECORDS_FILE}")
    return {k: SampleRecord(k, dict(v["record"]), tuple(v["selection"]), str(v["provenance"]),
                            str(v["reference"]))
            for k, v in data["logsources"].items()}


def logsource_key(text: str) -> str:
    """``m365/audit``, ``m365_audit`` or ``azure/signinlogs`` -> the taxonomy key."""
    want = text.strip().lower().replace("/", "_")
    for key, placement in PLACEMENT.items():
        if want in (key, placement.folder.replace("/", "_")):
            return key
    known = ", ".join(p.folder for p in PLACEMENT.values())
    raise NewRuleError(f"unknown log source '{text}' (known: {known})")


def technique(text: str, attack: AttackData | None = None) -> Technique:
    data = attack or load_attack()
    m = _TECHNIQUE.match(text.strip())
    tech = data.technique(m["id"]) if m else None
    if tech is None:
        raise NewRuleError(f"'{text}' is not an ATT&CK v{data.version} technique id (such as T1114.003)")
    return tech


def tactic_for(tech: Technique, wanted: str | None) -> str:
    if wanted is not None:
        t = wanted.strip().lower().removeprefix("attack.")
        if t not in tech.tactics:
            raise NewRuleError(f"tactic '{wanted}' is not a tactic of {tech.id} ({tech.full_name}): "
                               + ", ".join(tech.tactics))
        return t
    if len(tech.tactics) != 1:
        raise NewRuleError(f"{tech.id} ({tech.full_name}) has several tactics: choose one with "
                           "--tactic (" + ", ".join(tech.tactics) + ")")
    return tech.tactics[0]


def read_phases(phase_map: Path) -> list[Phase]:
    """The campaign phases of a phase map (``## N. Name`` headings of rules/README.md)."""
    out = []
    for i, line in enumerate(phase_map.read_text(encoding="utf-8").splitlines()):
        m = _PHASE_HEADING.match(line)
        if m:
            out.append(Phase(int(m["num"]), m["name"], i))
    return out


# ------------------------------------------------------------------------------ texts
def _scalar(value: Any) -> str:
    """A YAML flow scalar that reads back as ``value`` (strings YAML would retype are quoted)."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    return dumped.removesuffix("\n...\n").strip()


def _block(text: str, indent: int) -> str:
    """``>-`` folded text wrapped at 100 columns."""
    pad = " " * indent
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(pad) + len(cur) + 1 + len(w) > 100:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return ">-\n" + "\n".join(pad + ln for ln in lines)


def rule_text(spec: NewRule, sample: SampleRecord, rule_id: str) -> str:
    tax = load_taxonomy().logsources[spec.logsource]
    prefix = OBSERVED if spec.observed else GENERIC
    desc = (f"{prefix} TODO say what the rule detects, why an attacker does it and, for "
            "Storm-0558, where it was reported. The selection below is a start taken from a real "
            f"{tax.title} record: narrow it to the behaviour.")
    tid = spec.technique
    sel = [f"    {f}: {_scalar(value_at(sample.record, f))}" for f in sample.selection]
    ls = "\n".join(f"  {k}: {v}" for k, v in tax.sigma_logsource.items())
    fp = ("TODO: a benign cause of the same record, and what the analyst checks to tell it apart")
    return "\n".join([
        f"title: {_scalar(spec.title)}",
        f"id: {rule_id}",
        "status: experimental",
        f"description: {_block(desc, 2)}",
        "references:",
        f"  - {sample.reference}",
        f"author: {_scalar(spec.author)}",
        f"date: {(spec.today or date.today()).isoformat()}",
        "tags:",
        f"  - attack.{spec.tactic}",
        f"  - attack.{tid.lower()}",
        "logsource:",
        ls,
        "detection:",
        "  selection:",
        *sel,
        "  condition: selection",
        "falsepositives:",
        f"  - {_block(fp, 4)}",
        f"level: {spec.level}",
        "",
    ])


def value_at(record: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = record
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise NewRuleError(f"{RECORDS_FILE}: the sample record has no field {dotted}")
        cur = cur[part]
    return cur


def case_text(expect: str, sample: SampleRecord) -> str:
    if expect == "match":
        desc = "TODO: the attack this case shows."
        todo = ("replace the event with records the rule must fire on: start from the real record "
                "below and change only what the attack changes; say what you changed in provenance")
    else:
        desc = "TODO: the benign look-alike this case shows (a near miss)."
        todo = ("replace the event with near misses that must stay silent: the real record below "
                "with the one detail changed that makes it benign; say what you changed in provenance")
    # JSON is YAML: the record is written as it is, one JSON object (key order kept)
    record = json.dumps(sample.record, ensure_ascii=False)
    return "\n".join([
        f"description: {_scalar(desc)}",
        f"expect: {expect}",
        f"todo: {_block(todo, 2)}",
        f"provenance: {_block(sample.provenance, 2)}",
        "events:",
        f"  - {record}",
        "",
    ])


def phase_row(spec: NewRule, rel: str) -> str:
    folder = PLACEMENT[spec.logsource].folder
    kind = "observed" if spec.observed else "generic"
    return f"| [{spec.title}]({rel}) | {folder} | {spec.level} | single event | {kind} |"


def _add_row(phase_map: Path, phase: int, row: str) -> None:
    lines = phase_map.read_text(encoding="utf-8").splitlines()
    phases = read_phases(phase_map)
    chosen = next((p for p in phases if p.number == phase), None)
    if chosen is None:
        raise NewRuleError(f"{phase_map}: no campaign phase {phase} (phases: "
                           + "; ".join(f"{p.number}. {p.name}" for p in phases) + ")")
    end = next((p.line for p in phases if p.line > chosen.line), len(lines))
    table = [i for i in range(chosen.line, end) if lines[i].startswith("|")]
    if not table:
        raise NewRuleError(f"{phase_map}: phase {phase} has no table to add the rule to")
    lines.insert(table[-1] + 1, row)
    phase_map.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------ writing
def write_new_rule(spec: NewRule, rules_dir: Path, fixtures_dir: Path) -> Written:
    """Write the rule, its fixture skeletons and (when rules/README.md exists) its phase-map row."""
    if spec.level not in LEVELS:
        raise NewRuleError(f"level must be one of {', '.join(LEVELS)}, not '{spec.level}'")
    stem_slug = slug(spec.title)
    if not stem_slug:
        raise NewRuleError(f"title '{spec.title}' has no letters or digits to name the file after")
    placement = PLACEMENT[spec.logsource]
    rule_path = rules_dir / placement.folder / f"{placement.prefix}{stem_slug}.yml"
    case_dir = fixtures_dir / rule_path.stem
    for p in (rule_path, case_dir):
        if p.exists():
            raise NewRuleError(f"{p} already exists: choose another title")
    phase_map = rules_dir / "README.md"
    if phase_map.is_file():
        if spec.phase is None:
            raise NewRuleError(f"{phase_map} maps rules to campaign phases: choose one with --phase")
        if not any(p.number == spec.phase for p in read_phases(phase_map)):
            raise NewRuleError(f"{phase_map}: no campaign phase {spec.phase} (phases: " + "; ".join(
                f"{p.number}. {p.name}" for p in read_phases(phase_map)) + ")")
    sample = load_samples()[spec.logsource]
    rule_path.parent.mkdir(parents=True, exist_ok=True)
    rule_path.write_text(rule_text(spec, sample, str(uuid.uuid4())), encoding="utf-8")
    case_dir.mkdir(parents=True)
    cases = [case_dir / "positive_fill_in.yml", case_dir / "negative_near_miss_fill_in.yml"]
    cases[0].write_text(case_text("match", sample), encoding="utf-8")
    cases[1].write_text(case_text("no_match", sample), encoding="utf-8")
    added_to: Path | None = None
    if phase_map.is_file() and spec.phase is not None:
        rel = rule_path.relative_to(rules_dir).as_posix()
        _add_row(phase_map, spec.phase, phase_row(spec, rel))
        added_to = phase_map
    return Written(rule_path, cases, added_to)


def phase_choices(rules_dir: Path) -> Sequence[Phase]:
    phase_map = rules_dir / "README.md"
    return read_phases(phase_map) if phase_map.is_file() else []
