"""Kusto scalar semantics the executor relies on, each with the Microsoft Learn page it follows.

Value model: ``None`` is null (``long``, ``real``, ``bool``, ``datetime``, ``timespan``,
``dynamic``); a ``string`` is never null (the empty string stands for "no value"); ``dynamic``
values are Python ``dict``/``list``/scalars as JSON decodes them; ``datetime`` is an aware UTC
:class:`~datetime.datetime`, ``timespan`` a :class:`~datetime.timedelta`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

from ..base import UnsupportedConstruct

LEARN = "https://learn.microsoft.com/en-us/kusto/query/"


def tostring(v: Any) -> str:
    """tostring(): null -> "" (documented example `tostring(null)` is ""); dynamic arrays and
    bags -> their JSON text; booleans -> "true"/"false"; datetimes -> ISO 8601 with 7 digits.
    https://learn.microsoft.com/en-us/kusto/query/tostring-function"""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond:06d}0Z"
    if isinstance(v, timedelta):
        return _timespan_text(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def _timespan_text(td: timedelta) -> str:
    total = int(td.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{d}.{h:02d}:{m:02d}:{s:02d}" if d else f"{sign}{h:02d}:{m:02d}:{s:02d}"


def tolong(v: Any) -> int | None:
    """toint()/tolong(): a number or numeric text converts, anything else is null.
    https://learn.microsoft.com/en-us/kusto/query/toint-function"""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else int(v)
    if isinstance(v, str):
        t = v.strip()
        if re.fullmatch(r"[+-]?\d+", t):
            return int(t)
        if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?", t):
            return int(float(t))
        return None
    return None


def toreal(v: Any) -> float | None:
    """todouble()/toreal(): https://learn.microsoft.com/en-us/kusto/query/toreal-function"""
    if v is None or isinstance(v, (dict, list)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def parse_json(v: Any) -> Any:
    """parse_json()/todynamic(): a string holding JSON becomes that value; a string that is not
    JSON stays a dynamic string; a dynamic value is returned as is.
    https://learn.microsoft.com/en-us/kusto/query/parse-json-function"""
    if not isinstance(v, str):
        return v
    if v.strip() == "":
        return None  # isnull(parse_json("")) is true (isnull() page)
    try:
        return json.loads(v)
    except ValueError:
        return v


PARSE_XML_MAX = 1_048_576  # bytes; longer input gives null (parse_xml page, "Note")


def parse_xml(v: Any) -> Any:
    """parse_xml(): XML text as a dynamic value, by the conversion table of
    https://learn.microsoft.com/en-us/kusto/query/parse-xml-function: ``<e/>`` -> ``{"e": null}``,
    ``<e>text</e>`` -> ``{"e": "text"}``, attributes as ``"@name"`` keys, the text beside
    attributes or children as ``"#text"``, repeated child elements as an array; only elements,
    attributes and text are translated; invalid XML or input over 1 MB gives null. Element names
    are their local names (the Sysmon ``Event.EventData`` is read as
    ``parse_xml(EventData).DataItem.EventData.Data`` although ``EventData`` declares a
    namespace). Text stays text: the page's example shows numeric element text as JSON numbers,
    which ``tostring()`` gives back unchanged for the integers and hexadecimal masks Windows
    events hold (a decimal such as "1.0" would differ; no rule compares one)."""
    if not isinstance(v, str) or len(v.encode("utf-8")) > PARSE_XML_MAX:
        return None
    try:
        root = ET.fromstring(v)
    except ET.ParseError:
        return None
    return {_local(root.tag): _xml_value(root)}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_value(el: ET.Element) -> Any:
    # text is kept verbatim (a command line may end in a space); white space alone is no text
    text = el.text if el.text and el.text.strip() else ""
    children = list(el)
    if not el.attrib and not children:
        return text if text else None
    out: dict[str, Any] = {f"@{_local(k)}": val for k, val in el.attrib.items()}
    if text:
        out["#text"] = text
    for child in children:
        key, value = _local(child.tag), _xml_value(child)
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def isempty(v: Any) -> bool:
    """isempty(): true for null and for the empty string (documented table: `isempty("")`
    is true, `isempty("x")` false, `isempty(parse_json(""))` true).
    https://learn.microsoft.com/en-us/kusto/query/isempty-function"""
    return v is None or v == ""


def isnull(v: Any) -> bool:
    """isnull(): true only for null; a string is never null (`isnull("")` is false).
    https://learn.microsoft.com/en-us/kusto/query/isnull-function"""
    return v is None


def to_text(v: Any) -> str:
    """A string operator's operands convert to string first (string operators on dynamic or
    numbers). https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators"""
    return tostring(v)


_TERM = re.compile(r"[A-Za-z0-9]")


def has(haystack: Any, needle: Any, cs: bool = False) -> bool:
    """`has`: the needle is a whole term of the text. Terms are maximal runs of ASCII
    alphanumeric characters; a needle that itself spans punctuation must begin and end on term
    boundaries (`"North America" has "america"` is true, `has "amer"` is false).
    https://learn.microsoft.com/en-us/kusto/query/has-operator"""
    text, term = to_text(haystack), to_text(needle)
    if not cs:
        text, term = text.lower(), term.lower()
    if term == "":
        return True
    start = 0
    while True:
        i = text.find(term, start)
        if i < 0:
            return False
        j = i + len(term)
        left_ok = not _TERM.match(term[0]) or i == 0 or not _TERM.match(text[i - 1])
        right_ok = not _TERM.match(term[-1]) or j == len(text) or not _TERM.match(text[j])
        if left_ok and right_ok:
            return True
        start = i + 1


def contains(haystack: Any, needle: Any, cs: bool = False) -> bool:
    """`contains` (case-insensitive) / `contains_cs`.
    https://learn.microsoft.com/en-us/kusto/query/contains-operator"""
    a, b = to_text(haystack), to_text(needle)
    return b in a if cs else b.lower() in a.lower()


def startswith(haystack: Any, needle: Any, cs: bool = False) -> bool:
    """https://learn.microsoft.com/en-us/kusto/query/startswith-operator"""
    a, b = to_text(haystack), to_text(needle)
    return a.startswith(b) if cs else a.lower().startswith(b.lower())


def endswith(haystack: Any, needle: Any, cs: bool = False) -> bool:
    """https://learn.microsoft.com/en-us/kusto/query/endswith-operator"""
    a, b = to_text(haystack), to_text(needle)
    return a.endswith(b) if cs else a.lower().endswith(b.lower())


def equals_ci(a: Any, b: Any) -> bool:
    """`=~`: case-insensitive string equality.
    https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators"""
    return to_text(a).lower() == to_text(b).lower()


def equals(a: Any, b: Any) -> bool | None:
    """`==`: null compared with anything is null (false in a filter); strings compare
    case-sensitively; numbers by value; dynamic values by their JSON form.
    https://learn.microsoft.com/en-us/kusto/query/equals-operator"""
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        return to_text(a) == to_text(b)
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return tostring(a) == tostring(b)
    return bool(a == b)


def compare(a: Any, b: Any, op: str) -> bool | None:
    """<, <=, >, >= on numbers, datetimes, timespans and strings; null -> null.
    https://learn.microsoft.com/en-us/kusto/query/numerical-operators"""
    if a is None or b is None:
        return None
    if isinstance(a, str) and not isinstance(b, str):
        a = _num_or_none(a)
    if isinstance(b, str) and not isinstance(a, str):
        b = _num_or_none(b)
    if a is None or b is None:
        return None
    try:
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)
    except TypeError as exc:
        kinds = f"{type(a).__name__} and {type(b).__name__}"
        raise UnsupportedConstruct(f"comparison {op} between {kinds}") from exc


def sort_key(v: Any) -> tuple[int, Any]:
    """The order `sort` puts non-null values of one column in: numbers by value, datetimes and
    timespans by time, strings ordinally, dynamic values by their JSON text.
    https://learn.microsoft.com/en-us/kusto/query/sort-operator"""
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, datetime):
        return (1, v)
    if isinstance(v, timedelta):
        return (2, v)
    if isinstance(v, str):
        return (3, v)
    return (4, tostring(v))


def _num_or_none(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def matches_regex(text: Any, pattern: Any) -> bool:
    """`matches regex`: RE2 syntax, unanchored search; `(?i)` for case-insensitivity. Python's
    `re` agrees with RE2 on the constructs stormpack emits (classes, anchors, alternation,
    quantifiers, `(?i)`); a backreference or lookaround (RE2 has none) is rejected.
    https://learn.microsoft.com/en-us/kusto/query/matches-regex-operator"""
    p = to_text(pattern)
    if re.search(r"\(\?[=!<]|\\[1-9]", p):
        raise UnsupportedConstruct(f"regex construct outside RE2 in {p!r}")
    return re.search(p, to_text(text)) is not None


def bin_value(v: Any, size: Any) -> Any:
    """bin(): round down to a multiple of size; datetimes are binned from 0001-01-01 (the same
    grid as the Unix epoch for sizes dividing a day). https://learn.microsoft.com/en-us/kusto/query/bin-function"""
    if v is None or size is None:
        return None
    if isinstance(v, datetime) and isinstance(size, timedelta):
        origin = datetime(1, 1, 1, tzinfo=UTC)
        step = size // timedelta(microseconds=1)
        n = (v - origin) // timedelta(microseconds=1)
        return origin + timedelta(microseconds=(n // step) * step)
    if isinstance(v, timedelta) and isinstance(size, timedelta):
        return (v // size) * size
    if isinstance(v, (int, float)) and isinstance(size, (int, float)):
        return (v // size) * size
    raise UnsupportedConstruct(f"bin() of {type(v).__name__} by {type(size).__name__}")


def _ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(to_text(text).strip())
    except ValueError:
        return None


def ipv4_is_in_range(addr: Any, rng: Any) -> bool | None:
    """ipv4_is_in_range(): null when the address is not IPv4 text.
    https://learn.microsoft.com/en-us/kusto/query/ipv4-is-in-range-function"""
    a = _ip(addr)
    if not isinstance(a, ipaddress.IPv4Address):
        return None
    try:
        net = ipaddress.IPv4Network(to_text(rng), strict=False)
    except ValueError:
        return None
    return a in net


def ipv6_is_in_range(addr: Any, rng: Any) -> bool | None:
    """ipv6_is_in_range(): IPv4 addresses compare as their IPv4-mapped IPv6 form.
    https://learn.microsoft.com/en-us/kusto/query/ipv6-is-in-range-function"""
    a = _ip(addr)
    if a is None:
        return None
    a6 = a if isinstance(a, ipaddress.IPv6Address) else ipaddress.IPv6Address("::ffff:" + str(a))
    text = to_text(rng)
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv4Network):
        net = ipaddress.IPv6Network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
    return a6 in net


def ipv4_is_match(a: Any, b: Any, prefix: Any = None) -> bool | None:
    """ipv4_is_match(): equal after applying the prefix (from the text or the third argument).
    https://learn.microsoft.com/en-us/kusto/query/ipv4-is-match-function"""
    def net(t: Any) -> ipaddress.IPv4Network | None:
        try:
            n = ipaddress.IPv4Network(to_text(t).strip(), strict=False)
        except ValueError:
            return None
        if prefix is not None:
            n = ipaddress.IPv4Network(f"{n.network_address}/{min(n.prefixlen, int(prefix))}", strict=False)
        return n
    na, nb = net(a), net(b)
    if na is None or nb is None:
        return None
    p = min(na.prefixlen, nb.prefixlen)
    return na.supernet(new_prefix=p) == nb.supernet(new_prefix=p)


def to_datetime(v: Any) -> datetime | None:
    """todatetime(): ISO 8601 text (with or without Z) -> UTC datetime; else null.
    https://learn.microsoft.com/en-us/kusto/query/todatetime-function"""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        t = v.strip()
        if not t:
            return None
        m = re.fullmatch(r"(.*?\.\d{6})\d+(Z|[+-]\d\d:\d\d)?", t)
        if m:
            t = m.group(1) + (m.group(2) or "")
        try:
            d = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    return None


_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(d|h|m|s|ms|microsecond|tick|min|sec|day|hour|hours|days)$")


def timespan_literal(text: str) -> timedelta:
    """Timespan literals (`1h`, `10m`, `7d`, `30s`, `time(...)`).
    https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/timespan"""
    t = text.strip()
    m = re.fullmatch(r"time\((.*)\)", t)
    if m:
        t = m.group(1).strip()
    m2 = _SPAN.match(t)
    if not m2:
        raise UnsupportedConstruct(f"timespan literal {text!r}")
    n = float(m2.group(1))
    unit = m2.group(2)
    secs = {"d": 86400, "day": 86400, "days": 86400, "h": 3600, "hour": 3600, "hours": 3600,
            "m": 60, "min": 60, "s": 1, "sec": 1, "ms": 0.001, "microsecond": 1e-6, "tick": 1e-7}[unit]
    return timedelta(seconds=n * secs)
