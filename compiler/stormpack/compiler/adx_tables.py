"""The `adx` target's tables (data/adx_tables.yml): one per log source, the raw exported record
in a dynamic column, and the JSON ingestion mapping that fills them.

Read by the compiler's schema (column types for the Kusto parser check and field resolution) and by
the artifact writer (build/adx/tables.kql). Nothing else states these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import TaxonomyError
from ..yamlio import load_yaml_text

DATA = "data/adx_tables.yml"
KUSTO_TYPES = frozenset({"string", "datetime", "dynamic", "int", "long", "real", "bool", "guid"})


@dataclass(frozen=True)
class AdxTable:
    name: str
    logsources: tuple[str, ...]  # the log sources whose events the table holds
    description: str
    columns: Mapping[str, str]  # column -> Kusto type, in table order
    json_mapping: Mapping[str, str]  # column -> JSONPath in the exported record


@cache
def adx_tables() -> tuple[AdxTable, ...]:
    text = resources.files("stormpack").joinpath(DATA).read_text(encoding="utf-8")
    data = load_yaml_text(text, f"stormpack/{DATA}")
    out: list[AdxTable] = []
    for name, spec in (data.get("tables") or {}).items():
        columns = {str(c): str(t) for c, t in (spec.get("columns") or {}).items()}
        bad = sorted(t for t in columns.values() if t not in KUSTO_TYPES)
        if bad:
            raise TaxonomyError(f"stormpack/{DATA}: table {name}: unknown Kusto type(s) {', '.join(bad)}")
        mapping = {str(c): str(p) for c, p in (spec.get("json") or {}).items()}
        missing = sorted(set(columns) ^ set(mapping))
        if missing:
            raise TaxonomyError(f"stormpack/{DATA}: table {name}: columns and json mapping differ on "
                                f"{', '.join(missing)}")
        held = spec["logsource"]
        logsources = tuple(str(k) for k in (held if isinstance(held, list) else [held]))
        out.append(AdxTable(str(name), logsources, str(spec.get("description", "")), columns, mapping))
    return tuple(out)
