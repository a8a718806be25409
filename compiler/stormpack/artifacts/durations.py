"""Durations as the products write them: Sentinel YAML (``15m``, ``1h``, ``2d``) and ISO-8601 (ARM)."""

from __future__ import annotations

import re
from datetime import timedelta

_SHORT = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_duration(text: str) -> timedelta:
    """``30m`` / ``2h`` / ``1d`` or ISO-8601 ``PT30M`` / ``P1D`` -> timedelta; ValueError otherwise."""
    s = str(text).strip()
    m = _SHORT.match(s)
    if m:
        return int(m.group(1)) * _UNIT[m.group(2)]
    iso = _ISO.match(s.upper())
    if iso and s.upper() not in ("P", "PT") and any(iso.groups()):
        d, h, mi, se = (int(g) if g else 0 for g in iso.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=se)
    raise ValueError(f"'{text}' is not a duration (write e.g. 30m, 2h, 1d or PT30M)")


def to_short(td: timedelta) -> str:
    """Sentinel YAML form: the largest whole unit (``90m``, ``2h``, ``1d``)."""
    secs = int(td.total_seconds())
    if secs <= 0 or secs % 60:
        raise ValueError(f"{td} is not a whole, positive number of minutes")
    minutes = secs // 60
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def to_iso(td: timedelta) -> str:
    """ISO-8601 as ARM writes it: ``PT15M``, ``PT1H``, ``P1D``, ``P1DT6H``."""
    secs = int(td.total_seconds())
    if secs <= 0 or secs % 60:
        raise ValueError(f"{td} is not a whole, positive number of minutes")
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    out = "P"
    if days:
        out += f"{days}D"
    if hours or minutes:
        out += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return out
