"""CSV exports: Purview / ``Search-UnifiedAuditLog`` (the record is the JSON of the
``AuditData`` column; fields may hold newlines and doubled quotes) and plain table exports
(e.g. Sentinel / Log Analytics CSV), whose rows become flat records of column -> text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO, overload

import orjson

from .depth import DEPTH_MESSAGE, too_deep
from .jsonlines import json_error
from .model import ReaderLimits, ReadItem, Record, Rejected, Skipped
from .source import STREAM_ERRORS, describe_stream_error
from .unwrap import RecordShapeError, to_record

_SURROGATE = re.compile("[\udc80-\udcff]")
_ENCODING_MESSAGE = "not valid UTF-8 text (wrong encoding?)"


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def unique_names(header: list[str]) -> list[str]:
    """Column names made unique: a name the header repeats (the Entra admin center writes
    "Incoming token type" twice) gets `` #2``, `` #3``... on its later columns, so no value is
    lost to a name collision."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0) + 1
        seen[name] = n
        out.append(name if n == 1 else f"{name} #{n}")
    return out


@overload
def read_csv(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, purview: bool,
    skip: None = None,
) -> Iterator[ReadItem]: ...
@overload
def read_csv(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, purview: bool,
    skip: Callable[[bytes], bool] | None = None,
) -> Iterator[ReadItem | Skipped]: ...
def read_csv(
    stream: BinaryIO, source: str, limits: ReaderLimits, compressed: bool, purview: bool,
    skip: Callable[[bytes], bool] | None = None,
) -> Iterator[ReadItem | Skipped]:
    """Yield one item per data row (index = 0-based data row). ``skip`` (the hunt's
    :class:`stormpack.prefilter.LinePrefilter`): a Purview row whose AuditData it accepts is
    yielded as :class:`Skipped`, unparsed."""
    if csv.field_size_limit() < limits.max_record_bytes:
        csv.field_size_limit(limits.max_record_bytes)
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, strict=False)
    rest_lost = "the rest of the file cannot be read"
    try:
        header = [c.strip() for c in next(reader)]
    except STREAM_ERRORS as exc:
        yield Rejected(source, 0, 1, f"{describe_stream_error(exc, compressed)}: {rest_lost}")
        return
    except (csv.Error, StopIteration) as exc:  # pragma: no cover - detection read this header
        yield Rejected(source, 0, 1, f"CSV header cannot be read: {exc}")
        return
    header[0] = header[0].lstrip("\ufeff")
    header = unique_names(header)
    audit_col = next((i for i, n in enumerate(header) if n.lower() == "auditdata"), -1)
    index = 0
    prev_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except STREAM_ERRORS as exc:
            why = describe_stream_error(exc, compressed)
            yield Rejected(source, index, prev_line + 1, f"{why}: {rest_lost}")
            return
        except csv.Error as exc:
            yield Rejected(source, index, prev_line + 1, f"row {index}: bad CSV: {exc}")
            index += 1
            prev_line = reader.line_num
            continue
        first_line, last_line = prev_line + 1, reader.line_num
        prev_line = last_line
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line: not a data row
        row_index = index
        index += 1
        where = _lines(first_line, last_line)
        if purview:
            if len(row) <= audit_col:
                yield Rejected(source, row_index, first_line,
                               f"row {row_index} ({where}) has {len(row)} fields, no AuditData (column "
                               f"{audit_col + 1} of {len(header)})")
                continue
            cell = row[audit_col]
            if _SURROGATE.search(cell):
                yield Rejected(source, row_index, first_line,
                               f"row {row_index}: AuditData is {_ENCODING_MESSAGE}")
                continue
            if skip is not None and skip(cell.encode("utf-8")):
                yield Skipped(source, row_index, first_line)
                continue
            try:
                value = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                yield Rejected(source, row_index, first_line,
                               f"row {row_index} ({where}): AuditData {json_error(exc)}")
                continue
            if too_deep(value, cell.count("{") + cell.count("[")):
                yield Rejected(source, row_index, first_line, f"row {row_index}: AuditData {DEPTH_MESSAGE}")
                continue
            try:
                yield Record(source, row_index, first_line, to_record(value))
            except RecordShapeError as exc:
                yield Rejected(source, row_index, first_line, f"row {row_index}: AuditData: {exc}")
            continue
        if len(row) != len(header):
            yield Rejected(source, row_index, first_line,
                           f"row {row_index} ({where}) has {len(row)} fields, the header has {len(header)}")
            continue
        if any(_SURROGATE.search(c) for c in row):
            yield Rejected(source, row_index, first_line, f"row {row_index}: {_ENCODING_MESSAGE}")
            continue
        yield Record(source, row_index, first_line, dict(zip(header, row, strict=True)))
