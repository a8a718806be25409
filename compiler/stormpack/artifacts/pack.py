"""Compile a rule pack for every target in artifact mode and write all artifacts.

Artifact mode differs from plain compilation in one way: whole-value ``|expand`` tenant lists
compile to a Sentinel watchlist / Splunk lookup reference instead of inlined values
(:mod:`.lists`). Defender XDR has no watchlists, so its queries keep the values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..ruleset import LoadedRule, load_ruleset, load_values
from . import adx, lists
from .build import ArtifactOptions, ArtifactReport, write_artifacts
from .model import QueryLike

ARTIFACT_TARGETS = ("sentinel", "defender", "splunk")

LIST_EXPRESSIONS: Mapping[str, str] = {
    "sentinel": lists.KQL_LIST_EXPRESSION,
    "splunk": lists.SPL_LIST_EXPRESSION,
}


def list_ids(target: str, tenant: Sequence[lists.TenantList]) -> dict[str, str]:
    """Placeholder name -> watchlist alias / lookup name, for the lists deployed as lists."""
    if target == "sentinel":
        return {tl.name: tl.watchlist for tl in tenant if tl.is_list}
    if target == "splunk":
        return {tl.name: tl.lookup for tl in tenant if tl.is_list}
    return {}


@contextmanager
def _list_mode(target: str, tenant: Sequence[lists.TenantList]) -> Iterator[None]:
    ids = list_ids(target, tenant)
    if not ids:
        yield
        return
    from ..compiler.placeholders import lists_mode

    with lists_mode(LIST_EXPRESSIONS[target], ids):
        yield


def compile_for_artifacts(
    rule_paths: Sequence[str | Path], rules: Sequence[LoadedRule], values: Mapping[str, Sequence[str]],
) -> tuple[list[QueryLike], list[tuple[str, str, str]]]:
    """(queries of every target, (rule id, target, reason) of what did not compile)."""
    from ..compiler import compile_rules

    tenant = lists.tenant_lists(rules, values)
    queries: list[QueryLike] = []
    skipped: list[tuple[str, str, str]] = []
    vals = {k: list(v) for k, v in values.items()}
    for target in ARTIFACT_TARGETS:
        with _list_mode(target, tenant):
            res = compile_rules(list(rule_paths), target, vals)
        queries.extend(res.queries)
        skipped += [(lr.id, target, why) for lr, why in res.skipped]
        skipped += [(lr.id, target, "used only by a correlation (generate: false)")
                    for lr in res.not_generated]
    return queries, skipped


def build_pack(
    rule_paths: Sequence[str | Path],
    values: str | Path | Mapping[str, Sequence[str]] | None,
    out_dir: Path,
    *,
    options: ArtifactOptions | None = None,
) -> ArtifactReport:
    """Compile ``rule_paths`` for every target and write every artifact into ``out_dir``."""
    vals: Mapping[str, Sequence[str]]
    if values is None:
        vals = {}
    elif isinstance(values, (str, Path)):
        vals = load_values(values)
    else:
        vals = values
    rules = list(load_ruleset(rule_paths))
    queries, skipped = compile_for_artifacts(rule_paths, rules, vals)
    report = write_artifacts(queries, rules, out_dir, vals, compile_skipped=skipped, options=options)
    # the adx queries are the compiled target itself (build/adx/<rule>.kql); the tables to ingest
    # the raw exports into and the guide come with them
    report.written += adx.write(out_dir / "adx")
    return report
