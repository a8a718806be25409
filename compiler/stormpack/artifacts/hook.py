"""The ``stormpack build`` hook: deployable artifacts next to the compiled queries.

``stormpack.compiler.build`` runs every registered hook as ``hook(results, build_dir)`` before the
new build directory is swapped in; :func:`artifacts_hook` makes one that writes every artifact
(``build_dir/sentinel/*.yaml``, ``azuredeploy.json``, ``defender/*.json``, ``splunk/``, the
catalogue and the ATT&CK layer). It recompiles in artifact mode (tenant lists as watchlists /
lookups) with the same values, so a hook failure fails the build and leaves the old one in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .build import ArtifactOptions
from .pack import build_pack

Values = str | Path | Mapping[str, Sequence[str]] | None


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


def artifacts_hook(values: Values, options: ArtifactOptions | None = None
                   ) -> Callable[[Mapping[str, Any], Path], None]:
    """A build hook writing all artifacts, with the values the build compiled with."""

    def hook(results: Mapping[str, Any], build_dir: Path) -> None:
        paths = rule_paths_of(results)
        if paths:
            build_pack(paths, values, build_dir, options=options)

    return hook
