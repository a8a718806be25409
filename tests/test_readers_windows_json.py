"""Windows events exported as JSON: Winlogbeat / Elastic Agent events (``winlog.event_data.*``),
HELK-flattened events (event data at the top level, as OTRF publishes them) and
``Get-WinEvent | ConvertTo-Json`` objects (refused: their event data has no names).

Winlogbeat's layout is its field reference
(https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html): the
event's channel, id, provider, computer and record number under ``winlog``, the EventData values
under ``winlog.event_data`` by their own names, the event time in ``@timestamp``. The events are
built here from the real .evtx recordings (tests/data/evtx) and must read back to the same
record the .evtx reader gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stormpack.readers import Record, Rejected, read_events

REPO = Path(__file__).resolve().parent.parent
EVTX = REPO / "tests" / "data" / "evtx"
SYSTEM = {"EventID", "Channel", "Provider_Name", "Computer", "EventRecordID", "TimeCreated", "Level", "Task",
          "Opcode", "Version", "Keywords"}
ADDED_4688 = {"Image", "ParentImage", "ParentProcessId", "User", "LogonId", "IntegrityLevel"}


def _records(path: Path) -> list[dict[str, Any]]:
    out = []
    for item in read_events(path):
        assert isinstance(item, Record), item
        out.append(item.data)
    return out


def _as_winlogbeat(flat: dict[str, Any]) -> dict[str, Any]:
    """The event as Winlogbeat ships it: event id as text (8.x keyword), event data by name."""
    data = {k: v for k, v in flat.items() if k not in SYSTEM}
    if flat["EventID"] == 4688:  # the event as logged, without the names our reader adds
        data = {k: v for k, v in data.items() if k not in ADDED_4688}
        data["ProcessId"] = flat["ParentProcessId"]
    return {
        "@timestamp": flat["TimeCreated"],
        "event": {"code": str(flat["EventID"]), "provider": flat["Provider_Name"]},
        "winlog": {"channel": flat["Channel"], "event_id": str(flat["EventID"]),
                   "provider_name": flat["Provider_Name"], "computer_name": flat["Computer"],
                   "record_id": flat["EventRecordID"], "event_data": data},
    }


def _write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def test_winlogbeat_events_read_as_the_evtx_reader_reads_them(tmp_path: Path) -> None:
    flat = (_records(EVTX / "lsassy_comsvcs_minidump_sysmon.evtx")
            + _records(EVTX / "lsassy_comsvcs_minidump_security.evtx"))
    assert {r["EventID"] for r in flat} >= {1, 10, 4688}
    got = _records(_write_jsonl(tmp_path / "winlogbeat.jsonl", [_as_winlogbeat(r) for r in flat]))
    assert len(got) == len(flat)
    for want, back in zip(flat, got, strict=True):
        # Level/Task/... are not Winlogbeat winlog fields this reader reads; the rest is the same
        assert back == {k: v for k, v in want.items()
                        if k not in {"Level", "Task", "Opcode", "Version", "Keywords"}}


def test_hunt_over_winlogbeat_and_helk_json_fires_the_windows_rules(tmp_path: Path) -> None:
    flat = _records(EVTX / "lsassy_comsvcs_minidump_security.evtx")
    wlb = _write_jsonl(tmp_path / "winlogbeat.jsonl", [_as_winlogbeat(r) for r in flat])
    helk = REPO / "tests" / "data" / "windows_json" / "otrf_psh_lsass_memory_dump_comsvcs.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules" / "windows"), "--values",
         str(REPO / "fixtures" / "values"), "--format", "jsonl", "--events", str(wlb), "--events", str(helk)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits = [json.loads(line) for line in proc.stdout.splitlines()]
    by_file: dict[str, set[tuple[str, int]]] = {}
    for h in hits:
        by_file.setdefault(Path(h["source"]).name, set()).add((h["rule_title"], h["event_index"]))
    # the 2 Security 4688s with the comsvcs MiniDump command line (computed from the events; the
    # conhost 4688 between them is not one)
    minidump = {i for i, r in enumerate(flat)
                if r["EventID"] == 4688 and "minidump" in str(r.get("CommandLine", "")).lower()}
    assert len(minidump) == 2
    assert by_file["winlogbeat.jsonl"] == {("LSASS Memory Dump Via Comsvcs MiniDump", i) for i in minidump}
    # HELK lines: rundll32 opening lsass twice (0x1fffff, 0x1410), writing lsass-comsvcs.dmp
    assert by_file[helk.name] == {("LSASS Memory Opened For Reading", 0),
                                  ("LSASS Memory Dump File Written", 1),
                                  ("LSASS Memory Opened For Reading", 2)}
    assert "0 rejected" in proc.stderr


def test_get_winevent_objects_are_refused_naming_why(tmp_path: Path) -> None:
    # Get-WinEvent -LogName Security | ConvertTo-Json: EventLogRecord properties; Properties is a
    # list of {"Value": ...} without names
    obj = {"Id": 4688, "LogName": "Security", "ProviderName": "Microsoft-Windows-Security-Auditing",
           "MachineName": "FS03.offsec.lan", "RecordId": 1, "TimeCreated": "/Date(1634739535808)/",
           "Properties": [{"Value": "S-1-5-18"}, {"Value": "FS03$"}]}
    items = list(read_events(_write_jsonl(tmp_path / "getwinevent.jsonl", [obj])))
    assert len(items) == 1 and isinstance(items[0], Rejected)
    assert "by position, without names" in items[0].message and ".evtx" in items[0].message
