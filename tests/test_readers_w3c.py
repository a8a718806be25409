"""IIS W3C extended logs (tests/data/w3c, see PROVENANCE.md): detected by content, one record per
request line under SigmaHQ's webserver names, a new #Fields: block honoured mid-file, every broken
line reported with its line number, and the web-shell rule firing on the POSTs it describes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stormpack.readers import EventFile, FileFormat, Record, Rejected, read_events
from stormpack.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "w3c"
WEB_SHELL = "POST To A Script Page In An Exchange Or IIS Client Folder"


def _items(path: Path) -> list[Record | Rejected]:
    return list(read_events(path))


def test_iis6_style_line_reads_under_sigma_names_with_utc_timestamp() -> None:
    path = DATA / "iis6_style_example.log"
    assert EventFile(path).format is FileFormat.W3C
    (item,) = _items(path)
    assert isinstance(item, Record)
    assert item.line == 5 and item.index == 0
    assert item.data == {
        "timestamp": "2002-05-02T17:42:15Z", "date": "2002-05-02", "time": "17:42:15",
        "c-ip": "172.22.255.255", "s-ip": "172.30.255.255", "s-port": 80, "cs-method": "GET",
        "cs-uri-stem": "/images/picture.jpg", "sc-status": 200,
        "cs-user-agent": "Mozilla/4.0+(compatible;MSIE+5.5;+Windows+2000+Server)",
    }  # "-" (no user name, no query) is no value
    assert load_taxonomy().classify(item.data).key == "webserver"  # type: ignore[union-attr]


def test_a_second_fields_block_changes_the_columns() -> None:
    items = _items(DATA / "iis10_two_field_blocks.log")
    assert all(isinstance(i, Record) for i in items)
    recs = [i for i in items if isinstance(i, Record)]
    assert [r.index for r in recs] == [0, 1, 2, 3, 4]
    assert [r.line for r in recs] == [5, 6, 7, 12, 13]
    assert recs[2].data["cs-referer"] == "https://mail.contoso.com/owa/auth/logon.aspx"
    assert "cs-referer" not in recs[3].data  # the second block logs no referer
    assert recs[3].data["cs-uri-stem"] == "/owa/auth/web.aspx"
    assert recs[4].data["cs-username"] == "CONTOSO\\adele"
    assert "cs-user-agent" not in recs[1].data  # "-": the POST carried no user agent


def test_broken_lines_are_reported_with_their_line_and_reading_goes_on(tmp_path: Path) -> None:
    lines = [
        b"#Software: Microsoft Internet Information Services 10.0",
        b"#Version: 1.0",
        b"2023-06-16 10:00:00 GET / 200",  # before the #Fields: directive
        b"#Fields: date time cs-method cs-uri-stem sc-status",
        b"2023-06-16 10:00:01 GET /a.aspx 200",
        b"2023-06-16 10:00:02 GET /b.aspx",  # a value short
        b"16/06/2023 10:00:03 GET /c.aspx 200",  # not a W3C date
        b"2023-06-16 10:00:04 GET /d\xff.aspx 200",  # not UTF-8
        b"2023-06-16 10:00:05 POST /e.aspx 500",
    ]
    path = tmp_path / "u_ex230616.log"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    items = _items(path)
    rejected = [(i.line, i.message) for i in items if isinstance(i, Rejected)]
    assert rejected == [
        (3, "request line before any #Fields: directive"),
        (6, "line has 4 values, its #Fields: directive (line 4) names 5"),
        (7, "date '16/06/2023' is not YYYY-MM-DD"),
        (8, "not valid UTF-8 text (wrong encoding?)"),
    ]
    assert [i.data["cs-uri-stem"] for i in items if isinstance(i, Record)] == ["/a.aspx", "/e.aspx"]
    assert all(str(i).startswith(f"{path}:") for i in items if isinstance(i, Rejected))


def test_gzip_compressed_log_is_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "iis.gz"
    path.write_bytes(gzip.compress((DATA / "iis10_two_field_blocks.log").read_bytes()))
    with EventFile(path) as f:
        assert f.format is FileFormat.W3C
        assert sum(isinstance(i, Record) for i in f) == 5


def test_markdown_comment_is_not_a_w3c_log(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"# Notes\n#Fields are described below\n")
    try:
        EventFile(path)
    except Exception as exc:  # noqa: BLE001 - the reader's own error type is asserted by message
        assert "unknown format" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a Markdown file was read as a log")


def test_hunt_fires_the_web_shell_rule_on_the_post_requests() -> None:
    path = DATA / "iis10_two_field_blocks.log"
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(REPO / "rules" / "web"), "--values",
         str(REPO / "fixtures" / "values"), "--format", "jsonl", "--events", str(path)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines()]
    # expected from the lines: POSTs to a page in /aspnet_client/ or to a non-Exchange page in /owa/auth/
    expected = set()
    for item in read_events(path):
        assert isinstance(item, Record)
        stem, method = item.data["cs-uri-stem"].lower(), item.data["cs-method"]
        if method == "POST" and (
            (stem.startswith("/aspnet_client/") and stem.endswith((".aspx", ".asp", ".ashx", ".asmx")))
            or (stem.startswith("/owa/auth/") and stem.endswith(".aspx")
                and stem != "/owa/auth/expiredpassword.aspx")
        ):
            expected.add(item.index)
    assert expected == {1, 3}
    assert {h["event_index"] for h in hits if h["rule_title"] == WEB_SHELL} == expected
    assert "0 rejected" in proc.stderr
