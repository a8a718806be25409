"""The hunt loop with a small stand-in engine: counts add up, every record is evaluated or
reported, the JSONL contract, the table, and the atomic output file."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stormpack.errors import EventReadError, Location, TimestampError
from stormpack.hunt import (
    TABLE_HEADER,
    JsonlSink,
    Progress,
    TableSink,
    atomic_output,
    dumps,
    field_value,
    run_hunt,
    single_hit_object,
)
from stormpack.hunt.contract import SingleHitLines, hit_time
from stormpack.readers import Record, Rejected
from stormpack.triage import utc_text

SINGLE_KEYS = ["rule_id", "rule_title", "level", "source", "event_index", "timestamp", "event"]
CORR_KEYS = ["rule_id", "rule_title", "level", "group", "event_indices", "events", "first_seen", "last_seen"]


@dataclass(frozen=True)
class Ref:
    source: str
    index: int


@dataclass
class FakeSigma:
    level: str | None


@dataclass
class FakeRule:
    id: str
    title: str
    rule: FakeSigma


@dataclass
class FakeHit:
    rule: FakeRule
    ref: Ref
    timestamp: str | None


@dataclass
class FakeCorrelationHit:
    rule: FakeRule
    group: dict[str, object]
    refs: list[Ref]
    first_seen: str
    last_seen: str


class NeedsTimestamp(TimestampError):
    """The matcher's TimestampError with fake hits: carries the hits already found."""

    def __init__(self, message: str, hits: list[FakeHit]) -> None:
        EventReadError.__init__(self, message, Location("x"))
        self.hits = hits  # type: ignore[assignment]


@dataclass
class FakeEngine:
    """Recognises records with an "Operation"; rule A fires on Operation == "Hit", rule B on
    "Hit" or "Both"; a correlation groups every "Hit" by user at finish()."""

    seen: list[Ref] = field(default_factory=list)
    rule_a: FakeRule = field(default_factory=lambda: FakeRule("id-a", "Rule A", FakeSigma("high")))
    rule_b: FakeRule = field(default_factory=lambda: FakeRule("id-b", "Rule B", FakeSigma(None)))
    corr: FakeRule = field(default_factory=lambda: FakeRule("id-c", "Corr C", FakeSigma("medium")))
    hit_refs: dict[str, list[Ref]] = field(default_factory=dict)

    def classify(self, record: dict[str, Any]) -> object | None:
        return "m365" if "Operation" in record else None

    def process(self, record: dict[str, Any], ref: Ref, logsource: object = None) -> list[FakeHit]:
        assert logsource == "m365"
        self.seen.append(ref)
        hits = []
        op = record["Operation"]
        if op == "Hit":
            hits.append(FakeHit(self.rule_a, ref, record.get("CreationTime")))
            self.hit_refs.setdefault(record.get("UserId", ""), []).append(ref)
        if op in ("Hit", "Both"):
            hits.append(FakeHit(self.rule_b, ref, record.get("CreationTime")))
        if "BadTime" in record:
            raise NeedsTimestamp("record has no usable time", hits)
        return hits

    def finish(self) -> list[FakeCorrelationHit]:
        return [
            FakeCorrelationHit(self.corr, {"UserId": user}, refs,
                               "2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z")
            for user, refs in sorted(self.hit_refs.items())
            if len(refs) >= 2
        ]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


def records(n: int) -> list[dict[str, Any]]:
    ops = ["Hit", "Miss", "Both"]
    return [
        {"Operation": ops[i % 3], "UserId": f"user{(i // 6) % 2}@contoso.com",
         "CreationTime": f"2024-01-01T00:{i:02d}:00", "ClientIP": f"203.0.113.{i}:443"}
        for i in range(n)
    ]


def hunt_jsonl(engine: FakeEngine, paths: list[Path]) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    out = io.BytesIO()
    reported: list[Any] = []
    stats = run_hunt(
        engine, paths, JsonlSink(out), Ref,
        on_reject=reported.append, on_unusable=reported.append, on_warning=reported.append,
    )
    return stats, [json.loads(line) for line in out.getvalue().splitlines()], reported


def test_counts_add_up_and_every_record_is_evaluated_or_reported(tmp_path: Path) -> None:
    recs = records(9)
    lines: list[Any] = list(recs)
    lines.insert(4, b'{"Operation": "Hit", broken')
    lines.insert(7, {"category": "SomethingElse"})  # no known log source
    good = write_jsonl(tmp_path / "a.jsonl", lines)
    gz = tmp_path / "b.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(recs).encode()))
    empty = tmp_path / "c.jsonl"
    empty.write_bytes(b"")
    engine = FakeEngine()
    stats, hits, reported = hunt_jsonl(engine, [good, gz, empty])

    assert stats.files == 3
    assert stats.read == len(lines) + len(recs)
    assert stats.rejected == 1 and stats.unrecognised == 1
    assert stats.evaluated == 2 * len(recs)
    assert stats.read == stats.evaluated + stats.unrecognised + stats.rejected
    assert len(engine.seen) == stats.evaluated
    assert stats.unrecognised_by_source == {str(good): 1}
    assert [str(u) for u in stats.unusable] == [f"{empty}: empty file (0 bytes): no records"]
    assert isinstance(reported[0], Rejected) and reported[0].line == 5
    assert not stats.complete

    per_file = sum((r["Operation"] == "Hit") + (r["Operation"] in ("Hit", "Both")) for r in recs)
    assert stats.hits == 2 * per_file
    assert stats.matched == 2 * sum(r["Operation"] in ("Hit", "Both") for r in recs)
    assert stats.correlation_hits == len(engine.finish())


def test_jsonl_contract(tmp_path: Path) -> None:
    recs = records(12)
    path = write_jsonl(tmp_path / "x.jsonl", recs)
    engine = FakeEngine()
    stats, out, _ = hunt_jsonl(engine, [path])
    singles = [o for o in out if "event" in o]
    corrs = [o for o in out if "group" in o]
    assert len(singles) == stats.hits and len(corrs) == stats.correlation_hits == 2
    for o in singles:
        assert list(o) == SINGLE_KEYS
        assert o["source"] == str(path)
        assert o["event"] == recs[o["event_index"]]
        assert o["timestamp"] == recs[o["event_index"]]["CreationTime"][:19] + ".000Z"  # one format
        assert o["level"] == ("high" if o["rule_id"] == "id-a" else None)
    for o in corrs:
        assert list(o) == CORR_KEYS
        user = o["group"]["UserId"]
        idx = [i for i, r in enumerate(recs) if r["Operation"] == "Hit" and r["UserId"] == user]
        assert o["event_indices"] == idx
        assert o["events"] == [{"source": str(path), "event_index": i} for i in idx]
        assert (o["first_seen"], o["last_seen"]) == ("2024-01-01T00:00:00.000Z", "2024-01-01T00:05:00.000Z")


def test_timestamp_problem_keeps_the_hits_and_is_reported(tmp_path: Path) -> None:
    rec = {"Operation": "Hit", "BadTime": 1}
    path = write_jsonl(tmp_path / "x.jsonl", [rec])
    stats, out, reported = hunt_jsonl(FakeEngine(), [path])
    assert stats.evaluated == 1 and stats.hits == 2 and len(out) == 2
    assert stats.warning_count == 1 and reported == [f"{path}:1: record has no usable time"]


def test_missing_event_path_is_an_error_before_reading(tmp_path: Path) -> None:
    with pytest.raises(EventReadError, match="no such file"):
        run_hunt(FakeEngine(), [tmp_path / "nope.jsonl"], JsonlSink(io.BytesIO()), Ref)


def test_table_is_sorted_by_time_and_shows_user_ip_and_key_fields(tmp_path: Path) -> None:
    recs = records(12)
    recs[0]["CreationTime"] = "2024-01-01T23:59:00"  # latest, though first in the file
    recs[3]["Parameters"] = [{"Name": "ForwardTo", "Value": "evil@example.net"}]
    path = write_jsonl(tmp_path / "x.jsonl", recs)
    out = io.BytesIO()
    run_hunt(FakeEngine(), [path], TableSink(out), Ref)
    lines = out.getvalue().decode().splitlines()
    assert lines[0].split() == list(TABLE_HEADER[:-1]) + TABLE_HEADER[-1].split()
    body = lines[1:]
    times = [ln.split()[0] for ln in body]
    assert times == sorted(times)
    assert body[-1].startswith("2024-01-01T23:59:00")
    row = next(ln for ln in body if ln.startswith("2024-01-01T00:03:00") and "Rule A" in ln)
    assert "high" in row and "user0@contoso.com" in row and "203.0.113.3:443" in row
    assert "Parameters.ForwardTo" not in row  # only fields the rule tests are shown (none here)
    corr_rows = [ln for ln in body if "Corr C" in ln]
    assert len(corr_rows) == 2 and all("correlation: 2 events" in ln for ln in corr_rows)
    assert f"[{path}:1]" in body[-1]
    assert field_value(recs[3], "Parameters.ForwardTo") == "evil@example.net"


def test_field_value_paths() -> None:
    rec = {"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "x.y": "flat"}
    assert field_value(rec, "a.b.c") == [1, 2]
    assert field_value(rec, "x.y") == "flat"
    assert field_value(rec, "a.z") is None
    assert field_value(rec, "Parameters.Name") is None


def test_progress_only_when_enabled(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", records(3000))
    quiet, shown = io.StringIO(), io.StringIO()
    run_hunt(FakeEngine(), [path], JsonlSink(io.BytesIO()), Ref, progress=Progress(quiet, enabled=False))
    run_hunt(FakeEngine(), [path], JsonlSink(io.BytesIO()), Ref, progress=Progress(shown, enabled=True))
    assert quiet.getvalue() == ""
    assert "records" in shown.getvalue() and "\r" in shown.getvalue()
    assert shown.getvalue().endswith("\r\x1b[K")  # cleared before the summary


def test_atomic_output_success_and_failure(tmp_path: Path) -> None:
    target = tmp_path / "hits.jsonl"
    with atomic_output(target) as out:
        out.write(b"one\n")
        assert not target.exists()  # nothing complete-looking while writing
    assert target.read_bytes() == b"one\n"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic_output(target) as out:
        out.write(b"partial\n")
        raise Boom
    assert target.read_bytes() == b"one\n"  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.jsonl"]  # no temp file left

    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "new.jsonl") as out:
        out.write(b"partial\n")
        raise KeyboardInterrupt
    assert not (tmp_path / "new.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.jsonl"]


def test_atomic_output_into_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EventReadError.__mro__[1], match="output directory does not exist"), atomic_output(
        tmp_path / "no" / "hits.jsonl"
    ):
        pass


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), _JSON, max_size=6),
       times=st.lists(st.one_of(st.none(), st.text(max_size=30),
                                st.sampled_from(["2023-06-01T10:00:00Z", "2023-06-01T10:00:00.1234567",
                                                 "2023-06-01T12:00:00+02:00", "not a time"])),
                      min_size=1, max_size=3))
def test_hit_lines_serialise_each_event_once_and_byte_identically(data: dict[str, Any],
                                                                   times: list[Any]) -> None:
    """SingleHitLines (the event as an orjson.Fragment, reused for the record's next hits, the
    time text remembered) writes exactly the bytes of dumps(single_hit_object(...))."""
    objects = SingleHitLines()
    data = {**data, "when": datetime(2023, 6, 1, 10, 0, tzinfo=UTC)}  # through dumps' default
    record = Record("f.jsonl", 3, 4, data)
    for i, ts in enumerate(times):
        rule = FakeRule(f"id{i}", f"rule {i}", FakeSigma("high" if i else None))
        hit = FakeHit(rule, Ref("f.jsonl", 3), ts)
        assert dumps(objects.object(hit, record)) == dumps(single_hit_object(hit, record))
        assert hit_time(ts) == utc_text(ts)
