"""Windows event-log files (.evtx), read with the Rust ``evtx`` parser (PyPI ``evtx``, pyevtx-rs).

Every event comes out in Sigma's flat Windows shape (the shape SigmaHQ rules and the Sysmon field
names assume): the System fields ``EventID``, ``Channel``, ``Provider_Name``, ``Computer``,
``EventRecordID``, ``TimeCreated`` (``System/TimeCreated/@SystemTime``) next to the ``EventData``
(or ``UserData``) values under their own names. Security 4688 events additionally get the Sysmon
process-creation names (see :mod:`.windows`).

``index`` is the 0-based position of the event in the file's reading order; ``line`` carries the
record number of the event's record header in this file (1-based in an exported file), so a
rejection names the file and the record; the ``EventRecordID`` field keeps the channel's
number. A chunk the parser cannot read is one :class:`Rejected` item naming the parser's reason;
reading goes on with the next chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import evtx
import orjson

from .model import ReadItem, Record, Rejected
from .windows import to_sysmon_names

EVTX_MAGIC = b"ElfFile\x00"
_MAX_ERRORS_IN_A_ROW = 64  # a file of garbage after the header: stop after this many failed chunks


def is_evtx(path: Path) -> bool:
    """True when the file starts with the EVTX file-header magic ``ElfFile\\0``."""
    try:
        with path.open("rb") as f:
            return f.read(len(EVTX_MAGIC)) == EVTX_MAGIC
    except OSError:
        return False


def _text(value: Any) -> Any:
    """An XML element rendered by the parser: ``{"#text": v, "#attributes": ...}`` -> v."""
    if isinstance(value, dict):
        if "#text" in value:
            return _text(value["#text"])
        if set(value) <= {"#attributes"}:
            return None
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def flatten_event(event: dict[str, Any]) -> dict[str, Any]:
    """One parsed ``<Event>`` as Sigma's flat Windows record."""
    system = event.get("System") or {}
    out: dict[str, Any] = {}
    provider = (system.get("Provider") or {}).get("#attributes") or {}
    eid = _text(system.get("EventID"))
    out["EventID"] = int(eid) if isinstance(eid, (int, str)) and str(eid).isdigit() else eid
    out["Channel"] = system.get("Channel")
    out["Provider_Name"] = provider.get("Name")
    out["Computer"] = system.get("Computer")
    out["EventRecordID"] = system.get("EventRecordID")
    out["TimeCreated"] = ((system.get("TimeCreated") or {}).get("#attributes") or {}).get("SystemTime")
    for key in ("Level", "Task", "Opcode", "Version", "Keywords"):
        if key in system:
            out[key] = _text(system[key])
    data = event.get("EventData")
    if isinstance(data, dict):
        for name, value in data.items():
            if name != "#attributes":
                out.setdefault(name, _text(value))
    user = event.get("UserData")
    if isinstance(user, dict):
        for inner in user.values():  # <UserData><SomeEvent xmlns=...><Field>...</Field></SomeEvent>
            if isinstance(inner, dict):
                for name, value in inner.items():
                    if name != "#attributes":
                        out.setdefault(name, _text(value))
    return to_sysmon_names(out)


def read_evtx(path: Path, source: str) -> Iterator[ReadItem]:
    """Every event of an .evtx file, or a rejection naming the record/chunk and the reason."""
    try:
        parser = evtx.PyEvtxParser(str(path))
    except (OSError, RuntimeError) as exc:
        yield Rejected(source, 0, None, f"not a readable EVTX file: {exc}")
        return
    records = parser.records_json()
    index = 0
    failures = 0
    while True:
        try:
            raw = next(records)
        except StopIteration:
            return
        except RuntimeError as exc:
            yield Rejected(source, index, None, f"EVTX parser: {exc}")
            failures += 1
            if failures >= _MAX_ERRORS_IN_A_ROW:
                yield Rejected(source, index, None,
                               f"{failures} unreadable chunks in a row: the rest of the file is not read")
                return
            continue
        failures = 0
        if raw is None:
            yield Rejected(source, index, None, "EVTX parser returned no record")
            index += 1
            continue
        record_id = raw.get("event_record_id")
        line = record_id if isinstance(record_id, int) else None
        try:
            doc = orjson.loads(raw["data"])
            event = doc["Event"]
            if not isinstance(event, dict):
                raise TypeError("the record is not an <Event> element")
            yield Record(source, index, line if line is not None else index + 1, flatten_event(event))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            yield Rejected(source, index, line,
                           f"EVTX record {record_id}: cannot be read as an event ({exc})")
        index += 1
