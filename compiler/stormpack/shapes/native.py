"""Columns a product fills that no taxonomy field maps to (``native.yml`` next to this module).

The field forms of data/targets/<target>.yml say where each *rule* field lives; a real row holds
more: Sentinel copies every top-level UAL key that names an ``OfficeActivity`` column into it,
adds ``SourceRecordId`` / ``ResultReasonType`` / ``SourceSystem``; Defender's ``CloudAppEvents``
has its own ``IPAddress`` (no port), ``Application``, ``ApplicationId``, ``UserAgent``. These are
the columns the real exports in tests/data/shapes/ show (tests/test_shapes_reference.py compares
them column by column). The file is data; a malformed entry is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ..errors import StormpackError
from ..taxonomy import normalise_ip
from ..yamlio import load_yaml_text
from .kqlexpr import NULL
from .source import get_path

NATIVE_FILE = "shapes/native.yml"


@dataclass(frozen=True)
class NativeColumn:
    """One product-filled column: ``from`` a source path (through ``values``), the first
    ``address`` of several paths, or a constant ``value``."""

    column: str
    source: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    value: Any = None

    def read(self, record: Mapping[str, Any]) -> Any:
        """The column's value for a source record, or NULL when the record does not give it."""
        if self.value is not None:
            return self.value
        for path in self.addresses:
            got = get_path(record, path)
            if isinstance(got, str) and got.strip():
                return _address(got)
        if self.source is None:
            return NULL
        got = get_path(record, self.source)
        if got is NULL or got is None or not self.values:
            return got
        return self.values.get(str(got), NULL)


@dataclass(frozen=True)
class NativeTable:
    """``same_name``: None, ``"top"`` (top-level keys) or ``"properties"`` (keys under
    ``properties``, capitalised)."""

    same_name: str | None
    columns: tuple[NativeColumn, ...]

    def same_named(self, record: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
        """``(column, source path, value)`` for each key the same-name rule carries over."""
        if self.same_name == "top":
            return [(k, k, v) for k, v in record.items()]
        if self.same_name == "properties":
            props = record.get("properties")
            if isinstance(props, Mapping):
                return [(k[:1].upper() + k[1:], f"properties.{k}", v) for k, v in props.items()]
        return []

    def same_name_source(self, column: str) -> str | None:
        """The source path a column comes from under the same-name rule (the inverse)."""
        if self.same_name == "top":
            return column
        if self.same_name == "properties":
            return f"properties.{column[:1].lower()}{column[1:]}"
        return None


def _address(text: str) -> str:
    """``[2001:db8::7]:443`` -> ``2001:db8::7``, ``203.0.113.5:50123`` -> ``203.0.113.5``."""
    return normalise_ip(text.strip())


def _column(table: str, name: str, spec: Any) -> NativeColumn:
    where = f"{NATIVE_FILE}: {table}.{name}"
    if not isinstance(spec, Mapping) or len(set(spec) & {"from", "address", "value"}) != 1:
        raise StormpackError(f"{where}: needs exactly one of from / address / value, got {spec!r}")
    if "address" in spec:
        paths = spec["address"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise StormpackError(f"{where}: address must be a list of source paths")
        return NativeColumn(name, addresses=tuple(paths))
    if "value" in spec:
        return NativeColumn(name, value=spec["value"])
    values = spec.get("values") or {}
    if not isinstance(values, Mapping):
        raise StormpackError(f"{where}: values must be a mapping")
    return NativeColumn(name, source=str(spec["from"]), values={str(k): v for k, v in values.items()})


def parse_native(text: str) -> dict[str, NativeTable]:
    data = load_yaml_text(text, NATIVE_FILE) or {}
    tables = data.get("tables")
    if not isinstance(tables, Mapping):
        raise StormpackError(f"{NATIVE_FILE}: no 'tables' mapping")
    out: dict[str, NativeTable] = {}
    for table, spec in tables.items():
        if not isinstance(spec, Mapping):
            raise StormpackError(f"{NATIVE_FILE}: {table} must be a mapping")
        cols = spec.get("columns") or {}
        same = spec.get("same_name")
        if same not in (None, True, "properties"):
            raise StormpackError(f"{NATIVE_FILE}: {table}.same_name must be true or 'properties'")
        out[str(table)] = NativeTable("top" if same is True else same,
                                      tuple(_column(str(table), str(c), s) for c, s in cols.items()))
    return out


@cache
def native_tables() -> dict[str, NativeTable]:
    text = resources.files("stormpack").joinpath(NATIVE_FILE).read_text(encoding="utf-8")
    return parse_native(text)
