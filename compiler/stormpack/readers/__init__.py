"""Streaming readers for exported audit logs, format detected from content.

JSON Lines, JSON arrays, ``{"records": [...]}`` batches, pretty-printed JSON documents,
Purview / ``Search-UnifiedAuditLog`` CSV exports, plain table CSV exports; each optionally
gzip-compressed, UTF-8 (with or without BOM) or UTF-16. Every record comes out as a
:class:`Record` (source file, index, line) and every record that cannot be read as a
:class:`Rejected` item saying where and why; nothing is dropped silently.
"""

from .model import FileFormat, ReaderLimits, ReadItem, Record, Rejected, Skipped
from .reader import EventFile, read_events, resolve_event_paths

__all__ = [
    "EventFile",
    "FileFormat",
    "ReadItem",
    "ReaderLimits",
    "Record",
    "Rejected",
    "Skipped",
    "read_events",
    "resolve_event_paths",
]
