"""Turning a parsed JSON value into the records it holds.

* a plain object is one record;
* a ``Search-UnifiedAuditLog`` result (PowerShell ``ConvertTo-Json``, or a JSON Lines export of
  the cmdlet's objects) carries the real record in ``AuditData`` (an object or a JSON string):
  the record is that object;
* an Entra diagnostic-settings / Event Hub batch ``{"records": [...]}`` holds several records;
* a Microsoft Graph response page ``{"@odata.context": ..., "value": [...]}`` (``Invoke-MgGraphRequest``
  output saved as is) holds the records of ``value``; its other keys are OData annotations
  (``@odata.nextLink``...), https://learn.microsoft.com/en-us/graph/paging;
* a Winlogbeat / Elastic Agent Windows event (``winlog.channel``, ``winlog.event_data``...) is the
  event in Sigma's flat Windows shape (:func:`.windows.from_winlogbeat`); a ``Get-WinEvent |
  ConvertTo-Json`` object is refused (its event data has no names);
* a flat Windows event (HELK / NXLog export: ``Channel``, ``EventID`` at the top level) gets the
  names Sigma's flat shape uses (:func:`.windows.from_flat_windows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..errors import RecordShapeError as RecordShapeError
from .windows import from_flat_windows, from_winlogbeat, is_flat_windows, is_get_winevent, is_winlogbeat


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def is_records_batch(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("records"), list)


def is_graph_page(value: Any) -> bool:
    """A Graph collection response: ``value`` is a list, every other key an ``@`` annotation."""
    return (isinstance(value, dict) and isinstance(value.get("value"), list)
            and all(k == "value" or k.startswith("@") for k in value))


def to_record(value: Any) -> dict[str, Any]:
    """The record a parsed JSON value stands for, or :class:`RecordShapeError`."""
    if not isinstance(value, dict):
        raise RecordShapeError(f"a record must be a JSON object, not {_type_name(value)}")
    if is_winlogbeat(value):
        return from_winlogbeat(value)
    if is_get_winevent(value):
        # EventLogRecord.Properties is a list of values without their names (the names are in the
        # provider's manifest), so the fields rules read cannot be told apart
        raise RecordShapeError(
            "a Get-WinEvent object (ConvertTo-Json) holds its event data by position, without names; "
            "export the log as .evtx (wevtutil epl / Export-WinEvent) or each event's ToXml() instead"
        )
    if "AuditData" in value and "Operation" not in value:
        audit = value["AuditData"]
        if isinstance(audit, str):
            try:
                audit = orjson.loads(audit)
            except orjson.JSONDecodeError as exc:
                raise RecordShapeError(f"AuditData is not valid JSON: {exc}") from None
        if not isinstance(audit, dict):
            raise RecordShapeError(f"AuditData must be a JSON object, not {_type_name(audit)}")
        return audit
    if is_flat_windows(value):
        return from_flat_windows(value)
    return value


def expand(value: Any) -> Iterator[Any]:
    """The values a parsed JSON value holds: the elements of a records batch, or itself."""
    if is_records_batch(value):
        yield from value["records"]
    elif is_graph_page(value):
        yield from value["value"]
    else:
        yield value
