"""The field forms of data/targets/<target>.yml, read as data (one place, used both ways).

For every taxonomy field of a log source on a KQL target, :func:`column_forms` says which table
column holds its data and how: a plain column (optionally with a value map), a JSON column read
through a path (``tostring(parse_json(Item).Subject)``: column ``Item`` holds the source object
``Item``), a column derived by a condition (``iff(...)``), or data inside the raw-record column
(``RawEventData``). The derivation (source -> row) and the inverse (row -> source) both walk
these forms, so there is no second, hand-written mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal

from ..compiler.targets import LogsourceTarget
from ..taxonomy import Taxonomy
from .kqlexpr import Call, Column, Equals, Has, Uninterpretable, column_read, parse_expr
from .kqlexpr import Literal as Lit
from .source import container_of

FormKind = Literal["column", "container", "condition", "raw"]


@dataclass(frozen=True)
class ColumnForm:
    """Column ``column`` of a row holds source field ``source`` (a dotted path).

    kind ``column``: the value itself (``values`` maps a source value's text to the target's
    spellings, the first being what the target writes); ``container``: the object/array at
    ``source``, as JSON text when ``parsed``; ``condition``: the column is set so that the
    expression ``expr`` yields the source value; ``raw``: inside the raw-record column, at
    ``keys`` (a raw root with a path, ``Record.Event.EventData``, holds the data fields there and
    the System values elsewhere in the same column: ``Record.Event.System.Computer``).
    """

    field: str  # taxonomy field (as declared, ``Parameters.*`` for name/value roots)
    kind: FormKind
    column: str
    source: str
    parsed: bool = False
    values: Mapping[str, tuple[str, ...]] = dataclass_field(default_factory=dict)
    expr: Any = None
    keys: tuple[str, ...] = ()  # ``raw``: the path inside the raw-record column


def _values(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or "values" not in raw:
        return {}
    return {str(k): tuple(str(x) for x in (v if isinstance(v, list) else [v]))
            for k, v in raw["values"].items()}


def _container_form(fname: str, source_expr: str, container: str | None, raw_root: str | None,
                    values: Mapping[str, tuple[str, ...]] | None = None, whole: bool = False) -> ColumnForm:
    """``whole``: the column holds a JSON array or object (array and name/value forms)."""
    node = parse_expr(source_expr)
    cr = column_read(node)
    if cr is None or container is None:
        raise Uninterpretable(f"{fname}: source {source_expr!r} is not a column read")
    if raw_root is not None and cr.column == raw_root.split(".")[0]:
        return ColumnForm(fname, "raw", cr.column, container, keys=cr.keys)
    if cr.keys:
        # tostring(DeviceDetail.browser) for properties.deviceDetail.browser: the column holds
        # the object the path is read from
        holder = container_of(container, ".".join(cr.keys))
        if holder is None:
            raise Uninterpretable(f"{fname}: path {'.'.join(cr.keys)} does not end the field name")
        container = holder
    if not cr.keys and not cr.parsed and not whole:
        return ColumnForm(fname, "column", cr.column, container, values=values or {})
    return ColumnForm(fname, "container", cr.column, container, parsed=cr.parsed)


def column_forms(
    lt: LogsourceTarget, taxonomy: Taxonomy
) -> tuple[list[ColumnForm], dict[str, str]]:
    """Every interpretable form of the log source, and field -> reason for those that are not."""
    forms: list[ColumnForm] = []
    bad: dict[str, str] = {}
    for fname, raw in lt.fields.items():
        try:
            if isinstance(raw, Mapping) and "unsupported" in raw:
                continue
            if isinstance(raw, str):
                forms.append(ColumnForm(fname, "column", raw, fname))
            elif "column" in raw:
                forms.append(ColumnForm(fname, "column", str(raw["column"]), fname, values=_values(raw)))
            elif "name_value" in raw:
                root = taxonomy.name_value_arrays[fname[:-2]]
                source = str(raw["name_value"]["source"])
                forms.append(_container_form(fname, source, root.array, lt.raw_root, whole=True))
            elif "array" in raw:
                arr = raw["array"]
                path = str(arr.get("path", "")).replace("[]", "")
                holder = container_of(fname, path)
                forms.append(_container_form(fname, str(arr["source"]), holder, lt.raw_root, whole=True))
            elif "expr" in raw:
                node = parse_expr(str(raw["expr"]))
                if isinstance(node, Call) and node.fn == "iff":
                    cond = node.args[0]
                    if not (isinstance(cond, (Has, Equals)) and isinstance(cond.left, Column)
                            and all(isinstance(a, Lit) for a in node.args[1:])):
                        raise Uninterpretable(f"{fname}: iff() over {raw['expr']!r}")
                    forms.append(ColumnForm(fname, "condition", cond.left.name, fname, expr=node))
                else:
                    forms.append(_container_form(fname, str(raw["expr"]), fname, lt.raw_root, _values(raw)))
            else:
                raise Uninterpretable(f"{fname}: unknown field form {dict(raw)}")
        except Uninterpretable as exc:
            bad[fname] = exc.message
    return forms, bad
