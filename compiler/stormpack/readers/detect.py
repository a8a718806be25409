"""Deciding the format of a file from its first bytes."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson

from ..errors import EventReadError, Location
from .model import FileFormat
from .unwrap import is_graph_page, is_records_batch
from .w3c import looks_like_w3c

_HEADER_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
# a table export's column names: identifier-like (Sentinel: "TimeGenerated [UTC]", "UserId_")
_TABLE_NAME = re.compile(r"[A-Za-z_@][\w .\[\]()/@:#-]{0,199}")
_LINES_TO_TRY = 5


def _looks_like_json_lines(head: bytes, complete: bool) -> bool:
    lines = head.split(b"\n")
    if not complete:
        lines = lines[:-1]  # the last one may be cut by the sniff window
    tried = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            # a {"records": [...]} batch is streamed element by element, even on one line
            return not is_records_batch(value) and not is_graph_page(value)
        tried += 1
        if tried >= _LINES_TO_TRY:
            break
    return False


def csv_header(head: bytes) -> list[str] | None:
    """The column names if the first line reads as a CSV header row, else None."""
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        row = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None
    names = [c.strip() for c in row]
    if len(names) < 2 or not all(_HEADER_NAME.fullmatch(n) for n in names):
        return None
    return names


def _first_row_fits(head: bytes, complete: bool, width: int) -> bool:
    """True when the first data row in ``head`` (if it holds a whole one) has ``width`` fields."""
    text = head.decode("utf-8", "replace")
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        next(rows)
        row = next(rows)
    except StopIteration:
        return True  # a header and no data: zero records
    except csv.Error:
        return False
    if not complete and rows.line_num >= text.count("\n"):
        return True  # the first row is cut by the sniff window: cannot judge, trust the header
    return len(row) == width


def detect_format(path: Path, head: bytes, complete: bool) -> FileFormat:
    """The format of a file whose first UTF-8 bytes are ``head``; EventReadError if none fits."""
    stripped = head.lstrip()
    if not stripped:
        if complete:
            raise EventReadError("empty file (only whitespace): no records", Location(path))
        raise EventReadError("file starts with more than 64 KiB of whitespace: not a log export",
                             Location(path))
    first = stripped[:1]
    if first == b"[":
        return FileFormat.JSON_ARRAY
    if first == b"{":
        return FileFormat.JSON_LINES if _looks_like_json_lines(head, complete) else FileFormat.JSON_DOCUMENTS
    if first == b"#" and looks_like_w3c(stripped):
        return FileFormat.W3C
    names = csv_header(head)
    if names is not None:
        if any(n.lower() == "auditdata" for n in names):
            return FileFormat.PURVIEW_CSV
        if all(_TABLE_NAME.fullmatch(n) for n in names) and _first_row_fits(head, complete, len(names)):
            return FileFormat.TABLE_CSV
    preview = stripped[:40].decode("utf-8", "replace")
    raise EventReadError(
        "unknown format: not JSON Lines, a JSON array or document, a CSV export with a header row "
        "or an IIS W3C log with a #Fields: directive "
        f"(starts with {preview!r})",
        Location(path, 1),
    )
