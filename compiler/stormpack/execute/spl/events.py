"""Source records as the Splunk add-ons store and extract them.

* ``m365_audit`` - Splunk Add-on for Microsoft Office 365, sourcetype
  ``o365:management:activity``: the unified-audit-log record as the Management Activity API
  returns it is the event's ``_raw`` (JSON); the event time is its ``CreationTime`` (UTC).
  https://splunk.github.io/splunk-add-on-for-microsoft-office-365/ (Sourcetypes)
* ``azure_*`` - Splunk Add-on for Microsoft Cloud Services (Event Hub input), sourcetype
  ``azure:monitor:aad``: the diagnostic-settings record (``time``, ``category``, ``properties``
  ...) is ``_raw``; the event time is its ``time``.
  https://splunk.github.io/splunk-add-on-for-microsoft-cloud-services/ (Sourcetypes)

Both sourcetypes extract their fields at search time from the JSON (``KV_MODE = json``,
props.conf; https://docs.splunk.com/Documentation/Splunk/latest/Admin/Propsconf): a nested key
is named by its path joined with ``.``, an array step adds ``{}`` (``Parameters{}.Name``),
several values under one name form a multivalue field in document order, every leaf is text
(numbers in their JSON spelling, ``true``/``false``), and JSON ``null`` gives no value - the
same naming the spath command documents
(https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Spath).
The add-ons' CIM aliases and calculated fields (``user``, ``src_ip`` ...) are not modelled:
stormpack's queries read the JSON fields only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ...compiler.targets import load_target
from ...errors import StormpackError
from ...readers.windows import security_native
from ...taxonomy import load_taxonomy
from ..base import Row

INDEX = "main"  # the add-ons write to the index the input names; the compiled search uses index="*"


def _leaf(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _walk(value: Any, key: str, out: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{key}.{k}" if key else str(k), out)
    elif isinstance(value, list):
        for v in value:
            _walk(v, key + "{}", out)
    else:
        leaf = _leaf(value)
        if leaf is not None:
            out.setdefault(key, []).append(leaf)


def json_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The search-time JSON extraction of one event (``KV_MODE = json``): field -> text, or a
    list of texts for a multivalue field."""
    flat: dict[str, list[str]] = {}
    _walk(dict(doc), "", flat)
    return {k: (v[0] if len(v) == 1 else v) for k, v in flat.items()}


def json_path_values(doc: Any, path: str) -> list[str]:
    """The values at an spath path (``a.b``, ``a{}.b``; ``a{0}`` the first array element)."""
    flat: dict[str, list[str]] = {}
    _walk(doc if isinstance(doc, dict) else {"": doc}, "", flat)
    if path in flat:
        return flat[path]
    # an object or array at the path: spath returns its JSON text
    cur: list[Any] = [doc]
    for step in path.split("."):
        name, _, rest = step.partition("{")
        nxt: list[Any] = []
        for c in cur:
            if isinstance(c, dict) and name in c:
                nxt.append(c[name])
        if rest:
            idx = rest.rstrip("}")
            expanded: list[Any] = []
            for c in nxt:
                if isinstance(c, list):
                    if idx == "":
                        expanded.extend(c)
                    elif idx.lstrip("-").isdigit():
                        i = int(idx)
                        i = i - 1 if i > 0 else i  # spath array indexes are 1-based
                        if -len(c) <= i < len(c):
                            expanded.append(c[i])
            nxt = expanded
        cur = nxt
    return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in cur if v is not None]


def _epoch(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise StormpackError(f"{what}: timestamp {value!r} is not text")
    t = value.strip().replace("Z", "+00:00")
    # Log Analytics writes 7 fractional digits; Python reads at most 6
    if "." in t:
        head, _, frac = t.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        tz = frac[len(digits):]
        t = f"{head}.{digits[:6]}{tz}"
    try:
        d = datetime.fromisoformat(t)
    except ValueError as exc:
        raise StormpackError(f"{what}: timestamp {value!r} is not ISO-8601") from exc
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)  # the unified audit log's CreationTime is UTC without a zone
    return d.timestamp()


def renamed(fields: Mapping[str, Any], record: Mapping[str, Any], event: Row) -> Row:
    """The event with the record's fields that splunk.yml maps to another plain name (the IIS
    add-on's cs_uri_stem for cs-uri-stem ...) under that name; Splunk's own fields (``_time``)
    are set by the caller."""
    names = {k: v for k, v in fields.items() if isinstance(v, str) and not v.startswith("_")}
    if not names:
        return event
    return {names.get(k, k) if k in record else k: v for k, v in event.items()}


def splunk_event(logsource: str, record: Mapping[str, Any]) -> Row:
    """One source record as the add-on's event: ``_raw`` (compact JSON), ``_time`` (epoch
    seconds from the log source's timestamp field), ``index``, ``sourcetype``, ``source``,
    ``host`` and the search-time JSON fields."""
    spec = load_target("splunk")
    lt = spec.logsource(logsource)
    ts_field = load_taxonomy().logsources[logsource].timestamp
    if ts_field not in record:
        raise StormpackError(f"{logsource} record without its timestamp field {ts_field}")
    windows = logsource.startswith("windows_")
    if windows:
        record = security_native(dict(record))
    event: Row = json_fields(record)
    event["_raw"] = json.dumps(dict(record), separators=(",", ":"), ensure_ascii=False)
    event["_time"] = _epoch(record[ts_field], f"{logsource} {ts_field}")
    event["index"] = INDEX
    event["sourcetype"] = lt.sourcetype
    if windows:
        # renderXml inputs: source "XmlWinEventLog:<channel>", EventCode = the event id (splunk.yml)
        event["source"] = f"XmlWinEventLog:{record.get('Channel')}"
        event["EventCode"] = str(record.get("EventID"))
    if lt.sourcetype == "ms:iis:auto":
        # the IIS add-on's indexed W3C extraction: _raw is the W3C line (values in header order)
        event = renamed(lt.fields, record, event)
        event["_raw"] = " ".join(str(v) for k, v in record.items() if k != ts_field)
    event.setdefault("source", f"stormpack-fixture:{logsource}")
    event.setdefault("host", "stormpack-fixture")
    return event


def splunk_events(logsource: str, records: Sequence[Mapping[str, Any]]) -> dict[str, list[Row]]:
    """Fixture records of one taxonomy log source as Splunk events, by sourcetype."""
    out: dict[str, list[Row]] = {}
    for rec in records:
        ev = splunk_event(logsource, rec)
        out.setdefault(str(ev["sourcetype"]), []).append(ev)
    return out
