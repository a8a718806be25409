"""build/adx/: what an investigator needs to run the pack in Azure Data Explorer (or a Fabric
Eventhouse) over raw exports: the table and ingestion-mapping commands, and a one-page guide.

The queries themselves are the compiled ``adx`` target (``build/adx/<rule>.kql``, written by the
compiler's build). The tables come from data/adx_tables.yml (:mod:`stormpack.compiler.adx_tables`),
the one place they are stated. Command syntax:

* https://learn.microsoft.com/en-us/kusto/management/create-merge-table-command
* https://learn.microsoft.com/en-us/kusto/management/create-ingestion-mapping-command
* https://learn.microsoft.com/en-us/kusto/management/json-mapping (``"Path": "$"`` is the whole
  document)
"""

from __future__ import annotations

import json
from pathlib import Path

from ..compiler.adx_tables import AdxTable, adx_tables
from ..syntax import KQL

MAPPING_NAME = "stormpack_json"


def create_table(table: AdxTable) -> str:
    columns = ", ".join(f"{c}:{t}" for c, t in table.columns.items())
    return (f".create-merge table {table.name} ({columns}) "
            f"with (docstring = {KQL.string(table.description)}, folder = 'stormpack')")


def mapping_json(table: AdxTable) -> str:
    return json.dumps([{"column": c, "datatype": table.columns[c], "Properties": {"Path": p}}
                       for c, p in table.json_mapping.items()], separators=(",", ":"))


def create_mapping(table: AdxTable) -> str:
    return (f".create-or-alter table {table.name} ingestion json mapping "
            f"\"{MAPPING_NAME}\" {KQL.string(mapping_json(table))}")


def commands() -> list[str]:
    """Every management command, tables first, in the order to run them."""
    tables = adx_tables()
    return [create_table(t) for t in tables] + [create_mapping(t) for t in tables]


def tables_kql() -> str:
    head = ("// stormpack: tables for raw exports (run each command on its own, e.g. in the ADX web UI).\n"
            "// One table per log source; Record holds the exported record as is. See README.md.\n")
    return head + "\n\n".join(commands()) + "\n"


GUIDE = """# stormpack on Azure Data Explorer / Fabric Eventhouse

For investigations too large for `stormpack hunt` on one machine: ingest the raw exports into
ADX (or a Fabric Eventhouse, the same engine) and run the pack's KQL there.

1. Create a database, then run each command of `tables.kql` (one per run in the web UI's query
   editor). Each log source gets one table with two columns: `Record` (dynamic) holds the exported
   record exactly as exported, `TimeGenerated` (datetime) its event time.

{table_rows}

2. Ingest each export into its table with the JSON mapping `{mapping}` (JSON lines or a JSON
   array), e.g. with LightIngest:

       LightIngest "https://ingest-<cluster>.kusto.windows.net;Fed=True" -db:<db> \\
           -table:UnifiedAuditLog -source:<folder> -pattern:*.json -format:multijson \\
           -ingestionMappingRef:{mapping}

   or the web UI's "Get data" wizard (choose the existing table and the mapping). A Purview /
   Search-UnifiedAuditLog CSV export holds each record as JSON text in its `AuditData` column:
   write that column out as JSON lines first (one record per line). Windows `.evtx` files go
   into `WindowsEvents` as the JSON lines of `evtx_dump -o jsonl` (github.com/omerbenamram/evtx),
   IIS `u_ex*.log` files into `IisW3CLogs` as the JSON lines of stormpack's W3C reader
   (docs/adx.md gives both commands).

3. Run the queries: `<rule>.kql` in this folder, one per rule, each starting with the table of its
   log source. They are hunting queries over whatever the tables hold (no schedule, no time
   filter besides the rule's own), so time-bounded campaign rules work on historical exports.
   The pack's tenant lists are inlined (the `--values` the build used).
"""


def guide() -> str:
    rows = "\n".join(f"   * `{t.name}` ({', '.join(t.logsources)}): {t.description}" for t in adx_tables())
    return GUIDE.format(table_rows=rows, mapping=MAPPING_NAME)


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("tables.kql", tables_kql()), ("README.md", guide())):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
