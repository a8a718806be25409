"""`stormpack hunt` end to end (a real process, the real matcher) over real exports.

The rules are small test rules (tests/data/hunt/rules), so expectations are computed here from
the records with plain Python rather than taken from the tool.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "tests" / "data" / "hunt" / "rules"
BROKEN_RULE = REPO / "tests" / "data" / "hunt" / "broken_rule.yml"
VALUES = REPO / "fixtures" / "values"
COMBINED_CSV = REPO / "fixtures" / "corpus" / "purview_export_combined.csv"

SINGLE_KEYS = ["rule_id", "rule_title", "level", "source", "event_index", "timestamp", "event"]
CORR_KEYS = ["rule_id", "rule_title", "level", "group", "event_indices", "events", "first_seen", "last_seen"]


def hunt(*args: str | Path, rules: Path = RULES) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(rules), "--values", str(VALUES),
           *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def params(rec: dict[str, Any]) -> dict[str, str]:
    return {p["Name"]: p["Value"] for p in rec.get("Parameters", [])}


def expected_hits(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(rule title, record index) the test rules must report, computed from the records."""
    out = []
    for i, r in enumerate(records):
        op, p = r.get("Operation"), params(r)
        if op in ("New-InboxRule", "Set-InboxRule") and (
            p.get("DeleteMessage") == "True" or "MoveToFolder" in p or "@" in p.get("ForwardTo", "")
        ):
            out.append(("Test Inbox Rule Deletes, Moves Or Forwards Mail", i))
        if op == "Set-Mailbox" and "@" in p.get("ForwardingSmtpAddress", ""):
            out.append(("Test Mailbox Forwarding Set", i))
        if (
            (op == "Set-AdminAuditLogConfig" and p.get("UnifiedAuditLogIngestionEnabled") == "False")
            or (op == "Set-MailboxAuditBypassAssociation" and p.get("AuditBypassEnabled") == "True")
            or (op == "Set-Mailbox" and "AuditLogAgeLimit" in p)
        ):
            out.append(("Test Audit Logging Weakened", i))
    return sorted(out, key=lambda x: (x[1], x[0]))


def combined_records() -> list[dict[str, Any]]:
    with open(COMBINED_CSV, newline="", encoding="utf-8") as f:
        return [json.loads(row["AuditData"]) for row in csv.DictReader(f)]


def summary_counts(stderr: str) -> dict[str, int]:
    m = re.search(
        r"([\d,]+) records read = ([\d,]+) evaluated \+ ([\d,]+) unrecognised \+ ([\d,]+) rejected", stderr
    )
    assert m, stderr
    read, ev, unrec, rej = (int(g.replace(",", "")) for g in m.groups())
    assert read == ev + unrec + rej
    return {"read": read, "evaluated": ev, "unrecognised": unrec, "rejected": rej}


def test_purview_export_finds_inbox_rule_forwarding_and_audit_tampering() -> None:
    res = hunt("--events", COMBINED_CSV, "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    out = jsonl(res.stdout)
    records = combined_records()
    singles = [o for o in out if "event" in o]
    assert sorted(((o["rule_title"], o["event_index"]) for o in singles), key=lambda x: (x[1], x[0])) == (
        expected_hits(records))
    titles = {t for t, _ in expected_hits(records)}
    assert titles == {"Test Inbox Rule Deletes, Moves Or Forwards Mail", "Test Mailbox Forwarding Set",
                      "Test Audit Logging Weakened"}
    for o in singles:
        assert list(o) == SINGLE_KEYS
        assert o["source"] == str(COMBINED_CSV)
        assert o["event"] == records[o["event_index"]]
        # the one timestamp format: ISO-8601 UTC, Z, milliseconds (the record keeps its spelling)
        assert o["timestamp"] == records[o["event_index"]]["CreationTime"][:19] + ".000Z"
    # the sign-in burst correlation: one group per user with >= 3 sign-ins within an hour
    corrs = [o for o in out if "group" in o]
    logins: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r["Operation"] in ("UserLoggedIn", "UserLoginFailed"):
            logins.setdefault(r["UserId"], []).append(i)
    assert {o["group"]["UserId"] for o in corrs} == {u for u, idx in logins.items() if len(idx) >= 3}
    for o in corrs:
        assert list(o) == CORR_KEYS
        assert sorted(o["event_indices"]) == logins[o["group"]["UserId"]]
        assert o["events"] == [{"source": str(COMBINED_CSV), "event_index": i} for i in o["event_indices"]]
    counts = summary_counts(res.stderr)
    assert counts == {"read": len(records), "evaluated": len(records), "unrecognised": 0, "rejected": 0}
    assert "\r" not in res.stderr  # no progress bar when stderr is not a terminal


def test_gzip_twin_gives_identical_output(tmp_path: Path) -> None:
    twin = tmp_path / "export.bin"  # the name says nothing: detection is by content
    twin.write_bytes(gzip.compress(COMBINED_CSV.read_bytes()))
    plain = hunt("--events", COMBINED_CSV, "--format", "jsonl")
    packed = hunt("--events", twin, "--format", "jsonl")
    assert plain.returncode == packed.returncode == 0
    a, b = jsonl(plain.stdout), jsonl(packed.stdout)
    assert a and len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for obj in (x, y):
            obj.pop("source", None)
            for ev in obj.get("events", []):
                ev.pop("source")
        assert x == y


def test_corrupt_line_is_reported_and_the_rest_processed(tmp_path: Path) -> None:
    records = combined_records()
    lines = [json.dumps(r) for r in records]
    lines[1] = lines[1][:40]  # cut in the middle
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = hunt("--events", path, "--format", "jsonl")
    assert res.returncode == 1  # incomplete input is signalled
    assert f"rejected: {path}:2: invalid JSON" in res.stderr
    singles = [o for o in jsonl(res.stdout) if "event" in o]
    expected = [(t, i) for t, i in expected_hits(records) if i != 1]
    got = sorted(((o["rule_title"], o["event_index"]) for o in singles), key=lambda x: (x[1], x[0]))
    assert got == expected
    counts = summary_counts(res.stderr)
    assert counts["read"] == len(records) and counts["rejected"] == 1


def test_unusable_file_is_reported_and_other_files_still_hunted(tmp_path: Path) -> None:
    binary = tmp_path / "a.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    res = hunt("--events", binary, "--events", COMBINED_CSV, "--format", "jsonl")
    assert res.returncode == 1
    assert f"unusable: {binary}: binary file" in res.stderr
    assert len([o for o in jsonl(res.stdout) if "event" in o]) == len(expected_hits(combined_records()))


def test_rule_that_cannot_be_loaded_gives_an_error_object_and_nonzero_exit(tmp_path: Path) -> None:
    res = hunt("--events", COMBINED_CSV, "--format", "jsonl", "--output", tmp_path / "hits.jsonl",
               rules=BROKEN_RULE)
    assert res.returncode == 2
    [obj] = jsonl(res.stdout)
    assert str(BROKEN_RULE) in obj["error"] and obj["file"] == str(BROKEN_RULE)
    assert "missing_detection" in obj["error"]
    assert not (tmp_path / "hits.jsonl").exists()
    assert list(tmp_path.iterdir()) == []


def test_output_file_and_table(tmp_path: Path) -> None:
    target = tmp_path / "hits.jsonl"
    res = hunt("--events", COMBINED_CSV, "--format", "jsonl", "--output", target)
    assert res.returncode == 0 and res.stdout == ""
    assert jsonl(target.read_text(encoding="utf-8")) == jsonl(hunt("--events", COMBINED_CSV, "--format",
                                                                   "jsonl").stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.jsonl"]

    table = hunt("--events", COMBINED_CSV)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["time", "rule", "level", "user", "ip"]
    body = lines[1 : lines.index("")]
    stamps = [ln.split()[0] for ln in body]
    assert stamps == sorted(stamps)
    assert len(body) == len(expected_hits(combined_records())) + 1  # + the correlation row
    assert "summary:" in table.stdout


def test_closed_output_pipe_stops_quietly(tmp_path: Path) -> None:
    record = combined_records()[0]  # an inbox rule every test rule run reports
    path = tmp_path / "many.jsonl"
    path.write_text((json.dumps(record) + "\n") * 5000, encoding="utf-8")
    cmd = [sys.executable, "-m", "stormpack", "hunt", "--rules", str(RULES), "--values", str(VALUES),
           "--events", str(path), "--format", "jsonl"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "output closed by the reader" in err and "Traceback" not in err
