"""Defender advanced-hunting exports of the Device* tables hunted with the Windows rules.

No licensed export of DeviceProcessEvents & co. was found, so the rows are made here from the
pack's Windows fixture events (real SigmaHQ / OTRF / EVTX-to-MITRE recordings, adapted where their
provenance says so): each event's row as Defender stores it (data/targets/defender.yml, the same
mapping the compiled queries read), with every column of the table in the order of the table
reference (the Kusto backend's bundled schema of it), empty where the row has no value, as the
portal's CSV export and the API's JSON ``Results`` rows carry them:

* https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceprocessevents-table (and
  the DeviceImageLoadEvents, DeviceFileEvents, DeviceRegistryEvents, DeviceNetworkEvents pages):
  the columns and ActionType values;
* https://learn.microsoft.com/en-us/defender-xdr/api-advanced-hunting: ``Results`` is a list of
  objects keyed by column name, ``Timestamp`` in ISO 8601 UTC.

Read back, every row is filed under its Sysmon log source and the rules that compile for Defender
fire on exactly the rows whose source events they fire on.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hunt_support import hunt_file, pack_engine
from stormpack.compiler.schema import table_columns
from stormpack.matcher import Engine
from stormpack.shapes import derive
from stormpack.shapes.device import DEVICE_TABLES
from stormpack.shapes.inverse import export_shapes
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return pack_engine(ROOT / "rules" / "windows")


def _events() -> dict[str, list[dict[str, Any]]]:
    """Fixture events of the Windows rules, by the log source they are of."""
    tax = load_taxonomy()
    out: dict[str, list[dict[str, Any]]] = {}
    for case in sorted((ROOT / "fixtures").glob("win_*/*.yml")):
        for event in yaml.safe_load(case.read_text(encoding="utf-8")).get("events", []):
            spec = tax.classify(event)
            if spec is not None and spec.key in DEVICE_TABLES:
                out.setdefault(spec.key, []).append(event)
    return out


def _rows(logsource: str, events: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    table = DEVICE_TABLES[logsource].table
    columns = list(table_columns("microsoft_xdr", table))
    rows = []
    for event in events:
        row = derive("defender", logsource, event).row
        rows.append({c: row.get(c, "") for c in columns})
    return columns, rows


EVENTS = _events()


def test_every_device_table_has_fixture_events() -> None:
    assert set(EVENTS) == set(DEVICE_TABLES)


@pytest.mark.parametrize("form", ["csv", "json"])
@pytest.mark.parametrize("logsource", sorted(DEVICE_TABLES))
def test_export_rows_fire_the_rules_their_source_events_fire(
    engine: Engine, tmp_path: Path, logsource: str, form: str
) -> None:
    events = EVENTS[logsource]
    columns, rows = _rows(logsource, events)
    export = tmp_path / f"{DEVICE_TABLES[logsource].table}.{form}"
    if form == "csv":
        with export.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)
    else:
        export.write_text(json.dumps(rows), encoding="utf-8")
    raw = tmp_path / "events.jsonl"
    raw.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    shape = next(s for s in export_shapes() if s.target == "defender" and s.logsource == logsource)
    want = {(r.index, h.rule.title) for h, r in hunt_file(engine, raw)[0].pairs()
            if shape.admits(h.rule.rule)}
    got = {(r.index, h.rule.title) for h, r in hunt_file(engine, export)[0].pairs()}
    assert got == want
    assert want  # each table's events hold at least one positive case


def test_registry_rows_of_other_actions_are_not_value_sets(engine: Engine, tmp_path: Path) -> None:
    events = EVENTS["windows_registry_set"]
    columns, rows = _rows("windows_registry_set", events)
    for row in rows:
        row["ActionType"] = "RegistryKeyCreated"
    export = tmp_path / "DeviceRegistryEvents.json"
    export.write_text(json.dumps(rows), encoding="utf-8")
    stats = hunt_file(engine, export)[1]
    assert stats.evaluated == 0 and stats.unrecognised == len(rows)
    why = stats.unrecognised_why[str(export)]
    assert "RegistryValueSet only" in why
