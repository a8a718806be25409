"""Source record -> the record as each target stores it ("derive the row").

* Sentinel (``OfficeActivity``, ``SigninLogs``, ``AADNonInteractiveUserSignInLogs``,
  ``AuditLogs``) and Defender (``CloudAppEvents``, ``EntraIdSignInEvents``): one row per record,
  built from the targets data (:mod:`.forms`): columns renamed, value maps applied (``RecordType``
  50 -> ``ExchangeItemAggregated``; a value the map lacks keeps its number as text, as Sentinel
  does), JSON columns the data reads through ``parse_json`` written as JSON text, objects read
  through a path written as objects, the raw-record column (``RawEventData``) set to the record
  (a raw root with a path, adx's ``Record.Event.EventData``, gets the record's data fields there
  and the System values at their own paths: the Windows event re-nested as ``evtx_dump`` writes
  it), the table filter satisfied (``LogonType``), every value converted to its column's schema type
  (``TimeGenerated`` from ``CreationTime`` as an ISO timestamp with ``Z``; booleans in string
  columns as ``True``/``False``, as Log Analytics writes them), ``Type`` = the table.
* Splunk: the event as ``spath`` extracts the JSON (:func:`splunk_event`).

Besides the rule fields' columns, the columns the product fills on its own (:mod:`.native`:
same-named UAL keys in ``OfficeActivity``, ``SourceRecordId``, Defender's ``IPAddress`` ...),
and ``""`` in every string column still unfilled (Kusto strings are never null). Where two
fields feed one column with different
values (``resultType`` / ``properties.status.errorCode`` -> ``ResultType``), the first form in
the data order wins and the conflict is noted on the result.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ..compiler.targets import LogsourceTarget, TargetSpec, load_target
from ..taxonomy import load_taxonomy
from .forms import ColumnForm, column_forms
from .kqlexpr import (
    NULL,
    Call,
    Equals,
    Has,
    Literal,
    TextEquals,
    column_read,
    evaluate,
    kql_tostring,
    parse_condition,
)
from .native import native_tables
from .source import get_path, utc_datetime


@dataclass
class Derived:
    """One derived record and what could not be carried over faithfully."""

    target: str
    logsource: str
    row: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    uninterpretable: dict[str, str] = field(default_factory=dict)  # field -> reason


def _iso(value: Any) -> Any:
    """An ISO-8601 text with ``Z`` (Log Analytics' datetime), or the value unchanged."""
    if not isinstance(value, str):
        return value
    d = utc_datetime(value.strip())
    if d is None:
        return value
    return d.isoformat() + "Z"


def _dotnet_text(value: Any) -> str:
    """Text of a scalar in a Log Analytics string column (booleans as .NET spells them)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return kql_tostring(value)


def convert(value: Any, ctype: str | None) -> Any:
    """A source value in a column of the given schema type (None: keep as is)."""
    if ctype == "string":
        return _dotnet_text(value)
    if ctype == "datetime":
        return _iso(value)
    if ctype in ("int", "long"):
        if isinstance(value, bool):
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if ctype == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value
    return value


def _mapped(value: Any, form: ColumnForm) -> Any:
    if not form.values:
        return value
    key = _dotnet_text(value).lower() if isinstance(value, bool) else kql_tostring(value)
    spellings = form.values.get(key)
    return spellings[0] if spellings else key


def _condition_value(form: ColumnForm, value: Any) -> Any:
    """The column value that makes ``iff(cond, A, B)`` yield ``value`` (text compare)."""
    node = form.expr
    assert isinstance(node, Call)
    cond, yes = node.args[0], node.args[1]
    assert isinstance(yes, Literal)
    want = kql_tostring(value).lower() == kql_tostring(yes.value).lower()
    if isinstance(cond, Has):
        return json.dumps([cond.term] if want else [])
    assert isinstance(cond, Equals)
    return cond.number if want else cond.number + 1


def _filter_parts(text: str) -> list[str]:
    """The conditions of a table filter: one, or several joined by `` and ``
    (``Source == "Microsoft-Windows-Sysmon" and EventID == 1``)."""
    return [p.strip() for p in text.split(" and ")]


def _filter_columns(lt: LogsourceTarget) -> dict[tuple[str, tuple[str, ...]], Any]:
    """Values that satisfy the table filter (``LogonType has "interactiveUser"``), by column and
    path inside it (``toint(Record.Event.System.EventID) == 1``: column ``Record``, path
    ``Event.System.EventID``)."""
    if not lt.filter:
        return {}
    out: dict[tuple[str, tuple[str, ...]], Any] = {}
    for part in _filter_parts(lt.filter):
        cond = parse_condition(part)
        read = column_read(cond.left) if isinstance(cond, (Has, Equals, TextEquals)) else None
        if read is None or read.parsed or (read.keys and isinstance(cond, Has)):
            raise AssertionError(f"table filter {part!r}: not a column or a path in a column")
        where = (read.column, read.keys)
        if isinstance(cond, Has):
            out[where] = json.dumps([cond.term])
        elif isinstance(cond, Equals):
            out[where] = cond.number
        else:
            assert isinstance(cond, TextEquals)
            out[where] = cond.text
    return out


def filter_passes(lt: LogsourceTarget, row: Mapping[str, Any]) -> bool:
    """Whether a row passes the table filter of the log source (True when there is none)."""
    if not lt.filter:
        return True
    return all(evaluate(parse_condition(p), dict(row)) is True for p in _filter_parts(lt.filter))


EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def event_data_xml(lt: LogsourceTarget, record: Mapping[str, Any]) -> str:
    """The ``EventData`` column of the ``Event`` table for a flat Windows record: every data field
    of the log source (the taxonomy fields ``lt.fields`` does not map to a column) the record
    holds, as ``<Data Name="...">`` elements in the wrapper the Azure Monitor Agent writes
    (``<DataItem type="System.XmlData" ...><EventData xmlns=...>``; read back by
    ``parse_xml(EventData).DataItem.EventData.Data``, docs/compiler.md)."""
    ls = load_taxonomy().logsources[lt.key]
    parts = []
    for name in ls.fields:
        if name in lt.fields or name not in record or record[name] is None:
            continue
        parts.append(f"<Data Name={quoteattr(name)}>{escape(kql_tostring(record[name]))}</Data>")
    return (f'<DataItem type="System.XmlData" time="" sourceHealthServiceId="">'
            f'<EventData xmlns="{EVENT_NS}">{"".join(parts)}</EventData></DataItem>')


def _raw_root(lt: LogsourceTarget) -> tuple[str | None, tuple[str, ...]]:
    """The raw-record column and the path inside it where the record's fields are
    (``Record.Event.EventData`` -> ``("Record", ("Event", "EventData"))``)."""
    if not lt.raw_root:
        return None, ()
    column, *keys = lt.raw_root.split(".")
    return column, tuple(keys)


def derive_kql(target: TargetSpec, logsource: str, record: Mapping[str, Any]) -> Derived:
    lt = target.logsource(logsource)
    columns = target.columns(lt)
    forms, bad = column_forms(lt, load_taxonomy())
    out = Derived(target.name, logsource, {}, uninterpretable=dict(bad))
    row = out.row
    origin: dict[str, str] = {}

    def put(column: str, value: Any, source: str) -> None:
        if column in row:
            if row[column] != value:
                out.notes.append(f"column {column}: {origin[column]} gives {row[column]!r}, "
                                 f"{source} gives {value!r}; kept the first")
            return
        row[column] = value
        origin[column] = source

    def put_at(column: str, keys: tuple[str, ...], value: Any, source: str) -> None:
        """``put`` at a path inside a dynamic column (objects created on the way)."""
        if not keys:
            put(column, value, source)
            return
        obj = row.setdefault(column, {})
        origin.setdefault(column, source)
        for key in keys[:-1]:
            obj = obj.setdefault(key, {})
        where = f"{column}.{'.'.join(keys)}"
        if keys[-1] in obj:
            if obj[keys[-1]] != value:
                out.notes.append(f"{where}: {origin[where]} gives {obj[keys[-1]]!r}, "
                                 f"{source} gives {value!r}; kept the first")
            return
        obj[keys[-1]] = value
        origin[where] = source

    for (column, keys), value in _filter_columns(lt).items():
        put_at(column, keys, value, "the table filter")
    root, inner = _raw_root(lt)
    if root and not inner:
        put(root, copy.deepcopy(dict(record)), "the whole record")
    elif root:
        # the record's data fields at the root's path (Record.Event.EventData), the fields the
        # data places elsewhere (System values, the event time) there only
        ls = load_taxonomy().logsources[lt.key]
        data = {k: copy.deepcopy(v) for k, v in record.items()
                if k in ls.fields and k not in lt.fields and v is not None}
        put_at(root, inner, data, "the record's data fields")
    if lt.event_data:
        put("EventData", event_data_xml(lt, record), "the record's data fields as EventData XML")
    order = {"column": 0, "container": 1, "condition": 2, "raw": 3}
    for form in sorted(forms, key=lambda f: order[f.kind]):
        if form.kind == "raw" and not inner:
            continue  # the whole record is the raw column
        value = get_path(record, form.source)
        if value is NULL or value is None:
            continue
        if form.kind == "raw":
            put_at(form.column, form.keys, copy.deepcopy(value), form.field)
            continue
        if form.kind == "condition":
            put(form.column, convert(_condition_value(form, value), columns.get(form.column)), form.field)
        elif form.kind == "container":
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False) if form.parsed else value
            put(form.column, copy.deepcopy(text), form.field)
        else:
            put(form.column, convert(_mapped(value, form), columns.get(form.column)), form.field)
    if lt.table and "Type" in columns:
        put("Type", lt.table, "the table name")
    _native(lt.table, columns, record, row)
    return out


def _native(table: str | None, columns: Mapping[str, str], record: Mapping[str, Any],
            row: dict[str, Any]) -> None:
    """The columns the product fills besides the rule fields' (:mod:`.native`), then ``""`` in
    every string column still unfilled: a Kusto string is never null, "no value" is the empty
    string (https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/null-values; the
    real Log Analytics exports show ``""`` in every column a record lacks). Columns of other
    types stay absent (null). Log Analytics' own ``_``-columns are not rows' data."""
    spec = native_tables().get(table or "")
    if spec is not None:
        for col in spec.columns:
            if col.column in row or col.column not in columns:
                continue
            value = col.read(record)
            if value is not NULL and value is not None:
                row[col.column] = _column_value(value, columns[col.column])
        declared = {c.column for c in spec.columns}
        for column, _, value in spec.same_named(record):
            if column in columns and column not in row and column not in declared and value is not None:
                row[column] = _column_value(value, columns[column])
    for column, ctype in columns.items():
        if ctype == "string" and column not in row and not column.startswith("_"):
            row[column] = ""


def _column_value(value: Any, ctype: str) -> Any:
    """A source value in a column: objects and arrays as compact JSON text in a string column
    (how Log Analytics holds e.g. ``Folders``), kept as objects in a dynamic one."""
    if isinstance(value, (dict, list)):
        if ctype == "string":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return copy.deepcopy(value)
    return convert(value, ctype)


# ------------------------------------------------------------------------------ Splunk
def splunk_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields Splunk's JSON extraction (``spath`` / ``KV_MODE=json``) gives a JSON event:
    nested keys joined with ``.``, array steps written ``{}``, every leaf as text (numbers in
    their JSON spelling, ``true``/``false``), several leaves under one name as a multivalue
    field (a list, in document order); JSON null gives no value. One implementation with the
    SPL executor's events (:func:`stormpack.execute.spl.events.json_fields`)."""
    from ..execute.spl.events import json_fields

    return json_fields(record)


def derive(target: str, logsource: str, record: Mapping[str, Any]) -> Derived:
    """The record as ``target`` stores it for the taxonomy log source ``logsource``."""
    spec = load_target(target)
    if spec.is_kql:
        return derive_kql(spec, logsource, record)
    from ..execute.spl.events import renamed

    lt = spec.logsource(logsource)  # raises when the target lacks the log source
    return Derived(target, logsource, renamed(lt.fields, record, splunk_event(record)))
