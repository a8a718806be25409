"""`stormpack hunt` over real .evtx recordings (tests/data/evtx, see PROVENANCE.md) with the
pack's Windows rules: the recorded LSASS dumps and accesses, the shadow-copy creation and hive read,
the DLL side-loads and the Tor start fire their rules; every other event is evaluated or reported
unrecognised, none rejected.

The expectation is computed from the events here (the command lines the rules describe), not
taken from the tool.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from stormpack.readers import Record, read_events

REPO = Path(__file__).resolve().parent.parent
EVTX = REPO / "tests" / "data" / "evtx"
RULES = REPO / "rules" / "windows"
FILES = sorted(EVTX.glob("*.evtx"))
COMSVCS = "LSASS Memory Dump Via Comsvcs MiniDump"
SHADOW = "Credential Hive Read From A Volume Shadow Copy"
TOR = "Tor Or SoftEther VPN Client Started"
VSS = "Volume Shadow Copy Created From The Command Line"
LSASS_OPEN = "LSASS Memory Opened For Reading"
DUMP_FILE = "LSASS Memory Dump File Written"
SIDE_LOAD = "DLL Loaded Beside A Relocated Windows Binary"
# the access masks with PROCESS_VM_READ that dump tools ask for (the rule's list)
READ_MASKS = {"0x1010", "0x1410", "0x1418", "0x1438", "0x143a", "0x1fffff", "0x1f0fff", "0x1f1fff",
              "0x1f2fff", "0x1f3fff"}
SYSTEM_READERS = ("c:\\windows\\system32\\csrss.exe", "c:\\windows\\system32\\wininit.exe",
                  "c:\\windows\\system32\\wbem\\wmiprvse.exe")
WRITABLE = ("\\users\\", "\\programdata\\", "\\windows\\temp\\", "\\perflogs\\")


def _expected() -> set[tuple[str, str, int]]:
    out: set[tuple[str, str, int]] = set()
    for path in FILES:
        for item in read_events(path):
            assert isinstance(item, Record)
            d = item.data
            cmd = str(d.get("CommandLine") or "").lower()
            image = str(d.get("Image") or "").lower()
            eid = d.get("EventID")
            if eid == 10:
                src = str(d.get("SourceImage") or "").lower()
                if (str(d.get("TargetImage") or "").lower().endswith("\\lsass.exe")
                        and d.get("GrantedAccess") in READ_MASKS and not src.endswith("\\msmpeng.exe")
                        and src not in SYSTEM_READERS):
                    out.add((LSASS_OPEN, path.name, item.index))
            if eid == 11:
                target = str(d.get("TargetFilename") or "").lower()
                if "lsass" in target and target.endswith(".dmp"):
                    out.add((DUMP_FILE, path.name, item.index))
            if eid == 7:
                loaded = str(d.get("ImageLoaded") or "").lower()
                if (image.rsplit("\\", 1)[-1] in ("fsquirt.exe", "sqlwriter.exe")
                        and any(w in image for w in WRITABLE) and any(w in loaded for w in WRITABLE)):
                    out.add((SIDE_LOAD, path.name, item.index))
            if eid not in (1, 4688):
                continue
            if image.endswith("\\diskshadow.exe") and " /s " in cmd:
                out.add((VSS, path.name, item.index))
            if "comsvcs" in cmd and "minidump" in cmd:
                out.add((COMSVCS, path.name, item.index))
            if re.search(r"@gmt-|harddiskvolumeshadowcopy", cmd) and "\\config\\system" in cmd:
                out.add((SHADOW, path.name, item.index))
            if image.endswith("\\tor browser\\browser\\firefox.exe"):
                out.add((TOR, path.name, item.index))
    return out


def test_real_lsass_dump_shadow_copy_side_load_and_tor_recordings_fire_their_rules() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(RULES), "--values",
           str(REPO / "fixtures" / "values"), "--format", "jsonl",
           *[a for f in FILES for a in ("--events", str(f))]],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines()]
    got = {(h["rule_title"], Path(h["source"]).name, h["event_index"]) for h in hits}
    expected = _expected()
    # 2 Sysmon + 2 Security comsvcs MiniDump processes, the print.exe SYSTEM copy, the Tor Browser,
    # diskshadow's script run, lsass opened by lsassy's rundll32 (0x1fffff) and by WerFaultSecure,
    # Task Manager's lsass.DMP, two side-loads
    assert len(expected) == 12
    assert {t for t, _, _ in expected} == {COMSVCS, SHADOW, TOR, VSS, LSASS_OPEN, DUMP_FILE, SIDE_LOAD}
    assert got == expected
    assert "0 rejected" in proc.stderr
