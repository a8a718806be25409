"""Computed columns of a derived row, as the compiled query defines them (a small Python
interpretation of each field form of the targets data).

A compiled query does not compare the table's columns only: it first defines aliases
(``extend`` / ``eval``): the normalised address of an ``ip`` field, the element of a name/value
array, any-element lists of a JSON array, computed columns. :func:`materialiser` returns, for the
:class:`~stormpack.compiler.targets.FieldRef` of one rule field, a function that adds that alias to
a row the way the query would. Kusto has no null strings: a string alias the record gives no
value is ``""`` in the row, as ``tostring()`` makes it (null -> ``""``,
https://learn.microsoft.com/en-us/kusto/query/tostring-function;
https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/null-values), so a comparison
with ``""`` holds on it, exactly as in the product; the agreement evaluates a rule's ``null``
as ``isempty()`` there (:mod:`.agreement`). A Splunk alias without a value is no field
(``mvindex`` of a missing position is null); one of an empty value is an empty field. A form
outside what this module interprets raises :class:`~.kqlexpr.Uninterpretable`; the caller
names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..compiler.targets import FieldRef, LogsourceTarget, TargetSpec
from ..taxonomy import Taxonomy, normalise_ip
from .kqlexpr import NULL, Uninterpretable, evaluate, kql_tostring, parse_expr

Row = dict[str, Any]
Materialise = Callable[[Row], None]


def _put(row: Row, name: str, value: Any) -> None:
    """Splunk: an alias without a value is no field (``eval`` of null removes it); an empty
    JSON string is a field whose value is empty, which ``X=""`` matches (as the SPL executor
    evaluates ``NOT X=""``)."""
    if value is NULL or value is None:
        row.pop(name, None)
    else:
        row[name] = value


def _put_kql(row: Row, name: str, value: Any) -> None:
    """KQL: a string alias is never null (``tostring(null)`` is ``""``); an int alias
    (``toint()`` of no number) is null, which the row holds as an absent column."""
    if value is NULL or value is None:
        row.pop(name, None)
    else:
        row[name] = value


def present_column(alias: str) -> str:
    """The row key holding ``bag_has_key(bag, name)`` for a KQL name/value alias (the compiled
    ``''`` test is "present and empty"); not a column of the table."""
    return f"__present__{alias}"


def _kql_elements(value: Any, parts: list[str]) -> list[str]:
    """``mv-apply __e0 = source on (mv-expand ... | summarize make_list(tostring(leaf)))``."""
    items = value if isinstance(value, list) else ([] if value is NULL or value is None else [value])
    for part in parts[:-1]:
        nxt: list[Any] = []
        for el in items:
            sub = el.get(part, NULL) if isinstance(el, dict) else NULL
            if isinstance(sub, list):
                nxt.extend(sub)
            elif sub is not NULL and sub is not None:
                nxt.append(sub)
        items = nxt
    leaf = parts[-1]
    out: list[str] = []
    for el in items:
        v = el if not leaf else (el.get(leaf, NULL) if isinstance(el, dict) else NULL)
        out.append(kql_tostring(v))
    return out


def _kql(target: TargetSpec, lt: LogsourceTarget, taxonomy: Taxonomy, ref: FieldRef) -> Materialise:
    spec_field = declared_field(lt, ref.field)
    raw = lt.fields.get(spec_field)
    name = ref.name
    if ref.kind == "column":
        return lambda row: None
    if ref.kind == "ip":
        node = parse_expr(ref.source)

        def ip(row: Row) -> None:
            _put_kql(row, name, normalise_ip(kql_tostring(evaluate(node, row))))
        return ip
    if ref.kind == "computed":
        node = parse_expr(ref.source)
        as_int = ref.type == "int"

        def computed(row: Row) -> None:
            v = evaluate(node, row)
            _put_kql(row, name, v if as_int else kql_tostring(v))
        return computed
    if ref.kind == "array":
        if not isinstance(raw, dict) or "array" not in raw:
            raise Uninterpretable(f"{ref.field}: array alias without an array form in the data")
        src = parse_expr(str(raw["array"]["source"]))
        parts = str(raw["array"].get("path", "")).split("[].")

        def array(row: Row) -> None:
            row[name] = _kql_elements(evaluate(src, row), parts)
        return array
    if ref.kind == "name_value":
        split = taxonomy.name_value_root(ref.field)
        if split is None or not isinstance(raw, dict) or "name_value" not in raw:
            raise Uninterpretable(f"{ref.field}: name/value alias without a name_value form")
        root, element = split
        src = parse_expr(str(raw["name_value"]["source"]))
        flag = present_column(name)

        def name_value(row: Row) -> None:
            arr = evaluate(src, row)
            found: Any = NULL
            present = False
            if isinstance(arr, list):
                for el in arr:  # make_bag keeps one value per name; the first is taken here
                    if isinstance(el, dict) and kql_tostring(el.get(root.name, NULL)) == element:
                        found, present = el.get(root.value, NULL), True
                        break
            row[flag] = present
            _put_kql(row, name, kql_tostring(found))
        return name_value
    raise Uninterpretable(f"{ref.field}: field kind {ref.kind} is not interpreted")


def _spl_ip(value: Any) -> Any:
    if isinstance(value, list):
        return [normalise_ip(v.strip()) for v in value]
    return normalise_ip(value.strip()) if isinstance(value, str) else value


def _splunk(lt: LogsourceTarget, taxonomy: Taxonomy, ref: FieldRef) -> Materialise:
    name = ref.name
    if ref.kind in ("column", "array"):
        return lambda row: None
    if ref.kind == "ip":
        if ref.source != declared_field(lt, ref.field) and ref.source != ref.field:
            raise Uninterpretable(f"{ref.field}: SPL address of {ref.source!r}")
        src = ref.source

        def ip(row: Row) -> None:
            _put(row, name, _spl_ip(row.get(src)))
        return ip
    if ref.kind == "name_value":
        split = taxonomy.name_value_root(ref.field)
        raw = lt.fields.get(declared_field(lt, ref.field))
        if split is None or not isinstance(raw, dict) or "name_value" not in raw:
            raise Uninterpretable(f"{ref.field}: name/value alias without a name_value form")
        root, element = split
        arr = str(raw["name_value"]["array"])
        rx = re.compile("^" + re.escape(element) + "$")

        def name_value(row: Row) -> None:
            names = row.get(f"{arr}.{root.name}")
            vals = row.get(f"{arr}.{root.value}")
            names_l = names if isinstance(names, list) else ([] if names is None else [names])
            vals_l = vals if isinstance(vals, list) else ([] if vals is None else [vals])
            # eval alias=mvindex(values, mvfind(names, "^name$")): positions of two multivalue
            # fields, which drift apart when an element lacks a value
            idx = next((i for i, n in enumerate(names_l) if rx.search(n)), None)
            _put(row, name, vals_l[idx] if idx is not None and idx < len(vals_l) else NULL)
        return name_value
    if ref.kind == "computed":
        # eval X=coalesce(A, B, ...): the first of the fields that has a value
        # (https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/ConditionalFunctions)
        m = re.fullmatch(r"coalesce\(\s*([\w.]+(?:\s*,\s*[\w.]+)*)\s*\)", ref.source.strip())
        if m is None:
            raise Uninterpretable(f"{ref.field}: SPL expression {ref.source!r} is not interpreted")
        names = [n.strip() for n in m.group(1).split(",")]

        def coalesce(row: Row) -> None:
            _put(row, name, next((row[n] for n in names if row.get(n) is not None), NULL))
        return coalesce
    raise Uninterpretable(f"{ref.field}: field kind {ref.kind} is not interpreted for SPL")


def declared_field(lt: LogsourceTarget, field: str) -> str:
    """The data's key for a rule field (``Parameters.ForwardTo`` -> ``Parameters.*``)."""
    if field in lt.fields:
        return field
    root = field.split(".", 1)[0]
    return f"{root}.*" if f"{root}.*" in lt.fields else field


def materialiser(target: TargetSpec, lt: LogsourceTarget, taxonomy: Taxonomy, ref: FieldRef) -> Materialise:
    """The function that adds ``ref``'s alias to a derived row (Uninterpretable if it cannot)."""
    if target.is_kql:
        return _kql(target, lt, taxonomy, ref)
    return _splunk(lt, taxonomy, ref)
