"""Hostile log files through the `stormpack hunt` command (issue 6, part 2).

Every file is built here, so what hunt must report is known from its construction: how many
records it holds, how many of them cannot be read, how many the test rule matches. The only
acceptable outcomes are that exact result or, for a file unusable as a whole, a clear error naming
the file and a non-zero exit; never a traceback, a hang, or a record missing from the counts.
The test rule (tests/data/hunt/rules/audit_tampering.yml) matches RECORD.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostile_support import HuntRun, hunt_cli

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "tests" / "data" / "hunt" / "rules"
VALUES = REPO / "fixtures" / "values"
RULE_TITLE = "Test Audit Logging Weakened"

RECORD: dict[str, Any] = {
    "CreationTime": "2023-06-14T02:41:07",
    "Id": "3c5d1f6e-0000-4000-8000-000000000001",
    "RecordType": 1,
    "Operation": "Set-AdminAuditLogConfig",
    "UserId": "attacker@contoso.onmicrosoft.com",
    "Workload": "Exchange",
    "Parameters": [{"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"}],
}
LINE = json.dumps(RECORD).encode()


def numbered(i: int, **extra: Any) -> dict[str, Any]:
    """RECORD with a distinct Id (so compression cannot collapse a file) and extra fields."""
    return {**RECORD, "Id": f"3c5d1f6e-0000-4000-8000-{i:012d}", **extra}


@dataclass(frozen=True)
class Hostile:
    """A hostile input file and what hunt must make of it."""

    name: str
    data: bytes
    read: int  # records hunt must count (readable + rejected)
    rejected: int
    hits: int
    unusable: str | None = None  # message fragment when the file is unusable as a whole
    rejection: str | None = None  # message fragment of a rejection


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _gzip_cut() -> Hostile:
    data = b"".join(json.dumps(numbered(i)).encode() + b"\n" for i in range(3000))
    packed = gzip.compress(data)
    cut = packed[: len(packed) // 2]
    complete = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")  # what survives the cut
    return Hostile("truncated.jsonl.gz", cut, complete + 1, 1, complete, rejection="gzip stream ends early")


TRICKY = {  # text that CSV quoting, JSON escaping and the readers' line splitting must all survive
    "Note": 'He said "hi", then \\ left,\ttab; "quoted, with comma"',
    "Multi": "line1\nline2\r\nline3",
    "Rtl": "\u202eexe.txt",
    "Nul": "a\x00b",
}


def hostile_files() -> list[Hostile]:
    pretty = json.dumps(numbered(1, **TRICKY), indent=2)  # AuditData over several CSV lines
    header = ["CreationDate", "UserIds", "Operations", "AuditData"]
    meta = ["2023-06-14T02:41:07", "attacker@contoso.onmicrosoft.com", "Set-AdminAuditLogConfig"]
    return [
        Hostile("array_truncated.json", b"[" + LINE + b",\n" + LINE + b",\n" + LINE[:30], 3, 1, 2,
                rejection="input ends inside a record"),
        Hostile("document_truncated.json", json.dumps(RECORD, indent=2).encode() + b"\n" + LINE[:50], 2, 1, 1,
                rejection="input ends inside a record"),
        Hostile("deep.jsonl", b"\n".join([
            LINE,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,  # past orjson's depth limit
            b'{"x":' + b"[" * 300 + b"]" * 300 + b"}",  # past the readers' 100-level bound
            LINE,
        ]) + b"\n", 4, 2, 2, rejection="deeper than 100 levels"),
        Hostile("cut_last_line.jsonl", LINE + b"\n" + LINE + b"\n" + LINE[:25], 3, 1, 2,
                rejection="invalid JSON"),
        Hostile("latin1_line.jsonl", LINE + b"\n" + LINE.replace(b"contoso", b"c\xf6ntoso") + b"\n", 2, 1, 1,
                rejection="not valid UTF-8"),
        Hostile("utf16.jsonl", b"".join(json.dumps(numbered(i)).encode() + b"\n" for i in range(3))
                .decode().encode("utf-16"), 3, 0, 3),
        Hostile("crlf.jsonl", LINE + b"\r\n" + LINE + b"\r\n", 2, 0, 2),
        Hostile("purview.csv", _csv([
            header,
            [*meta, pretty],
            [*meta, '{"Operation": "Set-AdminAuditLogConfig", "broken": "'],
            [*meta, json.dumps(numbered(2, **TRICKY))],
        ]), 3, 1, 2, rejection="AuditData invalid JSON"),
        _gzip_cut(),
        Hostile("empty.jsonl", b"", 0, 0, 0, unusable="empty file"),
        Hostile("whitespace.json", b"  \n\t\n", 0, 0, 0, unusable="empty file"),
        Hostile("binary.jsonl", bytes(range(256)) * 8, 0, 0, 0, unusable="binary file"),
        Hostile("not_a_log.txt", b"just some text\nnot a log export\n", 0, 0, 0, unusable="unknown format"),
    ]


HOSTILE = {h.name: h for h in hostile_files()}


def expected_events(h: Hostile) -> list[dict[str, Any]] | None:
    """The exact records the CSV file holds (the others are checked by counts and hits)."""
    if h.name == "purview.csv":
        return [numbered(1, **TRICKY), numbered(2, **TRICKY)]
    return None


def check(h: Hostile, path: Path, run: HuntRun) -> None:
    if h.unusable:
        assert run.exit_code == 1, run
        assert f"unusable: {path}" in run.stderr and h.unusable in run.stderr, run.stderr
    else:
        assert run.exit_code == (1 if h.rejected else 0), run
    counts = run.counts()
    expected = (h.read, h.rejected, h.read - h.rejected)
    assert (counts.read, counts.rejected, counts.evaluated) == expected, run.stderr
    if h.rejection:
        assert f"rejected: {path}:" in run.stderr and h.rejection in run.stderr, run.stderr
    hits = run.hits()
    assert [o["rule_title"] for o in hits] == [RULE_TITLE] * h.hits
    assert all(o["source"] == str(path) for o in hits)
    events = expected_events(h)
    if events is not None:
        assert [o["event"] for o in hits] == events


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_file_gives_the_exact_result_or_a_clear_error(tmp_path: Path, name: str) -> None:
    h = HOSTILE[name]
    path = tmp_path / h.name
    path.write_bytes(h.data)
    check(h, path, hunt_cli(RULES, VALUES, path))


def test_all_hostile_files_at_once_in_a_real_process(tmp_path: Path) -> None:
    """The installed command (no test harness around it): no traceback, one clear line per
    problem, exit 1, and the summary's counts are the sums over the files."""
    for h in HOSTILE.values():
        (tmp_path / h.name).write_bytes(h.data)
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(RULES), "--values", str(VALUES),
         "--events", str(tmp_path), "--format", "jsonl"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    run = HuntRun(proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    counts = run.counts()
    assert counts.files == len(HOSTILE)
    assert counts.read == sum(h.read for h in HOSTILE.values())
    assert counts.rejected == sum(h.rejected for h in HOSTILE.values())
    assert len(run.hits()) == sum(h.hits for h in HOSTILE.values())
    unusable = [line for line in proc.stderr.splitlines() if line.startswith("unusable: ")]
    assert len(unusable) == sum(1 for h in HOSTILE.values() if h.unusable)


def test_missing_input_is_an_error_before_anything_is_read(tmp_path: Path) -> None:
    run = hunt_cli(RULES, VALUES, tmp_path / "nope.jsonl")
    assert run.exit_code == 2 and str(tmp_path / "nope.jsonl") in run.stderr and run.stdout == ""


def _write_big(path: Path, size: int, head: bytes, fill: bytes, tail: bytes) -> None:
    """``head`` + ``fill`` repeated to about ``size`` bytes + ``tail``, streamed to disk."""
    chunk = fill * (1024 * 1024 // len(fill))
    with open(path, "wb") as out:
        out.write(head)
        for _ in range(size // len(chunk)):
            out.write(chunk)
        out.write(tail)


HUNDRED_MB = 100 * 1024 * 1024


def test_hundred_megabyte_single_lines(tmp_path: Path) -> None:
    """A 100 MB record is read and matched like any other; a 100 MB line of garbage is one
    rejected record; the records around them are unaffected."""
    good = tmp_path / "huge_record.jsonl"
    _write_big(good, HUNDRED_MB, LINE + b"\n" + LINE[:-1] + b', "Blob": "', b"A", b'"}\n' + LINE + b"\n")
    bad = tmp_path / "huge_garbage.jsonl"
    _write_big(bad, HUNDRED_MB, LINE + b"\n" + b'{"Blob": ', b"x", b"\n" + LINE + b"\n")
    out = tmp_path / "hits.txt"
    run = hunt_cli(RULES, VALUES, good, bad, "--format", "table", "--output", str(out))
    assert run.exit_code == 1, run.stderr
    counts = run.counts()
    assert (counts.read, counts.evaluated, counts.rejected, counts.matched) == (6, 5, 1, 5)
    assert f"rejected: {bad}:2: invalid JSON" in run.stderr
    table = out.read_text(encoding="utf-8")
    assert table.count(RULE_TITLE) == 5 and f"[{good}:2]" in table


# ------------------------------------------------------------------------------------ fuzzing

_PIECES = st.sampled_from([
    LINE, LINE[:17], b"\n", b"\r\n", b"{", b"}", b"[", b"]", b",", b'"', b"\\", b"\xff\xfe", b"\xc3",
    b'{"records": [', b'"AuditData"', b"AuditData,Operations\n", b"\x1f\x8b", b"null", b"  ",
])


@pytest.mark.fuzz
@given(st.lists(_PIECES | st.binary(max_size=20), max_size=40), st.booleans())
def test_arbitrary_files_through_the_command(pieces: list[bytes], packed: bool) -> None:
    """Any bytes through the command: exit 0/1 with counts that add up (HuntRun.counts checks
    read = evaluated + unrecognised + rejected), or an unusable-file message; nothing else."""
    import tempfile

    data = b"".join(pieces)
    if packed:
        data = gzip.compress(data)[: max(10, len(data))]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "input"
        path.write_bytes(data)
        run = hunt_cli(RULES, VALUES, path)
        assert run.exit_code in (0, 1), run
        counts = run.counts()
        if run.exit_code == 0:
            assert counts.rejected == 0 and "unusable" not in run.stderr
        elif counts.read == 0:
            assert f"unusable: {path}" in run.stderr or counts.rejected, run.stderr
        assert len(run.hits()) <= counts.evaluated



def test_table_never_sends_control_characters_from_logs_to_the_terminal(tmp_path: Path) -> None:
    """Regression (issue 6): record values reached the terminal raw in the table, so a log could
    set the window title, clear the screen or reorder text (escape sequences, C1 controls, bidi
    overrides). They are now shown escaped; the JSON Lines output keeps the exact values."""
    hostile = {
        "CreationTime": "2023-06-14T02:41:07\x1b[31m",
        "UserId": "eve\x1b]0;pwned\x07@contoso.com\u202e",
        "ClientIP": "203.0.113.7\x9b2J",
        "Parameters": [{"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"},
                       {"Name": "Identity", "Value": "\u202etxt.exe"}],
    }
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({**RECORD, **hostile}) + "\n", encoding="utf-8")
    table = hunt_cli(RULES, VALUES, events, "--format", "table")
    assert table.exit_code == 0 and RULE_TITLE in table.stdout
    controls = [c for c in table.stdout if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert controls == [] and "\u202e" not in table.stdout
    assert "eve\\x1b]0;pwned\\x07@contoso.com\\u202e" in table.stdout and "203.0.113.7\\x9b2J" in table.stdout
    (hit,) = hunt_cli(RULES, VALUES, events).hits()
    assert {k: hit["event"][k] for k in hostile} == hostile
