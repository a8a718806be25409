"""Writing compiled queries: `build/` (atomically) and the golden files under tests/golden/.

Nothing here compiles; it takes the CompileResults of every target. `staged_build` gives a new
directory next to the build directory and swaps it in when the block ends; inside the block the
caller writes the queries and the compile report (`write_queries`) and anything else (the
deployable artifacts, stormpack.artifacts.pack.write_pack). If anything raises, the previous
build directory is left untouched. `write_build` is the block with the queries alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import Location, StormpackError
from . import EXTENSIONS
from .engine import CompiledQuery, CompileResult


def query_file(q: CompiledQuery) -> str:
    return f"{q.name or q.stem}.{EXTENSIONS[q.target]}"


def query_text(q: CompiledQuery) -> str:
    return q.query.rstrip("\n") + "\n"


def report(results: Mapping[str, CompileResult]) -> dict[str, Any]:
    out: dict[str, Any] = {"targets": {}}
    for target, res in results.items():
        out["targets"][target] = {
            "compiled": [
                {
                    "rule": q.title,
                    "id": q.rule_id,
                    "path": str(q.path),
                    "file": f"{target}/{query_file(q)}",
                    "table": q.table,
                    "logsource": q.logsource,
                    "correlation": q.is_correlation,
                    **({"source": q.source, "source_why": q.source_why} if q.source else {}),
                }
                for q in res.queries
            ],
            "not_compiled": [
                {"rule": lr.title, "id": lr.id, "path": str(lr.path), "reason": why}
                for lr, why in res.skipped
            ],
            "only_in_correlations": [
                {"rule": lr.title, "id": lr.id, "path": str(lr.path)} for lr in res.not_generated
            ],
        }
    return out


def report_text(results: Mapping[str, CompileResult]) -> str:
    lines: list[str] = []
    for target, res in results.items():
        lines.append(
            f"{target}: {len(res.queries)} compiled, {len(res.skipped)} not compiled, "
            f"{len(res.not_generated)} used only inside correlations"
        )
        for q in res.queries:
            lines.append(f"  ok    {q.path}  ->  {target}/{query_file(q)}  [{q.table}]")
            if q.source:  # which of the target's alternative tables, and why (--windows-source)
                lines.append(f"          table from source {q.source}: {q.source_why}")
        for _, why in res.skipped:
            lines.append(f"  SKIP  {why}")
        for lr in res.not_generated:
            lines.append(
                f"  part  {lr.path}: '{lr.title}' is compiled inside its correlation (generate: false)"
            )
    return "\n".join(lines) + "\n"


def write_queries(results: Mapping[str, CompileResult], root: Path) -> None:
    """`<root>/<target>/<rule>.<ext>` for every compiled query, and the compile report."""
    for target, res in results.items():
        tdir = root / target
        tdir.mkdir(parents=True, exist_ok=True)
        for q in res.queries:
            (tdir / query_file(q)).write_text(query_text(q), encoding="utf-8")
    (root / "compile-report.txt").write_text(report_text(results), encoding="utf-8")
    (root / "compile-report.json").write_text(json.dumps(report(results), indent=2) + "\n", encoding="utf-8")


@contextmanager
def staged_build(build_dir: Path) -> Iterator[Path]:
    """A new, empty directory next to `build_dir` to write the build into; when the block ends
    it replaces `build_dir`. If the block raises, `build_dir` is left as it was."""
    build_dir = build_dir.resolve()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}.new-", dir=build_dir.parent))
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, permissions...: one clear line, not a traceback
            raise _not_written(build_dir, exc) from None
        raise
    old: Path | None = None
    try:
        if build_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}.old-", dir=build_dir.parent))
            old.rmdir()
            build_dir.rename(old)
        tmp.rename(build_dir)
    except OSError as exc:  # the swap failed half-way: put the previous build back
        if old is not None and not build_dir.exists():
            old.rename(build_dir)
        shutil.rmtree(tmp, ignore_errors=True)
        raise _not_written(build_dir, exc) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_build(results: Mapping[str, CompileResult], build_dir: Path) -> Path:
    """Write queries + report into a temp dir next to build_dir, then swap it in."""
    with staged_build(build_dir) as root:
        write_queries(results, root)
    return build_dir.resolve()


def _not_written(build_dir: Path, exc: OSError) -> StormpackError:
    return StormpackError(f"build not written, the previous one is kept: {exc.strerror or exc}",
                          Location(build_dir))


# ------------------------------------------------------------------------------------ golden
def golden_files(results: Mapping[str, CompileResult]) -> dict[str, str]:
    """Relative path under tests/golden -> expected content."""
    files: dict[str, str] = {}
    for target, res in results.items():
        for q in res.queries:
            files[f"{target}/{query_file(q)}"] = query_text(q)
        lines = [why for _, why in res.skipped]
        lines += [f"{lr.path}: '{lr.title}' only inside its correlation" for lr in res.not_generated]
        files[f"{target}/_not_compiled.txt"] = "".join(f"{x}\n" for x in sorted(lines))
    return files


def golden_diff(expected: Mapping[str, str], golden_dir: Path) -> list[str]:
    """Problems: missing, different or extra golden files."""
    problems = []
    for rel, text in sorted(expected.items()):
        p = golden_dir / rel
        if not p.is_file():
            problems.append(f"missing {p}")
        elif p.read_text(encoding="utf-8") != text:
            problems.append(f"differs {p}")
    if golden_dir.is_dir():
        for p in sorted(golden_dir.rglob("*")):
            if p.is_file() and str(p.relative_to(golden_dir)) not in expected:
                problems.append(f"extra   {p}")
    return problems


def write_golden(expected: Mapping[str, str], golden_dir: Path) -> None:
    if golden_dir.is_dir():
        for p in golden_dir.rglob("*"):
            if p.is_file() and str(p.relative_to(golden_dir)) not in expected:
                p.unlink()
    for rel, text in expected.items():
        p = golden_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
