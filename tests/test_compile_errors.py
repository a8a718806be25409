"""Fail loudly: what a target cannot express is an error naming rule, field and target (and the
file and line), never a silently wrong query; `stormpack compile` then exits non-zero."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stormpack.compiler import compile_rules
from stormpack.compiler.build import report_text
from stormpack.errors import CompileError, UnmappedFieldError, UnmappedLogsourceError


def write_rule(tmp: Path, logsource: str, detection: str, title: str = "Broken Rule") -> Path:
    p = tmp / "rule.yml"
    p.write_text(
        f"title: {title}\nid: 7e1d7c1e-0000-4000-8000-000000000001\nstatus: test\n"
        f"logsource:\n  {logsource}\ndetection:\n"
        + textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ")
        + "\nlevel: low\n",
        encoding="utf-8",
    )
    return p


def only_error(path: Path, target: str, values: dict[str, list[str]] | None = None) -> CompileError:
    res = compile_rules([path], target, values or {})
    assert res.queries == []
    assert len(res.errors) == 1 and len(res.skipped) == 1
    return res.errors[0]


@pytest.mark.parametrize("target", ["sentinel", "defender", "splunk"])
def test_unknown_field_names_rule_field_target_and_line(tmp_path: Path, target: str) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          Operation: MailItemsAccessed
          NoSuchField: x
        condition: sel
    """,
    )
    err = only_error(p, target)
    assert isinstance(err, UnmappedFieldError)
    assert (err.rule, err.field, err.target) == ("Broken Rule", "NoSuchField", target)
    assert err.location is not None and err.location.line == 10
    assert "not in the taxonomy" in str(err) and str(p) in str(err)


@pytest.mark.parametrize("target", ["sentinel", "defender", "splunk"])
def test_logsource_outside_the_taxonomy(tmp_path: Path, target: str) -> None:
    p = write_rule(
        tmp_path,
        "product: windows\n  category: driver_load",
        """
        sel:
          ImageLoaded|endswith: '\\evil.sys'
        condition: sel
    """,
    )
    err = only_error(p, target)
    assert isinstance(err, UnmappedLogsourceError)
    assert err.rule == "Broken Rule" and err.target == target
    assert "windows/driver_load" in str(err)


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_windows_field_whose_device_column_differs_fails_naming_it(tmp_path: Path, target: str) -> None:
    # Sysmon's User is "DOMAIN\\user"; DeviceProcessEvents splits it into two columns, so the
    # field is unsupported there (data/targets/<target>.yml) instead of compared as other text
    p = write_rule(
        tmp_path,
        "product: windows\n  category: process_creation",
        """
        sel:
          Image|endswith: '\\cmd.exe'
          User: 'NT AUTHORITY\\SYSTEM'
        condition: sel
    """,
    )
    err = only_error(p, target)
    assert isinstance(err, UnmappedFieldError)
    assert (err.rule, err.field, err.target) == ("Broken Rule", "User", target)
    assert "DeviceProcessEvents" in str(err) and "AccountDomain" in str(err)


def test_windows_process_creation_table_per_target(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: windows\n  category: process_creation",
        """
        sel:
          Image|endswith: '\\cmd.exe'
        condition: sel
    """,
    )
    results = {t: compile_rules([p], t, {}) for t in ("sentinel", "defender", "splunk")}
    tables = {t: r.queries[0].table for t, r in results.items()}
    # the compile report (build/compile-report.txt) names the table of every rule per target
    report = report_text(results)
    assert report.count("[DeviceProcessEvents]") == 2 and "EventCode=4688))]" in report
    assert tables["sentinel"] == tables["defender"] == "DeviceProcessEvents"
    assert 'source="XmlWinEventLog:Security" EventCode=4688' in tables["splunk"]
    assert 'source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=1' in tables["splunk"]


def test_logsource_a_target_does_not_have(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: azure\n  service: auditlogs",
        """
        sel:
          operationName: Consent to application
        condition: sel
    """,
    )
    err = only_error(p, "defender")
    assert isinstance(err, UnmappedLogsourceError)
    assert "azure_auditlogs is not available on defender" in str(err)
    assert compile_rules([p], "sentinel", {}).queries[0].query.startswith("AuditLogs\n")


def test_field_a_target_does_not_have(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          AppAccessContext.UniqueTokenId: null
        condition: sel
    """,
    )
    err = only_error(p, "sentinel")
    assert isinstance(err, UnmappedFieldError)
    assert err.field == "AppAccessContext.UniqueTokenId"
    assert "OfficeActivity has no AppAccessContext column" in str(err)
    # the same rule is fine where the raw record is available
    assert (
        compile_rules([p], "defender", {})
        .queries[0]
        .query.endswith("isempty(AppAccessContext_UniqueTokenId)")
    )


def test_value_without_a_known_spelling(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          RecordType: 29
        condition: sel
    """,
    )
    err = only_error(p, "sentinel")
    assert err.field == "RecordType" and "'29' has no known spelling on sentinel" in str(err)
    assert compile_rules([p], "splunk", {}).queries[0].query.endswith("RecordType=29")


def test_unresolved_placeholder(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          UserId|expand: '%no_such_list%'
        condition: sel
    """,
    )
    err = only_error(p, "sentinel", {"other": ["x"]})
    assert "placeholder %no_such_list% has no value" in str(err)


def test_regex_on_array_field_cannot_be_expressed(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          Folders.Path|re: 'Inbox$'
        condition: sel
    """,
    )
    for target in ("sentinel", "splunk"):
        err = only_error(p, target)
        assert "array field Folders.Path" in str(err) and err.target == target


def test_keyword_with_inner_wildcard_fails_on_kql(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        keywords:
          - 'Set-*Mailbox'
        condition: keywords
    """,
    )
    assert "keyword with a wildcard" in str(only_error(p, "sentinel"))


def test_cidr_on_a_non_ip_field_fails(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          UserId|cidr: 10.0.0.0/8
        condition: sel
    """,
    )
    assert "|cidr needs an ip field" in str(only_error(p, "sentinel"))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stormpack", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_cli_compile_exits_non_zero_naming_rule_field_target(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          NoSuchField: x
        condition: sel
    """,
    )
    out = run_cli("compile", "--target", "sentinel", str(p))
    assert out.returncode != 0
    assert "rule 'Broken Rule', target sentinel, field 'NoSuchField'" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_compile_prints_queries_or_writes_files(tmp_path: Path) -> None:
    p = write_rule(
        tmp_path,
        "product: m365\n  service: audit",
        """
        sel:
          Operation: New-InboxRule
        condition: sel
    """,
        title="Fine Rule",
    )
    out = run_cli("compile", "--target", "splunk", str(p))
    assert out.returncode == 0, out.stderr
    assert out.stdout == 'index="*" sourcetype="o365:management:activity" Operation="New-InboxRule"\n'
    outdir = tmp_path / "out"
    out = run_cli("compile", "-t", "defender", "-o", str(outdir), str(p))
    assert out.returncode == 0, out.stderr
    assert (outdir / "rule.kql").read_text(
        encoding="utf-8"
    ) == 'CloudAppEvents\n| where ActionType =~ "New-InboxRule"\n'


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_loaded_module_signature_is_not_read_from_the_loading_process(tmp_path: Path, target: str) -> None:
    # Sysmon 7's Signed / OriginalFileName describe the loaded DLL; DeviceImageLoadEvents' version
    # columns describe the loading process, so the field fails to compile instead of comparing them
    p = write_rule(
        tmp_path,
        "product: windows\n  category: image_load",
        """
        sel:
          ImageLoaded|endswith: '\\\\version.dll'
          Signed: 'false'
        condition: sel
    """,
    )
    err = only_error(p, target)
    assert isinstance(err, UnmappedFieldError)
    assert (err.field, err.target) == ("Signed", target)
    assert "DeviceImageLoadEvents" in str(err)


@pytest.mark.parametrize("target", ["sentinel", "defender"])
def test_process_access_is_not_available_on_the_device_tables(tmp_path: Path, target: str) -> None:
    p = write_rule(
        tmp_path,
        "product: windows\n  category: process_access",
        """
        sel:
          TargetImage|endswith: '\\\\lsass.exe'
        condition: sel
    """,
    )
    err = only_error(p, target)
    assert isinstance(err, UnmappedLogsourceError)
    assert "windows_process_access is not available" in str(err) and "GrantedAccess" in str(err)
    assert compile_rules([p], "splunk", {}).queries[0].query.startswith(
        'index="*" source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=10')
