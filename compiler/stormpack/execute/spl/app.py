"""A built Splunk app folder read back: macros.conf, transforms.conf + lookups/*.csv and
savedsearches.conf, as Splunk layers them (``default/`` then ``local/``).

.conf syntax (https://docs.splunk.com/Documentation/Splunk/latest/Admin/Howtoeditaconfigurationfile):
``[stanza]`` headers, ``key = value`` lines, ``#`` comment lines, and a value continued on the
next line when its line ends with a backslash (the line break is kept in the value).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ...errors import ConfError as ConfError
from ...errors import Location
from ..base import Dataset, Row

Conf = dict[str, dict[str, str]]


def parse_conf(text: str, path: Path | str = "<conf>") -> Conf:
    """Stanza -> key -> value (a key before any stanza lands in ``default``)."""
    out: Conf = {}
    stanza = "default"
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise ConfError(f"stanza header without ']': {stripped!r}", Location(path, lineno))
            stanza = stripped[1:-1]
            out.setdefault(stanza, {})
            continue
        if "=" not in line:
            raise ConfError(f"expected 'key = value', got {stripped!r}", Location(path, lineno))
        key, _, value = line.partition("=")
        parts = [value]
        while parts[-1].rstrip().endswith("\\"):
            parts[-1] = parts[-1].rstrip()[:-1]
            if i >= len(lines):
                raise ConfError(f"{key.strip()}: continuation backslash on the last line",
                                Location(path, lineno))
            parts.append(lines[i])
            i += 1
        out.setdefault(stanza, {})[key.strip()] = "\n".join(p.rstrip() for p in parts).strip()
    return out


def read_layered(app: Path, name: str) -> Conf:
    """``default/<name>`` overlaid key by key with ``local/<name>``."""
    merged: Conf = {}
    for layer in ("default", "local"):
        p = app / layer / name
        if p.is_file():
            for stanza, kv in parse_conf(p.read_text(encoding="utf-8"), p).items():
                merged.setdefault(stanza, {}).update(kv)
    return merged


def macros_of(conf: Conf) -> dict[str, str]:
    """Macro stanza -> definition; named ``args`` are rewritten to positions ``$1$``, ``$2$``."""
    out: dict[str, str] = {}
    for stanza, kv in conf.items():
        if "definition" not in kv:
            continue
        body = kv["definition"]
        args = [a.strip() for a in kv.get("args", "").split(",") if a.strip()]
        m = re.fullmatch(r"(.+)\((\d+)\)", stanza)
        if m and int(m.group(2)) != len(args):
            raise ConfError(f"macro [{stanza}] declares {len(args)} args")
        for n, a in enumerate(args, 1):
            body = body.replace(f"${a}$", f"${n}$")
        out[stanza] = body
    return out


def _csv_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def lookups_of(app: Path) -> dict[str, list[Row]]:
    """Lookup table rows by CSV file name and by every transforms.conf definition naming it."""
    out: dict[str, list[Row]] = {}
    folder = app / "lookups"
    if folder.is_dir():
        for p in sorted(folder.glob("*.csv")):
            out[p.name] = _csv_rows(p)
    for stanza, kv in read_layered(app, "transforms.conf").items():
        fname = kv.get("filename")
        if fname is None:
            continue
        if fname not in out:
            raise ConfError(f"transforms.conf [{stanza}] names lookups/{fname}, which does not exist",
                            Location(app / "default" / "transforms.conf"))
        out[stanza] = out[fname]
    return out


@dataclass(frozen=True)
class SavedSearch:
    """One savedsearches.conf stanza: the search text and its dispatch time range."""

    name: str
    search: str
    earliest: str | None
    latest: str | None


def saved_searches(app: Path) -> dict[str, SavedSearch]:
    out: dict[str, SavedSearch] = {}
    for stanza, kv in read_layered(app, "savedsearches.conf").items():
        if "search" in kv:
            out[stanza] = SavedSearch(stanza, kv["search"], kv.get("dispatch.earliest_time"),
                                      kv.get("dispatch.latest_time"))
    return out


def splunk_dataset(app: Path, tables: Mapping[str, Sequence[Row]], now: datetime) -> Dataset:
    """A :class:`Dataset` over ``tables`` (sourcetype -> events) with the app's macros and lookups."""
    if not (app / "default").is_dir():
        raise ConfError(f"{app} is not a Splunk app folder (no default/)", Location(app))
    return Dataset(tables=tables, now=now, macros=macros_of(read_layered(app, "macros.conf")),
                   lookups=lookups_of(app))
