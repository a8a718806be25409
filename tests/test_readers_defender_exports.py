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

from stormpack.compiler.schema import table_columns
from stormpack.hunt import run_hunt
from stormpack.matcher import Engine, EventRef
from stormpack.readers.exports import SourceShapes, explain_unrecognised
from stormpack.ruleset import load_ruleset, load_values
from stormpack.shapes import derive
from stormpack.shapes.device import DEVICE_TABLES
from stormpack.shapes.inverse import export_shapes
from stormpack.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]


class Collect:
    def __init__(self) -> None:
        self.hits: list[tuple[int, Any]] = []

    def single(self, hit: Any, record: Any) -> None:
        self.hits.append((record.index, hit.rule))

    def correlation(self, hit: Any) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.build(load_ruleset([ROOT / "rules" / "windows"]), load_values(ROOT / "fixtures" / "values"))


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


def _hunt(engine: Engine, path: Path) -> Collect:
    engine.set_max_disorder(None)
    sink = Collect()
    run_hunt(engine, [path], sink, EventRef, convert=SourceShapes(),  # type: ignore[arg-type]
             explain=explain_unrecognised)
    return sink


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
    want = {(i, r.title) for i, r in _hunt(engine, raw).hits if shape.admits(r.rule)}
    got_hits = _hunt(engine, export).hits
    got = {(i, r.title) for i, r in got_hits}
    assert got == want
    assert want  # each table's events hold at least one positive case


def test_registry_rows_of_other_actions_are_not_value_sets(engine: Engine, tmp_path: Path) -> None:
    events = EVENTS["windows_registry_set"]
    columns, rows = _rows("windows_registry_set", events)
    for row in rows:
        row["ActionType"] = "RegistryKeyCreated"
    export = tmp_path / "DeviceRegistryEvents.json"
    export.write_text(json.dumps(rows), encoding="utf-8")
    engine.set_max_disorder(None)
    stats = run_hunt(engine, [export], Collect(), EventRef, convert=SourceShapes(),  # type: ignore[arg-type]
                     explain=explain_unrecognised)
    assert stats.evaluated == 0 and stats.unrecognised == len(rows)
    why = stats.unrecognised_why[str(export)]
    assert "RegistryValueSet only" in why
