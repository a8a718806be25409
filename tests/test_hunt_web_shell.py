"""`stormpack hunt` over a real web-shell recording: OTRF Security-Datasets'
``proxylogon_ssrf_rce_poc`` (MIT; tests/data/windows_json/PROVENANCE.md), a ProxyLogon proof of
concept against Exchange server MXS01.azsentinel.local. The planted ``ohyeah.aspx`` runs
``cmd /c whoami`` under the MSExchangeOWAAppPool w3wp.exe (Sysmon 1 and Security 4688, twice each);
ASP.NET compiling the page starts cvtres.exe under the same w3wp.exe (the near miss).

The expected hits are computed from the lines (the parent and child images), not taken from the
tool; the HELK-flattened Security 4688 must read with Sysmon's names (Image, ParentImage) and the
computer under ``Computer``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from stormpack.readers import Record, read_events

REPO = Path(__file__).resolve().parent.parent
LINES = REPO / "tests" / "data" / "windows_json" / "otrf_proxylogon_ssrf_rce_poc.jsonl"
WORKER_SHELL = "Web Server Worker Spawns Shell Or Recon Tool"


def _raw() -> list[dict[str, object]]:
    return [orjson.loads(line) for line in LINES.read_bytes().splitlines()]


def test_helk_security_4688_reads_with_sysmon_names_and_computer() -> None:
    raw = _raw()
    records = list(read_events(LINES))
    assert all(isinstance(r, Record) for r in records) and len(records) == len(raw)
    for item, line in zip(records, raw, strict=True):
        assert isinstance(item, Record)
        d = item.data
        assert d["Computer"] == line["Hostname"] and d["Provider_Name"] == line["SourceName"]
        if line["EventID"] == 4688:
            assert d["Image"] == line["NewProcessName"] and d["ParentImage"] == line["ParentProcessName"]
            assert d["ParentProcessId"] == line["ProcessId"] and d["ProcessId"] == line["NewProcessId"]
        else:  # nothing else renamed
            assert {k: v for k, v in d.items() if k not in ("Computer", "Provider_Name")} == line


def test_real_proxylogon_web_shell_commands_fire_the_worker_rule_and_the_compile_step_does_not() -> None:
    raw = _raw()
    want = set()
    for i, line in enumerate(raw):
        parent = str(line.get("ParentImage") or line.get("ParentProcessName") or "").lower()
        child = str(line.get("Image") or line.get("NewProcessName") or "").lower()
        if line["EventID"] in (1, 4688) and parent.endswith("\\w3wp.exe") and child.endswith("\\cmd.exe"):
            want.add((WORKER_SHELL, i))
    assert len(want) == 4  # Sysmon 1 x2, Security 4688 x2: the two whoami runs
    compiles = [i for i, line in enumerate(raw) if "cvtres.exe" in str(line.get("CommandLine", ""))]
    assert len(compiles) == 2
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules" / "windows"), "--values",
         str(REPO / "fixtures" / "values"), "--format", "jsonl", "--events", str(LINES)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits = {(h["rule_title"], h["event_index"]) for h in map(json.loads, proc.stdout.splitlines())}
    assert hits == want
    assert not {i for _, i in hits} & set(compiles)
    # the Security 5145 share access (the shell written over \\127.0.0.1\C$) is reported, not dropped
    assert "8 evaluated + 1 unrecognised + 0 rejected" in proc.stderr
    assert "EventID 5145" in proc.stderr
