"""Streaming log readers: format detection, record identity across formats, and every way a
file can be broken (reported with file and line, the rest still read)."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from stormpack.errors import EventReadError
from stormpack.readers import (
    EventFile,
    FileFormat,
    ReaderLimits,
    Record,
    Rejected,
    read_events,
    resolve_event_paths,
)
from stormpack.readers.depth import MAX_DEPTH

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
DATA = Path(__file__).resolve().parent / "data" / "hunt"
COMBINED_CSV = CORPUS / "purview_export_combined.csv"
BLUETEAM = CORPUS / "blueteam0ps-det-eng-samples"


def read_all(path: Path, limits: ReaderLimits | None = None) -> tuple[list[Record], list[Rejected]]:
    recs: list[Record] = []
    rej: list[Rejected] = []
    for item in read_events(path, limits):
        (recs if isinstance(item, Record) else rej).append(item)
    return recs, rej


def fmt_of(path: Path) -> FileFormat:
    with EventFile(path) as f:
        return f.format


def purview_oracle(path: Path) -> list[dict[str, Any]]:
    """The records of a Purview CSV, read with the standard library (independent of the reader)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return [json.loads(row["AuditData"]) for row in csv.DictReader(f)]


def gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


# ------------------------------------------------------------------------- real exports


def test_purview_csv_records_are_the_auditdata_objects() -> None:
    recs, rej = read_all(COMBINED_CSV)
    assert rej == []
    assert [r.data for r in recs] == purview_oracle(COMBINED_CSV)
    assert [r.index for r in recs] == list(range(len(recs)))
    assert fmt_of(COMBINED_CSV) is FileFormat.PURVIEW_CSV
    # the record starts on the physical line after the header and each earlier one-line row
    assert [r.line for r in recs] == [i + 2 for i in range(len(recs))]


def test_search_unifiedauditlog_json_array_is_unwrapped_to_auditdata() -> None:
    path = BLUETEAM / "t1114.003_rule_mail_forward_same_dest.json"
    recs, rej = read_all(path)
    wrappers = json.loads(path.read_text(encoding="utf-8"))
    assert rej == []
    assert fmt_of(path) is FileFormat.JSON_ARRAY
    assert [r.data for r in recs] == [w["AuditData"] for w in wrappers]
    assert [r.index for r in recs] == list(range(len(wrappers)))
    text_lines = path.read_text(encoding="utf-8").splitlines()
    for r in recs:  # each record's line is where its array element opens
        assert text_lines[r.line - 1].strip().startswith(("{", "[{"))


def test_pretty_printed_single_document() -> None:
    path = BLUETEAM / "t1564.008_rule_mark_as_read_move.json"
    recs, rej = read_all(path)
    assert rej == []
    assert fmt_of(path) is FileFormat.JSON_DOCUMENTS
    assert [r.data for r in recs] == [json.loads(path.read_text(encoding="utf-8"))["AuditData"]]


def test_management_api_content_blob_array() -> None:
    path = CORPUS / "microsoftdocs-office-365-management-api" / (
        "office-365-management-activity-api-reference.example-content-blob.json")
    recs, rej = read_all(path)
    assert rej == []
    assert [r.data for r in recs] == json.loads(path.read_text(encoding="utf-8"))


def test_sentinel_table_csv_with_bom_and_crlf_becomes_flat_rows() -> None:
    path = CORPUS / "azure-sentinel-training-lab" / "office_activity_inbox_rule.csv"
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    recs, rej = read_all(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        expected = list(csv.DictReader(f))
    assert rej == []
    assert fmt_of(path) is FileFormat.TABLE_CSV
    assert [r.data for r in recs] == expected
    assert "Application" in recs[0].data  # the BOM is not part of the first column name


# ------------------------------------------------------------------------- same records, any format


def _variants(records: list[dict[str, Any]], tmp: Path) -> dict[str, tuple[Path, FileFormat]]:
    jsonl = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    array = json.dumps(records, indent=2).encode()
    batch = json.dumps({"records": records}, indent=1).encode()
    docs = b"\n".join(json.dumps(r, indent=4).encode() for r in records)
    wrapped = json.dumps(
        [{"RecordType": "X", "CreationDate": "1/1/2024", "AuditData": json.dumps(r)} for r in records]
    ).encode()
    sio = io.StringIO(newline="")
    w = csv.writer(sio, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(["RecordType", "CreationDate", "UserIds", "Operations", "AuditData", "ResultIndex"])
    for i, r in enumerate(records):
        w.writerow(["ExchangeAdmin", "5/29/2023", r.get("UserId", ""), r.get("Operation", ""),
                    json.dumps(r), i])
    purview = sio.getvalue().encode()
    out: dict[str, tuple[Path, FileFormat]] = {}
    for name, data, fmt in [
        ("lines.jsonl", jsonl, FileFormat.JSON_LINES),
        ("array.json", array, FileFormat.JSON_ARRAY),
        ("batch.json", batch, FileFormat.JSON_DOCUMENTS),
        ("docs.json", docs, FileFormat.JSON_DOCUMENTS),
        ("wrapped.json", wrapped, FileFormat.JSON_ARRAY),
        ("purview.csv", purview, FileFormat.PURVIEW_CSV),
        ("bom.jsonl", codecs.BOM_UTF8 + jsonl, FileFormat.JSON_LINES),
        ("utf16.jsonl", codecs.BOM_UTF16_LE + jsonl.decode().encode("utf-16-le"), FileFormat.JSON_LINES),
        ("utf16-nobom.csv", purview.decode().encode("utf-16-le"), FileFormat.PURVIEW_CSV),
    ]:
        plain = tmp / name
        plain.write_bytes(data)
        out[name] = (plain, fmt)
        # the gzip twin carries a misleading name: detection is by content only
        out[name + " (gzip)"] = (gz(tmp / (name + ".txt"), data), fmt)
    return out


def test_every_format_and_its_gzip_twin_give_identical_records(tmp_path: Path) -> None:
    expected = purview_oracle(COMBINED_CSV)
    for name, (path, fmt) in _variants(expected, tmp_path).items():
        recs, rej = read_all(path)
        assert rej == [], name
        assert fmt_of(path) is fmt, name
        assert [r.data for r in recs] == expected, name
        assert [r.index for r in recs] == list(range(len(expected))), name


def test_entra_signins_one_per_line_and_records_batch_agree(tmp_path: Path) -> None:
    lines_path = DATA / "entra_signins.jsonl"
    expected = [json.loads(line) for line in lines_path.read_text(encoding="utf-8").splitlines()]
    batch = tmp_path / "PT1H.json"
    batch.write_text(json.dumps({"records": expected}), encoding="utf-8")
    per_line_batches = tmp_path / "capture.jsonl"  # Event Hub capture: one batch per line
    per_line_batches.write_text(
        json.dumps({"records": expected[:2]}) + "\n" + json.dumps({"records": expected[2:]}) + "\n",
        encoding="utf-8",
    )
    for path in (lines_path, batch, gz(tmp_path / "batch.gz", batch.read_bytes()), per_line_batches):
        recs, rej = read_all(path)
        assert rej == [], path
        assert [r.data for r in recs] == expected, path
    recs, _ = read_all(batch)
    assert [r.index for r in recs] == [0, 1, 2]  # position in "records"
    recs, _ = read_all(per_line_batches)
    assert [r.index for r in recs] == [0, 1, 2]  # batches, one after another: running position


# ------------------------------------------------------------------------- broken records


def _lines(n: int) -> list[bytes]:
    return [json.dumps({"Operation": "MailItemsAccessed", "Id": str(i), "n": i}).encode() for i in range(n)]


def test_corrupt_json_line_is_reported_with_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    lines = _lines(6)
    lines[2] = b'{"Operation": "Set-Mailbox", "Id": '  # cut short
    lines[4] = b"[1, 2]"  # valid JSON, not a record
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    recs, rej = read_all(path)
    assert [r.data["n"] for r in recs] == [0, 1, 3, 5]
    assert [r.index for r in recs] == [0, 1, 3, 5]
    assert [(r.index, r.line) for r in rej] == [(2, 3), (4, 5)]
    assert "invalid JSON" in rej[0].message and str(path) in str(rej[0])
    assert "not array" in rej[1].message
    assert len(recs) + len(rej) == len(lines)  # the blank line at the end is not a record


def test_csv_with_embedded_newlines_and_quotes_in_auditdata(tmp_path: Path) -> None:
    tricky = [
        {"Operation": "New-InboxRule", "Parameters": [{"Name": "Name", "Value": 'say "hi",\nthen\r\nleave'}]},
        {"Operation": "Set-Mailbox", "Note": "a,b,\"c\"\n\n\"\"", "UserId": "x@y"},
        {"Operation": "Plain", "UserId": "z@y"},
    ]
    sio = io.StringIO(newline="")
    w = csv.writer(sio, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(["CreationDate", "AuditData", "ResultIndex"])
    for i, r in enumerate(tricky):
        # indent=1 puts real newlines inside the quoted field as well
        w.writerow(["2023-05-29", json.dumps(r, indent=1 if i == 0 else None), i])
    path = tmp_path / "export.csv"
    path.write_text(sio.getvalue(), encoding="utf-8", newline="")
    recs, rej = read_all(path)
    assert rej == []
    assert [r.data for r in recs] == tricky
    text_lines = path.read_text(encoding="utf-8").split("\n")
    for r in recs:  # each row's start line is the line where its CSV row begins
        assert text_lines[r.line - 1].startswith("2023-05-29,")


def test_bad_auditdata_row_is_reported_with_row_and_line(tmp_path: Path) -> None:
    src = COMBINED_CSV.read_bytes().split(b"\n")
    src[3] = src[3].replace(b'"{""CreationTime', b'"{""CreationTime"" oops', 1)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\n".join(src))
    recs, rej = read_all(path)
    expected = purview_oracle(COMBINED_CSV)
    assert len(rej) == 1 and rej[0].index == 2 and rej[0].line == 4
    assert "row 2" in rej[0].message and "AuditData invalid JSON" in rej[0].message
    assert [r.data for r in recs] == expected[:2] + expected[3:]


def test_truncated_gzip_reports_the_lost_rest_and_keeps_what_was_read(tmp_path: Path) -> None:
    lines = _lines(5000)
    data = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
    for fmt_name, payload in [
        ("jsonl", b"\n".join(lines) + b"\n"),
        ("array", b"[" + b",\n".join(lines) + b"]"),
    ]:
        data = gzip.compress(payload, mtime=0)
        path = tmp_path / f"cut-{fmt_name}.gz"
        path.write_bytes(data[: len(data) // 2])
        recs, rej = read_all(path)
        assert 0 < len(recs) < len(lines), fmt_name
        assert [r.data for r in recs] == [json.loads(x) for x in lines[: len(recs)]], fmt_name
        assert rej, fmt_name
        assert "gzip stream ends early" in rej[-1].message and "rest of the file" in rej[-1].message
        assert all(r.line is not None for r in rej)


def test_truncated_gzip_csv(tmp_path: Path) -> None:
    body = COMBINED_CSV.read_bytes()
    data = gzip.compress(body, mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) - 40])
    recs, rej = read_all(path)
    expected = purview_oracle(COMBINED_CSV)
    assert [r.data for r in recs] == expected[: len(recs)]
    assert rej and "gzip" in rej[-1].message


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty file"),
        (b"  \n\r\n\t", "empty file"),
        (gzip.compress(b"", mtime=0), "empty file"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 50, "binary file"),
        (bytes(range(1, 32)) * 40, "binary file"),
        (b"hello world\nthis is not a log\n", "unknown format"),
        (b"# Notes, written in Markdown\n\n| a | b |\n|---|---|\n", "unknown format"),
        (b"Name,Value\n1,2,3,4\n", "unknown format"),  # first row does not fit the header
        (b"PK\x03\x04rest-of-zip", "zip archive"),
    ],
)
def test_unusable_files_are_a_clear_error(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(content)
    with pytest.raises(EventReadError) as info:
        list(read_events(path))
    assert why in str(info.value)
    assert str(path) in str(info.value)


def test_real_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.jsonl", b'{"a": 1}\n')
    with pytest.raises(EventReadError, match="unzip it"):
        list(read_events(path))


def test_wrong_encoding_is_reported_per_record(tmp_path: Path) -> None:
    good = [json.dumps({"Operation": "Send", "UserId": f"u{i}@x"}).encode() for i in range(3)]
    latin1 = '{"Operation": "Send", "UserId": "José@x"}'.encode("latin-1")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([good[0], latin1, good[1], good[2]]) + b"\n")
    recs, rej = read_all(path)
    assert [r.index for r in recs] == [0, 2, 3]
    assert len(rej) == 1 and rej[0].line == 2 and "UTF-8" in rej[0].message

    csv_bytes = (b'CreationDate,AuditData\nd,"' + latin1.replace(b'"', b'""') + b'"\n'
                 + b'd,"' + json.dumps({"Operation": "Send"}).encode().replace(b'"', b'""') + b'"\n')
    path = tmp_path / "mixed.csv"
    path.write_bytes(csv_bytes)
    recs, rej = read_all(path)
    assert [r.data for r in recs] == [{"Operation": "Send"}]
    assert len(rej) == 1 and rej[0].index == 0 and "UTF-8" in rej[0].message

    path = tmp_path / "mixed-array.json"
    path.write_bytes(b"[" + good[0] + b"," + latin1 + b"," + good[1] + b"]")
    recs, rej = read_all(path)
    assert [r.index for r in recs] == [0, 2] and [r.index for r in rej] == [1]
    assert "UTF-8" in rej[0].message


def _nested(depth: int) -> bytes:
    return b'{"Operation": "X", "v": ' + b'{"a": ' * (depth - 1) + b"1" + b"}" * (depth - 1) + b"}"


def test_deeply_nested_json_line_is_rejected_not_a_crash(tmp_path: Path) -> None:
    ok = _nested(MAX_DEPTH)
    lines = [ok, _nested(MAX_DEPTH + 1), _nested(5000), b"[" * 100_000, ok]
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    recs, rej = read_all(path)
    assert [r.index for r in recs] == [0, 4]
    assert [r.index for r in rej] == [1, 2, 3]
    assert "deeper than" in rej[0].message
    # the same inside an array (a different parser)
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" + ok + b"," + _nested(MAX_DEPTH + 1) + b"," + ok + b"]")
    recs, rej = read_all(path)
    assert [r.index for r in recs] == [0, 2] and [r.index for r in rej] == [1]
    path = tmp_path / "deeper.json"
    path.write_bytes(b"[" + ok + b"," + _nested(5000) + b"," + ok + b"]")
    recs, rej = read_all(path)
    assert [r.index for r in recs] == [0] and rej and "deeper than" in rej[0].message


def test_oversized_line_is_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    small = ReaderLimits(max_record_bytes=1000, chunk_bytes=256)
    big = json.dumps({"Operation": "X", "blob": "y" * 5000}).encode()
    lines = [_lines(1)[0], big, _lines(2)[1]]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    recs, rej = read_all(path, small)
    assert [r.index for r in recs] == [0, 2]
    assert len(rej) == 1 and rej[0].index == 1 and "longer than 1000 bytes" in rej[0].message
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b",".join(lines) + b"]")
    recs, rej = read_all(path, small)
    assert [r.index for r in recs] == [0] and "longer than 1000 bytes" in rej[0].message


def test_very_long_lines_within_the_limit_are_read(tmp_path: Path) -> None:
    big = {"Operation": "Set-Mailbox", "blob": "z" * (30 * 1024 * 1024)}
    small = {"Operation": "Send"}
    path = tmp_path / "long.jsonl"
    path.write_bytes(json.dumps(small).encode() + b"\n" + json.dumps(big).encode() + b"\n"
                     + json.dumps(small).encode() + b"\n")
    recs, rej = read_all(path)
    assert rej == [] and [r.data for r in recs] == [small, big, small]
    path = tmp_path / "long.json"
    path.write_text(json.dumps([small, big, small]), encoding="utf-8")
    recs, rej = read_all(path)
    assert rej == [] and [r.data for r in recs] == [small, big, small]


def test_array_elements_spanning_many_chunks_are_read_whole(tmp_path: Path) -> None:
    tiny = ReaderLimits(max_record_bytes=1 << 20, chunk_bytes=7)
    records = [{"Operation": "Op", "n": i, "pad": "é" * (i * 13), "num": 10**i} for i in range(12)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(records, indent=3, ensure_ascii=False), encoding="utf-8")
    recs, rej = read_all(path, tiny)
    assert rej == []
    assert [r.data for r in recs] == records


def test_array_structure_errors(tmp_path: Path) -> None:
    a, b, c = (json.dumps({"Operation": "X", "n": i}) for i in range(3))
    cases = {
        f"[{a}, {b}": ("array not closed", [0, 1]),
        f"[{a}, {b},]": ("trailing comma", [0, 1]),
        f"[{a} {b}]": ("expected ',' or ']'", [0]),
        f"[{a}, {{\"Operation\": x}}, {c}]": ("element 1: invalid JSON", [0]),
        f"[{a}, 7, {c}]": ("not number", [0, 2]),
    }
    for text, (why, kept) in cases.items():
        path = tmp_path / "a.json"
        path.write_text(text, encoding="utf-8")
        recs, rej = read_all(path)
        assert [r.data["n"] for r in recs] == kept, text
        assert rej and why in rej[0].message, (text, rej)


def test_empty_array_is_zero_records(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("[ ]\n", encoding="utf-8")
    assert read_all(path) == ([], [])


def test_csv_row_without_auditdata_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text('CreationDate,UserIds,AuditData\n"d","u"\n"d","u","{""Operation"": ""X""}"\n',
                    encoding="utf-8")
    recs, rej = read_all(path)
    assert [r.data for r in recs] == [{"Operation": "X"}]
    assert len(rej) == 1 and rej[0].index == 0 and rej[0].line == 2 and "no AuditData" in rej[0].message


def test_directories_expand_to_their_visible_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text('{"a": 1}\n', encoding="utf-8")
    (tmp_path / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("junk", encoding="utf-8")
    assert resolve_event_paths([tmp_path]) == [tmp_path / "a.csv", tmp_path / "sub" / "b.jsonl"]
    with pytest.raises(EventReadError, match="no such file"):
        resolve_event_paths([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EventReadError, match="holds no files"):
        resolve_event_paths([tmp_path / "empty"])
