"""Time modifiers (``earliest=-70m@m``, ``latest=now``) against a fixed clock.

https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/SearchTimeModifiers
Relative form: ``[+|-]<integer><unit>`` steps, optionally ``@<unit>`` to snap down to the start
of that unit; ``now`` / ``now()`` / ``0`` (epoch); absolute ``%m/%d/%Y:%H:%M:%S``; a bare epoch number.
The clock is UTC (Splunk snaps in the user's time zone; UTC here).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..base import UnsupportedConstruct

_UNITS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "week": "w", "weeks": "w",
    "mon": "mon", "month": "mon", "months": "mon",
    "y": "y", "yr": "y", "yrs": "y", "year": "y", "years": "y",
}
_STEP = re.compile(r"([+-])(\d*)([a-z]+)")


def _shift(t: datetime, sign: int, n: int, unit: str) -> datetime:
    if unit in ("s", "m", "h", "d", "w"):
        secs = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        return t + timedelta(seconds=sign * n * secs)
    months = n * (12 if unit == "y" else 1) * sign
    y, mo = divmod(t.month - 1 + months, 12)
    return t.replace(year=t.year + y, month=mo + 1, day=min(t.day, 28))


def _snap(t: datetime, unit: str) -> datetime:
    if unit == "s":
        return t.replace(microsecond=0)
    if unit == "m":
        return t.replace(second=0, microsecond=0)
    if unit == "h":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # @w = @w0, Sunday
    if unit == "mon":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def resolve(spec: str, now: datetime) -> float:
    """The epoch seconds a time modifier names at ``now``."""
    s = spec.strip().strip('"').lower()
    if s in ("now", "now()"):
        return now.timestamp()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    m = re.fullmatch(r"(\d\d)/(\d\d)/(\d{4}):(\d\d):(\d\d):(\d\d)", s)
    if m:
        mo, d, y, hh, mm, ss = (int(x) for x in m.groups())
        return datetime(y, mo, d, hh, mm, ss, tzinfo=UTC).timestamp()
    rel, _, snap = s.partition("@")
    t = now.astimezone(UTC)
    pos = 0
    while pos < len(rel):
        step = _STEP.match(rel, pos)
        if step is None or step.group(3) not in _UNITS:
            raise UnsupportedConstruct(f"time modifier {spec!r}")
        t = _shift(t, 1 if step.group(1) == "+" else -1, int(step.group(2) or 1), _UNITS[step.group(3)])
        pos = step.end()
    if re.fullmatch(r"w[0-6]", snap):  # @w0 = Sunday ... @w6 = Saturday
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return (day - timedelta(days=(day.weekday() + 1 - int(snap[1])) % 7)).timestamp()
    if snap:
        if snap not in _UNITS:
            raise UnsupportedConstruct(f"time modifier snap {spec!r}")
        t = _snap(t, _UNITS[snap])
    return t.timestamp()
