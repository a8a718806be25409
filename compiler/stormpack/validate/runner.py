"""One validation run: load every rule under the paths, run the pack conventions, the fixture
check and pySigma's + SigmaHQ's validators, restrict to changed files if asked, then apply
the exceptions."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ruleset import find_base_rules
from .conventions import ConventionChecker
from .exceptions import apply_exceptions, default_exceptions_path, load_exceptions
from .findings import Finding, Report
from .fixtures_check import check_fixtures
from .gitchanges import changed_files
from .loading import expand_paths, load_files
from .pysigma_checks import known_checks as pysigma_checks
from .pysigma_checks import run_validators

STORMPACK_CHECKS: tuple[str, ...] = (
    "yaml",
    "one_rule_per_file",
    "sigma",
    "correlation_reference",
    "required_key",
    "key_order",
    "references",
    "description",
    "attack_tags",
    "attack_tactic",
    "unknown_logsource",
    "unknown_field",
    "element_name",
    "folder",
    "filename",
    "unique_id",
    "unique_title",
    "fixtures",
    "fixture_format",
)


def known_checks() -> set[str]:
    from .pysigma_checks import DISABLED

    return {f"stormpack.{c}" for c in STORMPACK_CHECKS} | (pysigma_checks() - set(DISABLED))


@dataclass(frozen=True)
class ValidateOptions:
    paths: Sequence[str | Path]
    changed_since: str | None = None
    exceptions: Path | None = None  # None: the packaged data/validation_exceptions.yml
    fixtures_root: Path | None = None  # None: <dir of rules/>/fixtures


def validate(opts: ValidateOptions) -> Report:
    files = expand_paths(opts.paths)
    base = find_base_rules(files)
    pack = load_files(files, base.added)
    checker = ConventionChecker()
    by_rule = {id(d.rule): d for d in [*pack.docs, *pack.context] if d.rule is not None}
    findings: list[Finding] = list(pack.findings)
    case_files: dict[Path, list[Path]] = {}
    for doc in pack.docs:
        findings += checker.check(doc, by_rule)
        fx, cases = check_fixtures(doc, opts.fixtures_root)
        findings += [dataclasses.replace(f, rule_id=f.rule_id or doc.id) for f in fx]
        case_files[doc.path.resolve()] = [c.resolve() for c in cases]
    findings += checker.finish(pack.docs)
    findings += run_validators(pack.docs)

    docs = pack.docs
    if opts.changed_since is not None:
        changed = changed_files(opts.changed_since)
        selected = {
            p
            for p, cases in case_files.items()
            if p in changed
            or any(c in changed for c in cases)
            or _fixture_dir_changed(p, changed, opts.fixtures_root)
        }
        selected |= {f.resolve() for f in files if f.resolve() in changed}
        keep = selected | {c for p in selected for c in case_files.get(p, [])}
        findings = [f for f in findings if Path(f.path).resolve() in keep]
        docs = [d for d in docs if d.path.resolve() in selected]
        files = [f for f in files if f.resolve() in selected]

    report = Report(findings=_dedupe(findings), rules_checked=len(docs), files_checked=len(files),
                    base_rules=[p.as_posix() for p in base.added])
    exc_path = opts.exceptions or default_exceptions_path()
    exceptions = load_exceptions(exc_path, known_checks())
    apply_exceptions(report, exceptions, {d.id for d in docs if d.id})
    return report


def _fixture_dir_changed(rule: Path, changed: set[Path], root: Path | None) -> bool:
    from .fixtures_check import fixtures_root_for

    base = (root.resolve() if root else None) or fixtures_root_for(rule)
    if base is None:
        return False
    fdir = base / rule.stem
    return any(fdir in c.parents for c in changed)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out
