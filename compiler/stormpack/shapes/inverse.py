"""Target -> source: rows exported from Sentinel or Defender back into the taxonomy's shapes,
so the hunt evaluates them like the records the rules are written for.

Recognised exports (Log Analytics / advanced-hunting rows, as JSON or CSV):

* Sentinel ``OfficeActivity`` -> the unified-audit-log record: inverse renames
  (``Client_IPAddress`` -> ``ClientIPAddress``, ``OfficeWorkload`` -> ``Workload``...), inverse value
  maps (``ExchangeItemAggregated`` -> 50, ``Owner`` -> 0), JSON-text columns parsed
  (``Parameters``, ``Folders``, ``Item``...), ``TimeGenerated`` -> ``CreationTime``;
* Sentinel ``SigninLogs`` / ``AADNonInteractiveUserSignInLogs`` / ``AuditLogs`` -> the
  diagnostic-settings record (``properties.*``, ``category``);
* Defender ``CloudAppEvents`` -> its ``RawEventData`` (the record itself).

A row is recognised by its ``Type`` column (Log Analytics writes the table name there), else
by columns only the table has (``OfficeWorkload``, ``Client_IPAddress``... never in a raw record),
else, for ``CloudAppEvents``, by ``ActionType`` with ``RawEventData``. The inverse walks the same
forms of data/targets/*.yml as the derivation (:mod:`.forms`). What cannot come back is listed in
docs/agreement.md ("Lossy conversions").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from ..compiler.registry import targets_with
from ..compiler.targets import load_target
from ..taxonomy import FieldSpec, Taxonomy, load_taxonomy
from .device import DEVICE_TABLES, DeviceTable
from .forms import ColumnForm, column_forms
from .kqlexpr import NULL, Column, evaluate, parse_condition
from .native import native_tables
from .source import get_path, set_path, utc_datetime

# Log Analytics CSV exports suffix some headers: "TimeGenerated [UTC]", "DeviceDetail_dynamic".
_HEADER_SUFFIXES = ("", " [UTC]", "_dynamic")
_CSV_TIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p")


@dataclass(frozen=True)
class ExportShape:
    """One export row shape this module converts back."""

    name: str  # e.g. "Sentinel OfficeActivity"
    target: str
    logsource: str  # taxonomy log source of the converted record
    table: str
    raw_root: str | None  # CloudAppEvents: the column that IS the record
    forms: tuple[ColumnForm, ...]
    signature: frozenset[str]  # columns only this table has (not a source field name)
    category_column: str | None = None  # the column of the record's `category`, when it names the source
    category: str | None = None
    filter: str | None = None  # the table filter of the log source (rows of this source pass it)
    device: DeviceTable | None = None  # a Device* table: the Sysmon event its rows stand for
    time: str | None = None  # the table's time column

    def admits(self, rule: Any) -> bool:
        """Whether a rule can judge records of this table: every field it reads is held by the
        table (the rule compiles for this target). A rule reading a field the table lacks would
        see it as missing (``AppAccessContext.UniqueTokenId: null`` would fire on every
        ``OfficeActivity`` row), so its hits on converted rows are not reported."""
        key = (self.name, id(rule))
        got = _ADMITS.get(key)
        if got is None:
            got = _ADMITS[key] = _rule_fits(rule, self)
        return got


def _source_names(tax: Taxonomy) -> set[str]:
    """Every name a raw record may hold at its top level."""
    names: set[str] = set()
    for ls in tax.logsources.values():
        names |= {f.split(".", 1)[0] for f in ls.fields} | {p.name.split(".", 1)[0] for p in ls.patterns}
    return names


_ADMITS: dict[tuple[str, int], bool] = {}


def _rule_fits(rule: Any, shape: ExportShape) -> bool:
    from sigma.rule import SigmaRule

    from ..compiler.engine import iter_items
    from ..compiler.targets import resolve_for_rule
    from ..errors import StormpackError

    if not isinstance(rule, SigmaRule):
        return True
    tax = load_taxonomy()
    try:
        ls = tax.logsource_for(rule.logsource)
        fields = list(dict.fromkeys(i.field for i in iter_items(rule) if i.field is not None))
        resolve_for_rule(load_target(shape.target), ls, fields)
    except StormpackError:
        return False
    return True


@cache
def export_shapes() -> tuple[ExportShape, ...]:
    """Every table of the KQL targets that a row can be converted back from."""
    tax = load_taxonomy()
    found: list[tuple[str, str, str, str, str | None, list[ColumnForm], str | None, str]] = []
    for target in targets_with("exports"):
        spec = load_target(target)
        for key, lt in spec.logsources.items():
            if lt.unsupported or lt.table is None:
                continue
            device = DEVICE_TABLES.get(key)
            if device is not None and device.table != lt.table:
                device = None
            if target == "defender" and not lt.raw_root and device is None:
                continue  # EntraIdSignInEvents holds too little of the sign-in record to come back
            forms, _ = column_forms(lt, tax)
            rec = tax.logsources[key].recognise
            needed = {*rec.get("all_present", ()), *rec.get("one_of", {}), *rec.get("equals", {})}
            if device is not None:
                needed -= set(device.identity())  # the Sysmon event the row stands for (.device)
            if not lt.raw_root and not needed <= {f.field for f in forms}:
                # the row cannot come back as a record its log source recognises (the Device*
                # tables have no EventID / Channel): not an export shape
                continue
            name = f"{spec.title.split(' (')[0]} {lt.table}"
            found.append((name, target, key, lt.table, lt.raw_root, forms, lt.filter, lt.time))
    # a signature column: in one table only, and never a top-level name of a raw record
    raw_names = _source_names(tax)
    tables_of: dict[str, set[str]] = {}
    for _, _, _, table, _, forms, _, _ in found:
        for f in forms:
            tables_of.setdefault(f.column, set()).add(table)
    out = []
    for name, target, key, table, raw_root, forms, flt, time in found:
        signature = frozenset(f.column for f in forms
                              if f.column not in raw_names and tables_of[f.column] == {table})
        category = tax.logsources[key].recognise.get("equals", {}).get("category")
        column = next((f.column for f in forms if f.field == "category" and f.kind == "column"), None)
        device = DEVICE_TABLES.get(key)
        out.append(ExportShape(name, target, key, table, raw_root, tuple(forms), signature,
                               column if category else None, category, flt,
                               device if device is not None and device.table == table else None, time))
    return tuple(out)


@cache
def _quick_keys() -> frozenset[str]:
    keys = {"Type"}
    for s in export_shapes():
        keys |= s.signature
        if s.device is not None:
            keys.add("ActionType")
        if s.raw_root:
            keys.add(s.raw_root)
    return frozenset(keys)


def quick_keys() -> frozenset[str]:
    """Top-level keys one of which every export row :func:`normalise` converts has."""
    return _quick_keys()


def recognise_export(row: Mapping[str, Any]) -> ExportShape | None:
    """The export shape of a row, or None for anything else (raw records included)."""
    if _quick_keys().isdisjoint(row):
        return None
    shapes = export_shapes()
    table = row.get("Type")
    if isinstance(table, str):
        by_type = [s for s in shapes if s.table == table and not s.raw_root]
        if len(by_type) > 1:  # a Device* table on Sentinel and Defender: told by the time column
            by_type = [s for s in by_type if s.time is not None and _cell(row, s.time) is not None]
        if len(by_type) == 1:
            return by_type[0]
    for s in shapes:  # the category column names the log source (SigninLogs' Category)
        if s.category_column and _cell(row, s.category_column) == s.category:
            return s
    for s in shapes:
        raw = row.get(s.raw_root) if s.raw_root else None
        if isinstance(raw, (dict, str)) and any(f.column in row for f in s.forms if f.kind == "column"):
            return s
    for s in shapes:  # an advanced-hunting export of a Device* table (no Type column)
        if (s.device is not None and s.time is not None and _cell(row, s.time) is not None
                and s.device.holds(row) and (not s.filter or _passes(s.filter, row))):
            return s
    best: tuple[int, ExportShape] | None = None
    for s in shapes:
        if s.raw_root or not s.signature:
            continue
        if s.filter and not _passes(s.filter, row):
            continue
        # a row of a combined export (several tables in one file) has every table's columns,
        # empty where the row's table lacks them: a signature column counts when it holds a value
        n = sum(1 for c in s.signature if _cell(row, c) is not None)
        if n >= 2 and (best is None or n > best[0]):
            best = (n, s)
    return best[1] if best else None


def _passes(filter_text: str, row: Mapping[str, Any]) -> bool:
    """Whether an export row passes a table filter (``Column == "text"`` / ``has`` / ``==``)."""
    cond = parse_condition(filter_text)
    left = getattr(cond, "left", None)
    if not isinstance(left, Column):
        return False
    value = _cell(row, left.name)
    return evaluate(cond, {left.name: NULL if value is None else value}) is True


# ------------------------------------------------------------------------------ values
def _cell(row: Mapping[str, Any], column: str) -> Any:
    for suffix in _HEADER_SUFFIXES:
        v = row.get(column + suffix)
        if v is not None and v != "":
            return v
    return None


def _iso(value: Any, with_zone: bool) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    d: datetime | None = None
    for fmt in _CSV_TIME_FORMATS:
        try:
            d = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if d is None:
        d = utc_datetime(text)
        if d is None:
            return value
    out = d.isoformat(timespec="microseconds" if d.microsecond else "seconds")
    return out + "Z" if with_zone else out


def _typed(value: Any, spec: FieldSpec | None, with_zone: bool) -> Any:
    if spec is None:
        return value
    if spec.type == "int" and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    if spec.type == "bool" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if spec.type == "datetime":
        return _iso(value, with_zone)
    return value


def _unmapped(value: Any, form: ColumnForm) -> Any:
    if not form.values or not isinstance(value, str):
        return value
    low = value.strip().lower()
    for key, spellings in form.values.items():
        if any(s.lower() == low for s in spellings):
            return key
    return value


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def to_source(row: Mapping[str, Any], shape: ExportShape, taxonomy: Taxonomy | None = None) -> dict[str, Any]:
    """The source record an export row was made from (as far as the table keeps it)."""
    if shape.raw_root:
        raw = _parsed(row.get(shape.raw_root))
        return dict(raw) if isinstance(raw, dict) else {}
    tax = taxonomy or load_taxonomy()
    ls = tax.logsources[shape.logsource]
    with_zone = ls.timestamp != "CreationTime"  # the UAL writes times without a zone
    record: dict[str, Any] = {}
    # objects first (JSON columns), then the plain columns, which may write inside them
    for form in sorted(shape.forms, key=lambda f: f.kind != "container"):
        if form.kind not in ("column", "container"):
            continue
        value = _cell(row, form.column)
        if value is None:
            continue
        if form.kind == "container":
            if get_path(record, form.source) is NULL:  # several fields read one column
                set_path(record, form.source, _parsed(value))
            continue
        value = _typed(_unmapped(value, form), ls.field(form.field), with_zone)
        set_path(record, form.source, value)
    _native_back(row, shape, record)
    # the row IS of this table: its log source's identifying values hold whatever a projected
    # column of the same name says (an export may overwrite `Type` with e.g. targetType)
    for k, v in ls.recognise.get("equals", {}).items():
        record[k] = v
    if shape.device is not None:
        record.update(shape.device.identity())
    return record


# columns of the table itself, never a key of the record (the workspace, the table, ingestion)
_TABLE_COLUMNS = frozenset({"TenantId", "Type", "SourceSystem", "TimeGenerated"})


@dataclass(frozen=True)
class _Back:
    """One product-filled column read back: cell ``column`` -> ``source`` path."""

    column: str
    source: str
    ctype: str | None


@cache
def _native_plan(target_name: str, logsource: str, table: str,
                 formed: frozenset[str]) -> dict[str, _Back]:
    """Header (with each CSV suffix) -> what the cell goes back as."""
    spec = native_tables().get(table)
    if spec is None:
        return {}
    target = load_target(target_name)
    columns = target.columns(target.logsource(logsource))
    plan = [_Back(c.column, c.source, columns.get(c.column)) for c in spec.columns
            if c.source is not None and not c.values and c.column not in formed]
    native = {c.column for c in spec.columns}
    for column, ctype in columns.items():
        if column in formed or column in native or column in _TABLE_COLUMNS or column.startswith("_"):
            continue
        source = spec.same_name_source(column)
        if source is not None:
            plan.append(_Back(column, source, ctype))
    return {b.column + suffix: b for b in plan for suffix in _HEADER_SUFFIXES}


_PLANS: dict[str, dict[str, _Back]] = {}


def _native_back(row: Mapping[str, Any], shape: ExportShape, record: dict[str, Any]) -> None:
    """The product-filled columns (:mod:`.native`) back into the record, where the forms have
    not written the source path already: ``from`` columns without a value map, and the
    same-name rule (``MailboxGuid`` -> ``MailboxGuid``, ``RiskDetail`` ->
    ``properties.riskDetail``). Constants and the table's own columns are not record data."""
    plan = _PLANS.get(shape.name)
    if plan is None:
        plan = _PLANS[shape.name] = _native_plan(shape.target, shape.logsource, shape.table,
                                                 frozenset(f.column for f in shape.forms))
    if not plan:
        return
    for key, value in row.items():
        if value is None or value == "":
            continue
        b = plan.get(key)
        if b is None or get_path(record, b.source) is not NULL:
            continue
        if b.ctype == "datetime":
            value = _iso(value, True)
        set_path(record, b.source, _parsed(value) if b.ctype == "dynamic" else value)


_QUICK: list[frozenset[str]] = []


def normalise(row: dict[str, Any]) -> tuple[dict[str, Any], ExportShape | None]:
    """``(source record, shape)`` for an export row, ``(row, None)`` for anything else.

    Called by the hunt for every record: a raw record (no key any export table is recognised
    by) costs one set test."""
    if not _QUICK:
        _QUICK.append(_quick_keys())
    if row.keys().isdisjoint(_QUICK[0]):  # iterates over the smaller side: the few keys
        return row, None
    shape = recognise_export(row)
    if shape is None:
        return row, None
    return to_source(row, shape), shape
