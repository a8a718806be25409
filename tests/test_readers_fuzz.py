"""Property-based fuzzing of the log readers (bounded under `make test`, longer under `make fuzz`).

The only acceptable outcomes for any input are records, reported rejections, or one
EventReadError for a file unusable as a whole: never another exception, never a hang, and the
records + rejections of a JSON Lines file account for every non-blank line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stormpack.errors import EventReadError
from stormpack.readers import EventFile, FileFormat, ReaderLimits, Record, Rejected

pytestmark = pytest.mark.fuzz

SMALL = ReaderLimits(max_record_bytes=4096, chunk_bytes=64)  # small windows: boundaries everywhere

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
records_st = st.lists(
    st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in ("AuditData", "records")),
                    json_values, min_size=1, max_size=5),
    min_size=1, max_size=8,
)


def outcome(data: bytes) -> tuple[list[Record], list[Rejected]] | EventReadError:
    got = outcome_with_format(data)
    return got if isinstance(got, EventReadError) else got[1:]


def outcome_with_format(
    data: bytes,
) -> tuple[FileFormat, list[Record], list[Rejected]] | EventReadError:
    """Read ``data`` as a file; any exception but EventReadError fails the test."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "input"
        path.write_bytes(data)
        recs: list[Record] = []
        rej: list[Rejected] = []
        try:
            f = EventFile(path, SMALL)
        except EventReadError as exc:
            assert str(path) in str(exc)
            return exc
        with f:
            for item in f:
                assert isinstance(item, Record | Rejected)
                if isinstance(item, Record):
                    assert isinstance(item.data, dict)
                    recs.append(item)
                else:
                    assert item.source == str(path) and item.message
                    rej.append(item)
        return f.format, recs, rej


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, cut, insert in edits:
        if not out:
            out += insert
            continue
        p = pos % len(out)
        out[p : p + cut] = insert
    return bytes(out)


_SPECIAL = st.sampled_from([b'"', b"\\", b"\n", b",", b"{", b"]", b"\x00", b"\xff"])
edits_st = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=6) | _SPECIAL),
    min_size=1, max_size=6,
)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    outcome(data)


@given(st.binary(max_size=500))
def test_arbitrary_bytes_gzipped(data: bytes) -> None:
    outcome(gzip.compress(data))


def _encodings(records: list[dict[str, Any]]) -> dict[str, bytes]:
    sio = io.StringIO(newline="")
    w = csv.writer(sio)
    w.writerow(["CreationDate", "AuditData"])
    for r in records:
        w.writerow(["d", json.dumps(r)])
    return {
        "jsonl": b"".join(json.dumps(r).encode() + b"\n" for r in records),
        "array": json.dumps(records, indent=1).encode(),
        "batch": json.dumps({"records": records}).encode(),
        "csv": sio.getvalue().encode(),
    }


@given(records_st)
def test_valid_records_read_back_identically_in_every_format(records: list[dict[str, Any]]) -> None:
    for name, data in _encodings(records).items():
        for payload in (data, gzip.compress(data)):
            got = outcome(payload)
            assert not isinstance(got, EventReadError), (name, got)
            recs, rej = got
            assert rej == [], name
            assert [r.data for r in recs] == records, name


@given(records_st, edits_st, st.sampled_from(["jsonl", "array", "batch", "csv"]), st.booleans())
def test_mutated_exports_never_crash(
    records: list[dict[str, Any]], edits: list[tuple[int, int, bytes]], fmt: str, compress: bool
) -> None:
    data = mutate(_encodings(records)[fmt], edits)
    got = outcome_with_format(gzip.compress(data) if compress else data)
    if isinstance(got, EventReadError):
        return
    found, recs, rej = got
    if found is not FileFormat.JSON_LINES or compress or b"records" in data or b"AuditData" in data:
        return
    # JSON Lines: every non-blank line is exactly one record or one rejection
    assert len(recs) + len(rej) == len([ln for ln in data.split(b"\n") if ln.strip()])


@given(records_st, st.integers(1, 400))
def test_truncated_gzip_keeps_a_prefix_and_reports_the_rest(records: list[dict[str, Any]], cut: int) -> None:
    plain = _encodings(records)["jsonl"]
    data = gzip.compress(plain)
    got = outcome(data[: max(1, len(data) - cut)])
    if isinstance(got, EventReadError):
        return
    recs, rej = got
    assert [r.data for r in recs] == records[: len(recs)]
    assert rej, "a truncated stream must be reported"
