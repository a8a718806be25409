"""`stormpack hunt` over real .evtx recordings (tests/data/evtx, see PROVENANCE.md) with the
pack's Windows rules: the recorded LSASS dumps, the shadow-copy hive read and the Tor start fire
their rules; every other event is evaluated or reported unrecognised, none rejected.

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


def _expected() -> set[tuple[str, str, int]]:
    out: set[tuple[str, str, int]] = set()
    for path in FILES:
        for item in read_events(path):
            assert isinstance(item, Record)
            d = item.data
            cmd = str(d.get("CommandLine") or "").lower()
            image = str(d.get("Image") or "").lower()
            if d.get("EventID") not in (1, 4688):
                continue
            if "comsvcs" in cmd and "minidump" in cmd:
                out.add((COMSVCS, path.name, item.index))
            if re.search(r"@gmt-|harddiskvolumeshadowcopy", cmd) and "\\config\\system" in cmd:
                out.add((SHADOW, path.name, item.index))
            if image.endswith("\\tor browser\\browser\\firefox.exe"):
                out.add((TOR, path.name, item.index))
    return out


def test_real_lsass_dump_shadow_copy_and_tor_recordings_fire_their_rules() -> None:
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
    # 2 Sysmon + 2 Security comsvcs MiniDump processes, the print.exe SYSTEM copy, the Tor Browser
    assert len(expected) == 6
    assert {t for t, _, _ in expected} == {COMSVCS, SHADOW, TOR}
    assert got == expected
    assert "0 rejected" in proc.stderr
