"""The pack's own conventions (docs/validation.md): folder and file name from the log source
and title, key order and required keys, references, description wording, ATT&CK technique +
tactic pairs, unique id and title, log source and every field in the taxonomy."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from ..errors import TaxonomyError
from ..naming import slug
from ..ruleset import iter_detection_fields
from ..taxonomy import LogsourceSpec, Taxonomy, load_taxonomy
from .attack import AttackData, load_attack
from .element_names import check_element_names
from .findings import Finding, display_path
from .loading import RuleDoc
from .locate import field_line, top_level_key_line, value_line

RULE_KEYS: tuple[str, ...] = (
    "title",
    "id",
    "name",
    "status",
    "description",
    "references",
    "author",
    "date",
    "modified",
    "tags",
    "logsource",
    "detection",
    "falsepositives",
    "level",
)
# A correlation rule has the same order with `correlation` where `logsource, detection` stand.
_BODY = RULE_KEYS.index("logsource")
CORRELATION_KEYS: tuple[str, ...] = (*RULE_KEYS[:_BODY], "correlation", *RULE_KEYS[_BODY + 2 :])
OPTIONAL_KEYS = frozenset({"name", "modified"})
DESCRIPTION_PREFIXES: tuple[str, ...] = ("Observed in Storm-0558:", "Generic mailbox-compromise coverage:")


@dataclass(frozen=True)
class Placement:
    folder: str  # rules/<folder>/
    prefix: str  # file name prefix


# taxonomy log source key -> where its rules live and how their files are named
PLACEMENT: dict[str, Placement] = {
    "m365_audit": Placement("m365/audit", "m365_audit_"),
    "azure_signinlogs": Placement("azure/signinlogs", "azure_signin_"),
    "azure_noninteractivesigninlogs": Placement(
        "azure/noninteractivesigninlogs", "azure_noninteractive_signin_"
    ),
    "azure_auditlogs": Placement("azure/auditlogs", "azure_audit_"),
    "azure_riskdetection": Placement("azure/riskdetection", "azure_riskdetection_"),
    "windows_process_creation": Placement("windows/process_creation", "win_proc_creation_"),
    "windows_image_load": Placement("windows/image_load", "win_image_load_"),
    "windows_file_event": Placement("windows/file_event", "win_file_event_"),
    "windows_process_access": Placement("windows/process_access", "win_proc_access_"),
    "windows_registry_set": Placement("windows/registry_set", "win_registry_set_"),
    "windows_network_connection": Placement("windows/network_connection", "win_net_connection_"),
    "webserver": Placement("web/webserver", "web_"),
}
MULTI = Placement("multi", "corr_multi_")
_TECHNIQUE_RE = re.compile(r"^t\d{4}(\.\d{3})?$")


def canonical_keys(raw: dict[str, Any]) -> tuple[str, ...]:
    return CORRELATION_KEYS if "correlation" in raw else RULE_KEYS


class ConventionChecker:
    """Runs every per-rule convention check, then the pack-wide ones (:meth:`finish`)."""

    def __init__(self, taxonomy: Taxonomy | None = None, attack: AttackData | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.attack = attack or load_attack()

    # ------------------------------------------------------------------ helpers
    def _f(self, doc: RuleDoc, check: str, message: str, line: int | None) -> Finding:
        return Finding(f"stormpack.{check}", message, display_path(doc.path), line, rule_id=doc.id)

    def logsource_key(self, doc: RuleDoc) -> str | None:
        if isinstance(doc.rule, SigmaRule):
            try:
                return self.taxonomy.logsource_for(doc.rule.logsource, doc.title or "").key
            except TaxonomyError:
                return None
        return None

    # ------------------------------------------------------------------ per rule
    def check(self, doc: RuleDoc, by_rule: dict[int, RuleDoc]) -> list[Finding]:
        out: list[Finding] = []
        out += self.check_keys(doc)
        out += self.check_text_fields(doc)
        out += self.check_tags(doc)
        if isinstance(doc.rule, SigmaRule):
            out += self.check_logsource_and_fields(doc)
            out += check_element_names(doc, self.taxonomy)
        elif isinstance(doc.rule, SigmaCorrelationRule):
            out += self.check_correlation_fields(doc, by_rule)
        out += self.check_placement(doc, by_rule)
        return out

    def check_keys(self, doc: RuleDoc) -> list[Finding]:
        out = []
        keys = list(doc.raw.keys())
        canon = canonical_keys(doc.raw)
        for k in canon:
            if k not in OPTIONAL_KEYS and k not in doc.raw:
                out.append(self._f(doc, "required_key", f"required key '{k}' is missing", 1))
        known = [k for k in keys if k in canon]
        expected = sorted(known, key=canon.index)
        if known != expected:
            for got, want in zip(known, expected, strict=True):
                if got != want:
                    out.append(
                        self._f(
                            doc,
                            "key_order",
                            f"key '{got}' is out of order: expected order is {', '.join(expected)} "
                            "(run `stormpack fmt`)",
                            top_level_key_line(doc.text, got),
                        )
                    )
                    break
        else:
            last_known = max((keys.index(k) for k in known), default=-1)
            for k in keys[: last_known + 1]:
                if k not in canon:
                    out.append(
                        self._f(
                            doc,
                            "key_order",
                            f"extra key '{k}' must come after the standard keys (run `stormpack fmt`)",
                            top_level_key_line(doc.text, k),
                        )
                    )
                    break
        return out

    def check_text_fields(self, doc: RuleDoc) -> list[Finding]:
        out = []
        refs = doc.raw.get("references")
        if "references" in doc.raw and (not isinstance(refs, list) or not refs):
            out.append(
                self._f(
                    doc,
                    "references",
                    "references must be a non-empty list",
                    top_level_key_line(doc.text, "references"),
                )
            )
        desc = doc.raw.get("description")
        if isinstance(desc, str) and not desc.strip().startswith(DESCRIPTION_PREFIXES):
            out.append(
                self._f(
                    doc,
                    "description",
                    "description must start with " + " or ".join(f"'{p}'" for p in DESCRIPTION_PREFIXES),
                    top_level_key_line(doc.text, "description"),
                )
            )
        return out

    def check_tags(self, doc: RuleDoc) -> list[Finding]:
        tags = doc.raw.get("tags")
        if "tags" not in doc.raw:
            return []  # reported as a missing required key
        tag_line = top_level_key_line(doc.text, "tags")
        if not isinstance(tags, list):
            return [self._f(doc, "attack_tags", "tags must be a list", tag_line)]
        names = [t[len("attack.") :].lower() for t in tags if isinstance(t, str) and t.startswith("attack.")]
        techniques = [n for n in names if _TECHNIQUE_RE.match(n)]
        tactics = {n for n in names if self.attack.tactic(n) is not None}
        out = []
        if not techniques or not tactics:
            out.append(
                self._f(
                    doc,
                    "attack_tags",
                    f"tags need at least one ATT&CK v{self.attack.version} technique (attack.tNNNN[.NNN]) "
                    "and one tactic (attack.<tactic>)",
                    tag_line,
                )
            )
        for t in techniques:
            tech = self.attack.technique(t)
            if tech is None:
                continue  # unknown technique: reported by the attacktag validator
            if not tactics.intersection(tech.tactics):
                out.append(
                    self._f(
                        doc,
                        "attack_tactic",
                        f"technique attack.{t} ({tech.full_name}) needs one of its tactics: "
                        + ", ".join(f"attack.{x}" for x in tech.tactics),
                        value_line(doc.text, f"attack.{t}", tag_line or 1),
                    )
                )
        return out

    def check_logsource_and_fields(self, doc: RuleDoc) -> list[Finding]:
        assert isinstance(doc.rule, SigmaRule)
        ls_line = top_level_key_line(doc.text, "logsource")
        try:
            spec = self.taxonomy.logsource_for(doc.rule.logsource, doc.title or "")
        except TaxonomyError as exc:
            return [self._f(doc, "unknown_logsource", str(exc), ls_line)]
        det_line = top_level_key_line(doc.text, "detection") or 1
        out = []
        seen: set[str] = set()
        for fname, _det in iter_detection_fields(doc.rule):
            if fname in seen:
                continue
            seen.add(fname)
            if spec.field(fname) is None:
                out.append(
                    self._f(
                        doc,
                        "unknown_field",
                        f"field '{fname}' is not in the taxonomy for {spec.key} (docs/taxonomy.md)",
                        field_line(doc.text, fname, det_line),
                    )
                )
        return out

    def _referenced(self, doc: RuleDoc, by_rule: dict[int, RuleDoc]) -> list[RuleDoc]:
        assert isinstance(doc.rule, SigmaCorrelationRule)
        out = []
        for ref in doc.rule.rules or []:
            target = getattr(ref, "rule", None)
            if target is not None and id(target) in by_rule:
                out.append(by_rule[id(target)])
        return out

    def check_correlation_fields(self, doc: RuleDoc, by_rule: dict[int, RuleDoc]) -> list[Finding]:
        assert isinstance(doc.rule, SigmaCorrelationRule)
        specs: list[LogsourceSpec] = []
        for ref in self._referenced(doc, by_rule):
            key = self.logsource_key(ref)
            if key is not None:
                specs.append(self.taxonomy.logsources[key])
        aliases = set(doc.rule.aliases.aliases.keys()) if doc.rule.aliases else set()
        fields = list(doc.rule.group_by or [])
        cond_field = getattr(doc.rule.condition, "fieldref", None)
        if isinstance(cond_field, str):
            fields.append(cond_field)
        out = []
        corr_line = top_level_key_line(doc.text, "correlation") or 1
        for f in fields:
            if f in aliases:
                continue
            missing = [s.key for s in specs if s.field(f) is None]
            if missing:
                out.append(
                    self._f(
                        doc,
                        "unknown_field",
                        f"correlation field '{f}' is not in the taxonomy for "
                        + ", ".join(sorted(set(missing))),
                        value_line(doc.text, f, corr_line),
                    )
                )
        return out

    def check_placement(self, doc: RuleDoc, by_rule: dict[int, RuleDoc]) -> list[Finding]:
        title = doc.title
        if title is None:
            return []
        allowed: list[Placement]
        what: str
        if isinstance(doc.rule, SigmaRule):
            key = self.logsource_key(doc)
            if key is None or key not in PLACEMENT:
                return []  # unknown log source: reported elsewhere
            allowed = [PLACEMENT[key]]
            what = f"log source {key}"
        elif isinstance(doc.rule, SigmaCorrelationRule):
            keys = {self.logsource_key(r) for r in self._referenced(doc, by_rule)}
            if not keys or None in keys:
                return []  # unresolved reference or unknown log source: reported elsewhere
            if len(keys) == 1:
                (key,) = keys
                assert key is not None
                p = PLACEMENT[key]
                allowed = [Placement(p.folder, "corr_" + p.prefix), MULTI]
                what = f"a correlation over {key}"
            else:
                allowed = [MULTI]
                what = "a correlation over several log sources"
        else:
            return []
        out = []
        parent = doc.path.resolve().parent.as_posix()
        placement = next((p for p in allowed if parent.endswith("/" + p.folder)), None)
        if placement is None:
            out.append(
                self._f(
                    doc,
                    "folder",
                    f"{what} belongs in rules/{' or rules/'.join(p.folder for p in allowed)}/, "
                f"not {display_path(parent)}/",
                    1,
                )
            )
            placement = allowed[0]
        want = placement.prefix + slug(title) + ".yml"
        if doc.path.name != want:
            out.append(
                self._f(
                    doc,
                    "filename",
                    f"file name must be '{want}' (prefix + slug of the title)",
                    top_level_key_line(doc.text, "title"),
                )
            )
        return out

    # ------------------------------------------------------------------ pack-wide
    def finish(self, docs: Sequence[RuleDoc]) -> list[Finding]:
        out: list[Finding] = []
        out += self._unique(docs, "id", "unique_id", lambda d: d.id)
        out += self._unique(docs, "title", "unique_title", lambda d: d.title)
        return out

    def _unique(self, docs: Iterable[RuleDoc], key: str, check: str, get: Any) -> list[Finding]:
        groups: dict[str, list[RuleDoc]] = defaultdict(list)
        for d in docs:
            v = get(d)
            if v:
                groups[str(v).lower() if key == "title" else str(v)].append(d)
        out = []
        for value, ds in groups.items():
            if len(ds) < 2:
                continue
            for d in ds:
                others = ", ".join(display_path(o.path) for o in ds if o is not d)
                out.append(
                    self._f(
                        d,
                        check,
                        f"duplicate {key} '{value}' (also in {others})",
                        top_level_key_line(d.text, key),
                    )
                )
        return out
