"""`stormpack hunt --jobs N` gives the same hits, counts, rejections and warnings as `--jobs 1`
(stormpack.hunt_parallel): the whole pack, correlations included, over the real fixture records,
cut into many small chunks so that chunk edges fall everywhere."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from hunt_support import fixture_records, pack_engine
from stormpack import hunt_parallel
from stormpack.hunt import HuntStats, JsonlSink, TableSink, run_hunt
from stormpack.hunt_parallel import plan_chunks
from stormpack.matcher import Engine, EventRef
from stormpack.readers.exports import SourceShapes, explain_unrecognised

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return pack_engine(unbounded_disorder=True)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixture records repeated, with a blank line, broken lines, a non-object line and a record
    whose time field is unusable for correlations scattered through the file."""
    records = fixture_records()
    assert len(records) > 200
    lines: list[bytes] = []
    for copy in range(12):
        for i, rec in enumerate(records):
            lines.append(orjson.dumps(rec))
            if i == 7:
                lines.append(b"")
            if i == 50 + copy:
                lines.append(b'{"broken": ')
            if i == 90:
                bad = dict(rec)
                for key in ("CreationTime", "createdDateTime", "time", "TimeGenerated"):
                    if key in bad:
                        bad[key] = "yesterday"
                lines.append(orjson.dumps(bad))
    path = tmp_path_factory.mktemp("jobs") / "export.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _run(engine: Engine, path: Path, jobs: int, table: bool = False) -> tuple[HuntStats, bytes, list[str]]:
    engine.reset()
    out = io.BytesIO()
    warnings: list[str] = []
    sink = TableSink(out) if table else JsonlSink(out)
    stats = run_hunt(engine, [path], sink, EventRef, on_warning=warnings.append, convert=SourceShapes(),
                     explain=explain_unrecognised, jobs=jobs, parallel_min_bytes=0)
    return stats, out.getvalue(), warnings


def _counts(stats: HuntStats) -> tuple[Any, ...]:
    return (stats.read, stats.evaluated, stats.unrecognised, stats.rejected, stats.matched, stats.hits,
            stats.correlation_hits, stats.warning_count, stats.late, dict(stats.unrecognised_by_source),
            dict(stats.converted), [(r.index, r.line, r.message) for r in stats.rejections])


def test_chunks_cover_the_file_at_line_boundaries(export: Path) -> None:
    data = export.read_bytes()
    chunks = list(plan_chunks(export, 0, chunk_bytes=10_000))
    assert len(chunks) > 20
    assert chunks[0][1] == 0 and chunks[-1][2] == len(data)
    for (_, _, end, _), (_, start, _, line) in zip(chunks, chunks[1:], strict=False):
        assert end == start and data[end - 1:end] == b"\n"
        assert line == data[:start].count(b"\n")  # the chunk's first line number


def test_jobs_give_the_same_hits_counts_rejections_and_warnings(
    engine: Engine, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hunt_parallel, "CHUNK_BYTES", 20_000)  # many chunks: edges everywhere
    serial, out1, warn1 = _run(engine, export, 1)
    parallel, out2, warn2 = _run(engine, export, 2)
    assert serial.correlation_hits > 0 and serial.rejected >= 12 and serial.warning_count > 0
    assert serial.hits > 1000
    assert _counts(parallel) == _counts(serial)
    assert sorted(out2.splitlines()) == sorted(out1.splitlines())
    assert warn2 == warn1
    # line numbers in hits point at the same records as the serial hunt's
    lines = export.read_bytes().split(b"\n")
    for hit in map(json.loads, out2.splitlines()[:500]):
        if "event_index" in hit:
            assert hit["event"] == SourceShapes()(orjson.loads(lines[hit["event_index"]]))[0]


def test_jobs_with_a_sink_that_is_not_plain_jsonl(engine: Engine, export: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hunt_parallel, "CHUNK_BYTES", 50_000)
    s1, out1, _ = _run(engine, export, 1, table=True)
    s3, out3, _ = _run(engine, export, 3, table=True)
    assert _counts(s3) == _counts(s1)
    assert sorted(out3.decode().splitlines()) == sorted(out1.decode().splitlines())


def test_a_bom_at_the_start_is_read_as_the_serial_reader_does(engine: Engine, export: Path,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hunt_parallel, "CHUNK_BYTES", 30_000)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + export.read_bytes())
    s1, out1, _ = _run(engine, bom, 1)
    s2, out2, _ = _run(engine, bom, 2)
    assert _counts(s2) == _counts(s1)
    assert sorted(out2.splitlines()) == sorted(out1.splitlines())


def test_cli_jobs_option(export: Path, tmp_path: Path) -> None:
    """Through the command line, on a file above the size from which workers are used."""
    big = tmp_path / "big.jsonl"
    data = export.read_bytes()
    big.write_bytes(data * (hunt_parallel.MIN_PARALLEL_BYTES // len(data) + 1))

    def hunt(*extra: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules"), "--values",
               str(REPO / "fixtures" / "values"), "--events", str(big), "--format", "jsonl",
               "--max-disorder", "none", *extra]
        return subprocess.run(cmd, capture_output=True, cwd=REPO, timeout=300, check=False)

    one, two = hunt("--jobs", "1"), hunt("--jobs", "2")
    assert one.returncode == two.returncode == 1  # the broken lines are reported: exit 1
    assert sorted(one.stdout.splitlines()) == sorted(two.stdout.splitlines())
    assert b"rejected" in two.stderr
    bad = hunt("--jobs", "0")
    assert bad.returncode == 2 and b"--jobs" in bad.stderr
