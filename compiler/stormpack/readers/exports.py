"""Every export shape the hunt reads, brought back to the taxonomy's source shapes, and a
one-line explanation for records that fit none.

:class:`SourceShapes` is the hunt's ``convert`` step: per record it tries, in order,

1. SIEM table rows (Sentinel ``OfficeActivity`` / ``SigninLogs`` / ``AuditLogs`` /
   ``AADUserRiskEvents``, Defender ``CloudAppEvents``): :func:`stormpack.shapes.inverse.normalise`;
2. Microsoft Graph ``signIn`` / ``directoryAudit`` / ``riskDetection`` objects (camelCase or
   PascalCase): :mod:`.graph`;
3. rows of an Entra admin center download (sign-ins, audit logs): :mod:`.portal`.

Raw records (UAL ``AuditData``, diagnostic-settings records) pass through unchanged.
:func:`explain_unrecognised` names the log source an unrecognised record resembles and the
columns it lacks (a partial projection such as a five-column ``OfficeActivity`` export).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..taxonomy import load_taxonomy
from .graph import from_graph
from .portal import from_portal, header_key


@dataclass(frozen=True)
class ConvertedShape:
    """What a converted record was read as (``name`` is counted in the hunt summary)."""

    name: str


_SHAPES: dict[str, ConvertedShape] = {}


def _shape(name: str) -> ConvertedShape:
    got = _SHAPES.get(name)
    if got is None:
        got = _SHAPES[name] = ConvertedShape(name)
    return got


_PORTAL_QUICK = frozenset({"Date (UTC)"})
_GRAPH_QUICK = frozenset({"createdDateTime", "activityDateTime", "detectedDateTime",
                          "CreatedDateTime", "ActivityDateTime", "DetectedDateTime"})


def _pascal_risk_detection(row: Mapping[str, Any]) -> bool:
    """A riskDetection as PowerShell writes it (``Get-MgRiskDetection | ConvertTo-Json``): the
    Sentinel ``AADUserRiskEvents`` column names, but no ``TimeGenerated`` (every Log Analytics
    row has one, CSV exports as ``TimeGenerated [UTC]``), and nested keys in PascalCase too."""
    return ("DetectedDateTime" in row and "RiskEventType" in row
            and not any(k.startswith("TimeGenerated") for k in row))


class SourceShapes:
    """The hunt's conversion step (see the module docstring); ``start_file`` gives the file
    name, which alone tells the portal's non-interactive sign-ins download from the
    interactive one (same columns)."""

    def __init__(self) -> None:
        self._non_interactive = False

    @staticmethod
    def trigger_keys() -> frozenset[str]:
        """Every top-level key whose presence makes :meth:`__call__` look at a record at all
        (a record with none of them passes through unchanged): the hunt's prefilter parses
        records holding one of them."""
        from ..shapes.inverse import quick_keys

        return quick_keys() | _GRAPH_QUICK | _PORTAL_QUICK

    def start_file(self, path: str | Path) -> None:
        self._non_interactive = "noninteractive" in Path(path).name.lower().replace("-", "").replace("_", "")

    def __call__(self, row: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        from ..shapes.inverse import normalise

        if _pascal_risk_detection(row):
            got = from_graph(row)
            if got is not None:
                return got[0], _shape(got[1])
        out, shape = normalise(row)
        if shape is not None:
            return out, shape
        if not row.keys().isdisjoint(_GRAPH_QUICK):
            got = from_graph(row)
            if got is not None:
                return got[0], _shape(got[1])
        if not row.keys().isdisjoint(_PORTAL_QUICK):
            portal = from_portal(row, self._non_interactive)
            if portal is not None:
                return portal[0], _shape(portal[1])
        return row, None


# ------------------------------------------------------------------------------ explanation


@cache
def _candidates() -> tuple[tuple[str, frozenset[str], tuple[str, ...]], ...]:
    """(name, columns, identifying columns) of every shape a record could come from."""
    from ..shapes.inverse import export_shapes

    tax = load_taxonomy()
    out: list[tuple[str, frozenset[str], tuple[str, ...]]] = []
    for s in export_shapes():
        cols = frozenset(f.column for f in s.forms if f.kind in ("column", "container"))
        ident = ("Type", *sorted(s.signature - {"Type"}))
        out.append((s.name, cols, ident))
    for key, ls in tax.logsources.items():
        cols = frozenset(f.split(".", 1)[0] for f in ls.fields)
        rec = ls.recognise
        ident = tuple(rec.get("all_present", ())) + tuple(rec.get("any_present", ())) + tuple(
            rec.get("equals", {})) + tuple(rec.get("one_of", {}))
        out.append((f"{ls.title} [{key}]", cols, ident))
    return tuple(out)


def _explain_windows(record: Mapping[str, Any]) -> str:
    """A Windows event of an event type (channel + EventID) that no log source reads."""
    read = []
    for key, ls in load_taxonomy().logsources.items():
        one_of = ls.recognise.get("one_of", {})
        if "EventID" in one_of:
            ids = "/".join(str(i) for i in one_of["EventID"])
            read.append(f"EventID {ids} with {', '.join(ls.recognise.get('all_present', ()))} [{key}]")
    what = f"Channel {record.get('Channel')!r}, EventID {record.get('EventID')!r}"
    return (f"a Windows event ({what}) of a type "
            f"no log source of the pack reads (the pack reads: {'; '.join(read) or 'none'})")


def explain_unrecognised(record: Mapping[str, Any]) -> str:
    """One line: the log source ``record`` resembles most and the columns it lacks."""
    keys = set(record)
    norm = {header_key(k) for k in keys}
    if {"Timestamp", "ActionType"} <= keys:
        what = f"a Defender XDR advanced-hunting row (ActionType {str(record['ActionType'])!r})"
        if not record.get("RawEventData"):
            from ..shapes.device import DEVICE_TABLES

            device = ", ".join(d.table for d in DEVICE_TABLES.values())
            return (f"{what} of a table or action no rule of the pack reads; of Defender tables the pack "
                    f"reads CloudAppEvents (which needs RawEventData) and {device} (DeviceRegistryEvents: "
                    "RegistryValueSet only; an export needs the table's time, ActionType and own columns)")
        return f"{what} whose RawEventData is a record of no log source of the pack"
    if {"EventID", "Channel"} <= keys:
        return _explain_windows(record)
    best: tuple[int, str, frozenset[str], tuple[str, ...]] | None = None
    for name, cols, ident in _candidates():
        n = sum(1 for c in cols if header_key(c) in norm)
        if n and (best is None or n > best[0]):
            best = (n, name, cols, ident)
    shown = ", ".join(sorted(keys)[:8]) + (", ..." if len(keys) > 8 else "")
    if best is None:
        return f"columns ({shown}) fit no log source of the pack"
    n, name, cols, ident = best
    has = sorted(c for c in cols if header_key(c) in norm)
    lacks = [c for c in ident if header_key(c) not in norm]
    more = len([c for c in cols if header_key(c) not in norm]) - len([c for c in lacks if c in cols])
    tail = f" (and {more} more of its columns)" if more > 0 else ""
    return (f"resembles {name} (has {', '.join(has)}) but lacks {', '.join(lacks) or 'nothing it is told by'}"
            f"{tail}: not enough to evaluate its rules")
