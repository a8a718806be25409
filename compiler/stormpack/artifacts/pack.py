"""The build pipeline: rules -> compiled queries, once per target -> artifact writers.

:func:`compile_pack` loads the rules, works out the tenant lists and compiles every rule once
per target into a :class:`CompiledPack`; :func:`write_pack` hands it to the artifact writers.
``stormpack build`` writes the same compiled queries to ``build/<target>/`` and then runs
:func:`write_pack` (``cli/build_cmd.py``); :func:`build_pack` is the two steps in one.

Compiling for a target with the ``watchlists`` / ``lookups`` capability (the target registry)
differs from a plain compile in one way: whole-value ``|expand`` tenant lists compile to a
Sentinel watchlist / Splunk lookup reference instead of inlined values (:mod:`.lists`).
Defender XDR has no watchlists, and adx has no artifacts, so their queries keep the values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..compiler.placeholders import ListReferences
from ..compiler.registry import ARTIFACT_TARGETS, TARGETS, target_info
from ..ruleset import LoadedRule, load_ruleset, load_values
from . import adx, lists
from .build import ArtifactOptions, ArtifactReport, write_artifacts
from .model import QueryLike

if TYPE_CHECKING:
    from ..compiler import CompileResult


def list_references(target: str, tenant: Sequence[lists.TenantList]) -> ListReferences | None:
    """How ``target``'s queries read the tenant lists deployed as lists (None: inlined)."""
    deployed = [tl for tl in tenant if tl.is_list]
    info = target_info(target)
    if info.can("watchlists"):
        refs = ListReferences(lists.KQL_LIST_EXPRESSION, {tl.name: tl.watchlist for tl in deployed})
    elif info.can("lookups"):
        refs = ListReferences(lists.SPL_LIST_EXPRESSION, {tl.name: tl.lookup for tl in deployed})
    else:
        return None
    return refs if refs.ids else None


@dataclass(frozen=True)
class CompiledPack:
    """A rule pack compiled once per target: what the query files and the artifact writers read."""

    rules: tuple[LoadedRule, ...]
    values: Mapping[str, Sequence[str]]
    results: Mapping[str, CompileResult]  # target -> its one compile, in registry order

    def artifact_queries(self) -> list[QueryLike]:
        """The compiled queries of every target with deployable artifacts."""
        return [q for t in ARTIFACT_TARGETS if t in self.results for q in self.results[t].queries]

    def compile_skipped(self) -> list[tuple[str, str, str]]:
        """(rule id, target, reason) of every rule an artifact target did not compile."""
        skipped: list[tuple[str, str, str]] = []
        for target in ARTIFACT_TARGETS:
            res = self.results.get(target)
            if res is None:
                continue
            skipped += [(lr.id, target, why) for lr, why in res.skipped]
            skipped += [(lr.id, target, "used only by a correlation (generate: false)")
                        for lr in res.not_generated]
        return skipped


def _values(values: str | Path | Mapping[str, Sequence[str]] | None) -> Mapping[str, Sequence[str]]:
    if values is None:
        return {}
    if isinstance(values, (str, Path)):
        return load_values(values)
    return values


def compile_pack(
    rule_paths: Sequence[str | Path],
    values: str | Path | Mapping[str, Sequence[str]] | None,
    targets: Sequence[str] = TARGETS,
    windows_sources: Mapping[str, Sequence[str]] | None = None,
) -> CompiledPack:
    """Every rule under ``rule_paths``, compiled once for each of ``targets``; ``windows_sources``
    maps a target to its ``--windows-source`` choices in order (absent: the target's default)."""
    from ..compiler import compile_rules

    vals = _values(values)
    rules = tuple(load_ruleset(rule_paths))
    tenant = lists.tenant_lists(rules, vals)
    plain = {k: list(v) for k, v in vals.items()}
    chosen = windows_sources or {}
    results = {t: compile_rules(list(rule_paths), t, plain, chosen.get(t),
                                lists=list_references(t, tenant))
               for t in targets}
    return CompiledPack(rules, vals, results)


def write_pack(pack: CompiledPack, out_dir: Path, options: ArtifactOptions | None = None) -> ArtifactReport:
    """Write every artifact of a compiled pack into ``out_dir``."""
    report = write_artifacts(pack.artifact_queries(), pack.rules, out_dir, pack.values,
                             compile_skipped=pack.compile_skipped(), options=options)
    # the adx queries are the compiled target itself (build/adx/<rule>.kql); the tables to ingest
    # the raw exports into and the guide come with them
    report.written += adx.write(out_dir / "adx")
    return report


def build_pack(
    rule_paths: Sequence[str | Path],
    values: str | Path | Mapping[str, Sequence[str]] | None,
    out_dir: Path,
    *,
    options: ArtifactOptions | None = None,
) -> ArtifactReport:
    """Compile ``rule_paths`` for every artifact target and write every artifact into ``out_dir``."""
    return write_pack(compile_pack(rule_paths, values, ARTIFACT_TARGETS), out_dir, options)
