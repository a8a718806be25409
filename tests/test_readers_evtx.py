"""EVTX files (real recordings in tests/data/evtx, see PROVENANCE.md) read into Sigma's flat shape."""

from __future__ import annotations

from pathlib import Path

from stormpack.readers import EventFile, FileFormat, Record, Rejected, read_events
from stormpack.taxonomy import load_taxonomy

DATA = Path(__file__).parent / "data" / "evtx"
SYSMON = DATA / "lsassy_comsvcs_minidump_sysmon.evtx"
SECURITY = DATA / "lsassy_comsvcs_minidump_security.evtx"


def _records(path: Path) -> list[Record]:
    items = list(read_events(path))
    assert not [i for i in items if isinstance(i, Rejected)]
    return [i for i in items if isinstance(i, Record)]


def test_detected_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "export.json"
    renamed.write_bytes(SYSMON.read_bytes())
    with EventFile(renamed) as f:
        assert f.format is FileFormat.EVTX


def test_sysmon_event_is_flat_with_system_and_eventdata_fields() -> None:
    recs = _records(SYSMON)
    assert len(recs) == 14
    created = [r.data for r in recs if r.data["EventID"] == 1]
    rundll = next(d for d in created if d["Image"].lower().endswith("rundll32.exe"))
    assert rundll["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert rundll["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert rundll["Computer"] == "FS03.offsec.lan"
    assert rundll["TimeCreated"].startswith("2021-10-20T14:")
    assert "comsvcs.dll" in rundll["CommandLine"] and "MiniDump" in rundll["CommandLine"]
    assert rundll["ParentImage"].lower().endswith("powershell.exe")
    assert [r.index for r in recs] == list(range(14))
    # line = the record number of the file's record header; EventRecordID = the channel's number
    assert [r.line for r in recs] == list(range(1, 15))
    assert [r.data["EventRecordID"] for r in recs] == list(range(71666, 71680))


def test_security_4688_gets_the_sysmon_process_creation_names() -> None:
    recs = [r.data for r in _records(SECURITY) if r.data["EventID"] == 4688]
    assert len(recs) == 3
    ps = next(d for d in recs if d["NewProcessName"].lower().endswith("powershell.exe"))
    assert ps["Image"] == ps["NewProcessName"]
    assert ps["ProcessId"] == "0x998"  # NewProcessId
    assert ps["ParentProcessId"] == "0x668"  # the 4688 ProcessId field: the creator
    assert ps["User"] == "OFFSEC\\FS03$"
    assert "MiniDump" in ps["CommandLine"]


def test_taxonomy_recognises_sysmon_1_and_security_4688_as_process_creation() -> None:
    tax = load_taxonomy()
    kinds = {}
    for path in (SYSMON, SECURITY):
        for r in _records(path):
            spec = tax.classify(r.data)
            kinds[(r.data["EventID"], spec.key if spec else None)] = True
    assert (1, "windows_process_creation") in kinds
    assert (4688, "windows_process_creation") in kinds
    assert (10, "windows_process_access") in kinds  # Sysmon process access (lsassy opening lsass)
    assert (4624, None) in kinds


def test_unreadable_chunk_is_rejected_with_file_and_reason_and_reading_goes_on(tmp_path: Path) -> None:
    raw = bytearray(SYSMON.read_bytes())
    chunk = raw.find(b"ElfChnk\x00")
    assert chunk == 4096
    broken = tmp_path / "broken.evtx"
    # a second copy of the file's one chunk after it, then its magic destroyed in the first copy
    body = raw[chunk:chunk + 65536]
    raw[chunk:chunk + 8] = b"XXXXXXXX"
    broken.write_bytes(bytes(raw) + bytes(body))
    items = list(read_events(broken))
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert rejected, "a destroyed chunk header must be reported"
    assert all(str(broken) in str(r) and "EVTX parser" in r.message for r in rejected)
    assert "chunk" in rejected[0].message.lower()
