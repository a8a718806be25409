"""What a reader yields: a record, or a reported rejection, each tied to its file and position."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class FileFormat(Enum):
    """Input formats, detected from the content of a file (never from its name)."""

    JSON_LINES = "jsonl"
    JSON_ARRAY = "json-array"
    JSON_DOCUMENTS = "json"  # one pretty-printed document, a {"records": [...]} wrapper, or several
    PURVIEW_CSV = "purview-csv"  # Search-UnifiedAuditLog / Purview export: the record is AuditData
    TABLE_CSV = "csv"  # any other CSV with a header row (e.g. a Sentinel table export)
    EVTX = "evtx"  # a binary Windows event log (ElfFile magic), read with the Rust evtx parser
    W3C = "w3c"  # an IIS W3C extended log file (#Fields: directive), one record per request line


@dataclass(frozen=True)
class ReaderLimits:
    """Bounds that keep memory flat whatever the input holds.

    ``max_record_bytes`` caps one JSON line, one array element or one CSV field; a bigger record
    is rejected (reported), never loaded.
    """

    max_record_bytes: int = 256 * 1024 * 1024
    chunk_bytes: int = 1024 * 1024


@dataclass(slots=True)
class Record:
    """One input record.

    ``index`` is the record's 0-based position in its file as the output contract defines it:
    the line number for JSON Lines, the data row for CSV, the array position for JSON arrays
    (for a ``{"records": [...]}`` wrapper: the position in ``records``). ``line`` is the 1-based
    physical line where the record starts, for messages.
    """

    source: str
    index: int
    line: int
    data: dict[str, Any]


@dataclass(slots=True)
class Rejected:
    """A record (or the unreadable rest of a file) that could not be read, and why."""

    source: str
    index: int
    line: int | None
    message: str

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class Skipped:
    """A record the hunt's prefilter decided without parsing it (no rule can match it; it is
    valid JSON of a recognised log source): counted as evaluated, never handed to the rules."""

    source: str
    index: int
    line: int


ReadItem = Record | Rejected
