"""The ``stormpack build`` hook: deployable artifacts next to the compiled queries.

``stormpack.compiler.build`` runs every registered hook as ``hook(results, build_dir)`` before the
new build directory is swapped in. :func:`build_hook` writes every artifact
(``sentinel/*.yaml``, ``azuredeploy.json``, ``defender/*.json``, ``splunk/``, the catalogue and
the ATT&CK layer) when the build asked for them with :func:`artifacts_enabled`, recompiling in
artifact mode (tenant lists as watchlists / lookups) with the build's values. A failure fails the
build and leaves the previous one in place. The hook registry is process-wide, so the hook does
nothing outside ``artifacts_enabled``: a plain ``write_build`` elsewhere stays a plain build.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build import ArtifactOptions, ArtifactReport
from .pack import build_pack

Values = str | Path | Mapping[str, Sequence[str]] | None


@dataclass(frozen=True)
class _Request:
    values: Values
    options: ArtifactOptions
    reports: list[ArtifactReport]


_REQUEST: ContextVar[_Request | None] = ContextVar("stormpack_artifacts", default=None)


@contextmanager
def artifacts_enabled(values: Values, options: ArtifactOptions | None = None
                      ) -> Iterator[list[ArtifactReport]]:
    """Within the block, builds also write the deployable artifacts (with these values); the
    block gets the list the report of each artifact build is appended to."""
    reports: list[ArtifactReport] = []
    token = _REQUEST.set(_Request(values, options or ArtifactOptions(), reports))
    try:
        yield reports
    finally:
        _REQUEST.reset(token)


def rule_paths_of(results: Mapping[str, Any]) -> list[Path]:
    """Every rule file behind a set of CompileResults (compiled, skipped or only correlated)."""
    paths: dict[str, Path] = {}
    for res in results.values():
        for q in res.queries:
            paths.setdefault(str(q.path), Path(q.path))
        for lr, _why in res.skipped:
            paths.setdefault(str(lr.path), Path(lr.path))
        for lr in res.not_generated:
            paths.setdefault(str(lr.path), Path(lr.path))
    return [paths[k] for k in sorted(paths)]


def build_hook(results: Mapping[str, Any], build_dir: Path) -> None:
    """Register with ``stormpack.compiler.build.register_build_hook``."""
    request = _REQUEST.get()
    if request is None:
        return
    paths = rule_paths_of(results)
    if paths:
        request.reports.append(build_pack(paths, request.values, build_dir, options=request.options))
