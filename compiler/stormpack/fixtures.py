"""Fixture cases: hand-written proof that a rule fires and stays silent (format: docs/fixtures.md).

``load_fixture_dir(path)`` reads every ``*.yml`` / ``*.yaml`` case file of one rule's fixture
folder into :class:`FixtureCase` objects. Anything malformed is a :class:`FixtureError` naming
the file and line; nothing is skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from .errors import FixtureError, Location
from .yamlio import YamlError, load_yaml_text, read_text_file

CASE_SUFFIXES = (".yml", ".yaml")
Expect = Literal["match", "no_match"]
_KEYS = {"description", "expect", "provenance", "events", "events_file", "match", "groups", "todo"}
# `todo`: what is left to fill in a skeleton case written by `stormpack new`; a case that has one
# fails `stormpack test` with "fill in the cases" until the author deletes it.
MAX_EVENTS_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FixtureEvent:
    """One source record of a case and where it is written (file and 1-based line)."""

    record: dict[str, Any]
    location: Location


@dataclass
class FixtureCase:
    """One case file: a list of events and what the rule must do with them."""

    path: Path
    expect: Expect
    events: list[FixtureEvent]
    description: str = ""
    provenance: str = ""
    match: list[int] | None = None  # single-event positive cases: indices that must fire
    groups: list[dict[str, Any]] | None = None  # correlation positive cases: groups that must fire
    todo: str | None = None  # a `stormpack new` skeleton: what the author still has to fill in
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def location(self, key: str | None = None) -> Location:
        return Location(self.path, self.key_lines.get(key) if key else None)

    def expected_indices(self) -> set[int]:
        """Events that must fire in a positive single-event case (default: all of them)."""
        if self.expect != "match":
            return set()
        return set(self.match) if self.match is not None else set(range(len(self.events)))


def todo_failure(case: FixtureCase) -> str | None:
    """The message of a skeleton case that still has its ``todo`` (None once it is filled in)."""
    if case.todo is None:
        return None
    return (f"fill in the cases: {case.name} is a skeleton written by `stormpack new` "
            f"(todo: {case.todo}); delete its todo key once it is filled in")


def _key_lines(text: str) -> tuple[dict[str, int], list[int]]:
    """1-based lines of the top-level keys and of each item of ``events``."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    keys: dict[str, int] = {}
    event_lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                keys[str(k.value)] = k.start_mark.line + 1
                if k.value == "events" and isinstance(v, yaml.SequenceNode):
                    event_lines = [item.start_mark.line + 1 for item in v.value]
    return keys, event_lines


def _events_file(case_path: Path, name: Any, line: int | None) -> list[FixtureEvent]:
    if not isinstance(name, str) or not name.strip():
        raise FixtureError("events_file must be a file name", Location(case_path, line))
    p = Path(name)
    if p.is_absolute() or ".." in p.parts:
        raise FixtureError(f"events_file {name!r} must be a path inside the case's folder",
                           Location(case_path, line))
    path = case_path.parent / p
    if not path.is_file():
        raise FixtureError(f"events_file {name!r} does not exist", Location(case_path, line))
    try:
        text = read_text_file(path, max_bytes=MAX_EVENTS_FILE_BYTES)
    except YamlError as exc:
        raise FixtureError(exc.message, exc.location) from None
    out: list[FixtureEvent] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FixtureError(f"not a JSON record: {exc}", Location(path, n)) from None
        if not isinstance(rec, dict):
            raise FixtureError(f"a record must be a JSON object, not {type(rec).__name__}", Location(path, n))
        out.append(FixtureEvent(rec, Location(path, n)))
    if not out:
        raise FixtureError("events_file holds no records", Location(path))
    return out


def _int_list(value: Any, what: str, loc: Location) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise FixtureError(f"{what} must be a list of 0-based event indices", loc)
    return list(value)


def load_fixture_case(path: Path) -> FixtureCase:
    """Read and check one case file."""
    try:
        text = read_text_file(path)
        data = load_yaml_text(text, str(path), allow_aliases=False)
    except YamlError as exc:
        raise FixtureError(exc.message, exc.location) from None
    if not isinstance(data, dict):
        raise FixtureError("a fixture case must be a YAML mapping", Location(path, 1))
    keys, event_lines = _key_lines(text)

    def loc(key: str | None = None) -> Location:
        return Location(path, keys.get(key) if key else 1)

    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise FixtureError(
            f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_KEYS))})", loc(unknown[0])
        )
    expect = data.get("expect")
    if expect not in ("match", "no_match"):
        raise FixtureError(f"expect must be 'match' or 'no_match', not {expect!r}", loc("expect"))
    for key in ("description", "provenance", "todo"):
        v = data.get(key, "")
        if not isinstance(v, str):
            raise FixtureError(f"{key} must be text", loc(key))
    todo = str(data["todo"]).strip() if "todo" in data else None
    if todo == "":
        raise FixtureError("todo must say what is left to fill in (or delete the key)", loc("todo"))
    provenance = str(data.get("provenance", "")).strip()
    if not provenance:
        raise FixtureError(
            "provenance is required: 'synthetic, ...' or the corpus file, licence and record used",
            loc("provenance") if "provenance" in data else loc(),
        )
    if ("events" in data) == ("events_file" in data):
        raise FixtureError("a case needs exactly one of 'events' and 'events_file'", loc())
    if "events" in data:
        raw = data["events"]
        if not isinstance(raw, list) or not raw:
            raise FixtureError("events must be a non-empty list of records", loc("events"))
        events = []
        for i, rec in enumerate(raw):
            line = event_lines[i] if i < len(event_lines) else keys.get("events")
            if not isinstance(rec, dict):
                raise FixtureError(
                    f"event {i} must be a mapping (a source record), not {type(rec).__name__}",
                    Location(path, line),
                )
            try:
                plain = _plain(rec)
            except TypeError as exc:  # orjson: e.g. an integer beyond 64 bits
                raise FixtureError(f"event {i} is not a JSON record: {exc}", Location(path, line)) from None
            events.append(FixtureEvent(plain, Location(path, line)))
    else:
        events = _events_file(path, data["events_file"], keys.get("events_file"))
    match = None
    if "match" in data:
        if expect != "match":
            raise FixtureError("match is only allowed in 'expect: match' cases", loc("match"))
        match = _int_list(data["match"], "match", loc("match"))
        for i in match:
            if not 0 <= i < len(events):
                raise FixtureError(f"match index {i} is not an event of this case (0..{len(events) - 1})",
                                   loc("match"))
    groups = None
    if "groups" in data:
        if expect != "match":
            raise FixtureError("groups is only allowed in 'expect: match' cases", loc("groups"))
        g = data["groups"]
        if not isinstance(g, list) or not g or not all(isinstance(x, dict) and x for x in g):
            raise FixtureError("groups must be a non-empty list of {group-by field: value} mappings",
                               loc("groups"))
        groups = [dict(x) for x in g]
    if match is not None and groups is not None:
        raise FixtureError("a case has either match (single-event rule) or groups (correlation)",
                           loc("groups"))
    return FixtureCase(
        path=path, expect=expect, events=events, description=str(data.get("description", "")),
        provenance=provenance, match=match, groups=groups, todo=todo, key_lines=keys,
    )


def _plain(rec: dict[Any, Any]) -> dict[str, Any]:
    """Records are JSON: YAML's extras become JSON text (keys ``1:`` -> ``"1"``; an unquoted
    timestamp -> ISO text as orjson writes it, ``2023-06-14T02:41:07`` / ``...Z``; quote
    timestamps to keep them byte for byte)."""
    opts = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
    return orjson.loads(orjson.dumps(rec, option=opts, default=str))  # type: ignore[no-any-return]


def load_fixture_dir(path: Path | str) -> list[FixtureCase]:
    """Every case of one rule's fixture folder, sorted by file name ([] when the folder is absent)."""
    p = Path(path)
    if not p.exists():
        return []
    if not p.is_dir():
        raise FixtureError("a rule's fixtures must be a folder of case files", Location(p))
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in CASE_SUFFIXES)
    return [load_fixture_case(f) for f in files]
