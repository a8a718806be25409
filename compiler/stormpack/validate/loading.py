"""Reading rule files for validation: every file is parsed on its own, so one broken file
becomes a finding and the rest of the pack is still checked (unlike ``load_ruleset``, which
stops at the first error, as a compiler should)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from .. import firstseen
from ..errors import RuleLoadError
from ..ruleset import resolve_rule_paths
from ..yamlio import YamlError, load_yaml_text, read_text_file
from .findings import Finding, display_path
from .locate import value_line

AnyRule = SigmaRule | SigmaCorrelationRule


@dataclass
class RuleDoc:
    """One YAML document of a rule file: the raw mapping and, if it parsed, the Sigma rule."""

    path: Path
    text: str
    raw: dict[str, Any]
    rule: AnyRule | None

    @property
    def id(self) -> str | None:
        v = self.raw.get("id")
        return str(v) if v is not None else None

    @property
    def title(self) -> str | None:
        v = self.raw.get("title")
        return str(v) if isinstance(v, str) else None

    @property
    def is_correlation(self) -> bool:
        return "correlation" in self.raw


@dataclass
class LoadedPack:
    docs: list[RuleDoc] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # base rules of the correlations, loaded from the rule set so references resolve; not validated
    context: list[RuleDoc] = field(default_factory=list)


def _display(path: Path) -> str:
    return display_path(path)


def load_files(paths: Sequence[Path], context: Sequence[Path] = ()) -> LoadedPack:
    """Parse ``paths`` for validation; ``context`` files (the correlations' base rules found in
    the rule set) are parsed only so references resolve: their own findings are not reported."""
    pack = LoadedPack(files=list(paths))
    for path in paths:
        _load_one(path, pack)
    side = LoadedPack()
    for path in context:
        _load_one(path, side)
    pack.context = side.docs
    _resolve_correlations(pack)
    return pack


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files and directories -> rule files; an empty path list or empty directory is an error."""
    return resolve_rule_paths(paths)


def _load_one(path: Path, pack: LoadedPack) -> None:
    disp = _display(path)
    try:
        text = read_text_file(path)
        docs = load_yaml_text(text, disp, allow_aliases=False, multi=True)
    except YamlError as exc:
        line = exc.location.line if exc.location else None
        pack.findings.append(Finding("stormpack.yaml", exc.message, disp, line))
        return
    docs = [d for d in docs if d is not None]
    if not docs:
        pack.findings.append(Finding("stormpack.yaml", "file holds no YAML document", disp, 1))
        return
    if len(docs) > 1:
        pack.findings.append(
            Finding(
                "stormpack.one_rule_per_file",
                f"file holds {len(docs)} YAML documents; one rule per file",
                disp,
                1,
            )
        )
    for raw in docs:
        if not isinstance(raw, dict):
            pack.findings.append(
                Finding(
                    "stormpack.yaml",
                    f"a Sigma rule must be a YAML mapping, not {type(raw).__name__}",
                    disp,
                    1,
                )
            )
            continue
        rule = _parse_sigma(path, text, raw, pack)
        pack.docs.append(RuleDoc(path=path, text=text, raw=raw, rule=rule))


def _parse_sigma(path: Path, text: str, raw: dict[str, Any], pack: LoadedPack) -> AnyRule | None:
    disp = _display(path)
    rule_id = str(raw["id"]) if raw.get("id") is not None else None
    try:
        docs, first_seen = firstseen.prepare([raw], path, text)
    except RuleLoadError as exc:
        line = exc.location.line if exc.location else None
        pack.findings.append(Finding("stormpack.first_seen", exc.message, disp, line, rule_id=rule_id))
        return None
    try:
        coll = SigmaCollection.from_dicts(
            docs, collect_errors=True, source=SigmaRuleLocation(path), resolve_references=False
        )
    except SigmaError as exc:
        pack.findings.append(_sigma_finding(exc, disp, text, rule_id))
        return None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        pack.findings.append(
            Finding(
                "stormpack.sigma", f"invalid Sigma: {type(exc).__name__}: {exc}", disp, None, rule_id=rule_id
            )
        )
        return None
    errors: list[SigmaError] = list(coll.errors)
    for r in coll.rules:
        errors.extend(e for e in r.errors if e not in errors)
    if errors:
        for err in errors:
            pack.findings.append(_sigma_finding(err, disp, text, rule_id))
        return None
    if not coll.rules:
        return None
    rule: AnyRule = coll.rules[0]
    firstseen.mark(rule, first_seen[0])
    return rule


def _sigma_finding(exc: SigmaError, disp: str, text: str, rule_id: str | None) -> Finding:
    msg = str(exc)
    for suffix in (f" in {disp}", f" in {Path(disp)}"):
        if msg.endswith(suffix):
            msg = msg[: -len(suffix)]
    line = None
    for quoted in msg.split("'")[1::2]:
        line = value_line(text, quoted)
        if line:
            break
    return Finding("stormpack.sigma", f"invalid Sigma: {msg}", disp, line, rule_id=rule_id)


def _resolve_correlations(pack: LoadedPack) -> None:
    rules: list[Any] = [d.rule for d in [*pack.docs, *pack.context] if d.rule is not None]
    coll = SigmaCollection(init_rules=rules, resolve_references=False)
    for d in pack.docs:
        if isinstance(d.rule, SigmaCorrelationRule):
            try:
                d.rule.resolve_rule_references(coll)
            except SigmaError as exc:
                msg = str(exc)
                line = None
                for quoted in msg.split("'")[1::2]:
                    line = value_line(d.text, quoted)
                    if line:
                        break
                pack.findings.append(
                    Finding(
                        "stormpack.correlation_reference",
                        f"{msg} (validate the referenced rules together with the correlation)",
                        _display(d.path),
                        line,
                        rule_id=d.id,
                    )
                )
