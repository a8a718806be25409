"""Generated files are current: the shipped pySigma pipelines and the golden compiled output of
every rule in rules/ for every target (`make golden` regenerates them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stormpack.cli.golden_cmd import expected_golden
from stormpack.compiler.build import golden_diff
from stormpack.compiler.pipeline_gen import pipeline_path, stale_pipelines

ROOT = Path(__file__).resolve().parents[1]


def test_pipelines_are_current() -> None:
    assert stale_pipelines() == [], "pipelines are stale: run `make golden`"


def test_golden_files_are_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    expected = expected_golden()
    assert any(k.startswith("sentinel/") and k.endswith(".kql") for k in expected)
    assert golden_diff(expected, ROOT / "tests" / "golden") == [], "golden files differ: run `make golden`"


def test_golden_queries_start_with_their_table_or_sourcetype() -> None:
    golden = ROOT / "tests" / "golden"
    for target, starts in (
        (
            "sentinel",
            (
                "OfficeActivity\n",
                "SigninLogs\n",
                "AADNonInteractiveUserSignInLogs\n",
                "AuditLogs\n",
                "AADUserRiskEvents\n",
                "DeviceProcessEvents\n",
                "DeviceImageLoadEvents\n",
                "DeviceFileEvents\n",
                "DeviceRegistryEvents\n",
                "DeviceNetworkEvents\n",
                "W3CIISLog\n",
                "union\n",
                "let stormpack_learning = ",  # first-seen: `let stormpack_events = <table>` follows
            ),
        ),
        ("defender", ("CloudAppEvents\n", "EntraIdSignInEvents\n", "DeviceProcessEvents\n",
                      "DeviceImageLoadEvents\n", "DeviceFileEvents\n", "DeviceRegistryEvents\n",
                      "DeviceNetworkEvents\n", "union\n",
                      "let stormpack_learning = ")),
        (
            "splunk",
            (
                'index="*" sourcetype="o365:management:activity"',
                'index="*" sourcetype="azure:monitor:aad" category=',
                'index="*" ((source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=1) OR '
                '(source="XmlWinEventLog:Security" EventCode=4688))',
                'index="*" source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=',
                'index="*" sourcetype="ms:iis:auto"',
                "| multisearch\n",
            ),
        ),
    ):
        files = [p for p in (golden / target).iterdir() if p.suffix in (".kql", ".spl")]
        assert files
        for p in files:
            text = p.read_text(encoding="utf-8")
            assert text.startswith(starts), p
            if text.startswith("let stormpack_learning = "):  # the table starts the events let
                events = text.split("\nlet stormpack_events = ", 1)[1]
                assert events.startswith(tuple(t for t in starts if t.endswith("\n") and t != "union\n")), p


def _plain_rule(tmp: Path) -> Path:
    p = tmp / "plain.yml"
    p.write_text(
        "title: Plain\nid: 1a2b3c4d-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {product: m365, service: audit}\n"
        "detection:\n  sel:\n    Operation: New-InboxRule\n    Workload: Exchange\n"
        "    ClientIP|cidr: 10.0.0.0/8\n  condition: sel\nlevel: low\n",
        encoding="utf-8",
    )
    return p


def test_sigma_cli_uses_the_shipped_sentinel_pipeline(tmp_path: Path) -> None:
    sigma = Path(sys.executable).with_name("sigma")
    out = subprocess.run(
        [
            str(sigma),
            "convert",
            "-t",
            "kusto",
            "-p",
            str(pipeline_path("sentinel")),
            str(_plain_rule(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.returncode == 0, out.stderr + out.stdout
    query = out.stdout.strip().splitlines()
    assert query[0] == "OfficeActivity"
    assert query[-1] == (
        '| where Operation =~ "New-InboxRule" and OfficeWorkload =~ "Exchange" and '
        'ipv4_is_in_range(ClientIP_addr, "10.0.0.0/8")'
    )
    assert any(line.startswith("| extend ClientIP_addr = case(") for line in query)


def test_sigma_cli_refuses_what_needs_stormpack(tmp_path: Path) -> None:
    p = tmp_path / "nv.yml"
    p.write_text(
        "title: NV\nid: 1a2b3c4d-0000-4000-8000-000000000002\nstatus: test\n"
        "logsource: {product: m365, service: audit}\n"
        "detection:\n  sel:\n    Parameters.ForwardTo: x@y.z\n  condition: sel\nlevel: low\n",
        encoding="utf-8",
    )
    sigma = Path(sys.executable).with_name("sigma")
    out = subprocess.run(
        [str(sigma), "convert", "-t", "kusto", "-p", str(pipeline_path("sentinel")), str(p)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "need `stormpack compile`" in out.stdout + out.stderr
