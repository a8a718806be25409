"""The whole term a record's raw text must contain when a field matches a Sigma value.

A prefilter ``Column has "x"`` (KQL) or a bare search term ``x`` (SPL) may only be added when every
record the rule matches passes it. Kusto's ``has`` is true when its right side is a whole term of
the text: terms are maximal runs of alphanumeric characters
(https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators); Splunk indexes the
segments between its breakers (segmenters.conf: major breakers such as space, ``;`` and ``,``;
minor breakers ``/ : = @ . - $ # % \\ _``). So a literal yields a needle only where its own
characters prove the term boundaries:

* a needle is made of ASCII letters and digits and the separators ``SEPARATORS`` (space ``. - :
  , ; = @``): characters no JSON serialiser escapes (``"``, ``\\``, ``/``, ``<``, ``>``, ``&``, ``'``,
  ``+`` and non-ASCII may be written as escapes such as ``\\u2013`` in a raw JSON column), that are
  term separators for Kusto and breakers for Splunk; ``_`` is not used as a boundary;
* each end of the needle is an alphanumeric character whose neighbour in the value is one of
  ``SEPARATORS``, or the edge of a value compared whole (equality; the start of ``startswith``,
  the end of ``endswith``): there the raw text has the column's own start or end, or JSON's quote;
* next to a wildcard the run of alphanumerics is cut off: the record may extend that term.

Values without such a needle give no prefilter (e.g. ``contains "Mail.Read"``: "Mail" and "Read"
may both be parts of longer terms).
"""

from __future__ import annotations

import re
from typing import Any

from sigma.types import SigmaNumber, SigmaString

SEPARATORS = " .-:,;=@"
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_RUN = re.compile(r"[A-Za-z0-9 .\-:,;=@]+")
_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _segments(value: Any) -> list[tuple[str, bool, bool]] | None:
    """Literal runs of a value with whether each is anchored at the value's start / end."""
    if isinstance(value, SigmaNumber):
        return [(str(value.number), True, True)]
    if not isinstance(value, SigmaString):
        return None
    parts = list(value.s)
    out: list[tuple[str, bool, bool]] = []
    buf = ""
    start = 0
    for i, p in enumerate(parts):
        if isinstance(p, str):
            if not buf:
                start = i
            buf += p
            continue
        if buf:
            out.append((buf, start == 0, False))
            buf = ""
    if buf:
        out.append((buf, start == 0, True))
    return out


def _needle_of_run(run: str, left_edge: bool, right_edge: bool) -> str:
    if not left_edge:
        run = run.lstrip(_ALNUM)
    run = run.lstrip(SEPARATORS)
    if not right_edge:
        run = run.rstrip(_ALNUM)
    return run.rstrip(SEPARATORS)


def needle(value: Any, *, anchored: bool = True, single_term: bool = False) -> str | None:
    """The longest text ``has`` (or one Splunk term, with ``single_term``) is sure to find in the
    raw text of a record whose field equals ``value`` (a Sigma pattern, case-insensitive).

    ``anchored`` False: the edges of the value are not term boundaries in the raw text (the
    compared value is computed, e.g. a normalised address read from JSON)."""
    segments = _segments(value)
    if not segments:
        return None
    best = ""
    for text, at_start, at_end in segments:
        for m in _RUN.finditer(text):
            left = m.start() == 0 and at_start and anchored
            right = m.end() == len(text) and at_end and anchored
            cand = _needle_of_run(m.group(0), left, right)
            if single_term:
                cand = max(_TOKEN.findall(cand), key=len, default="")
            if len(cand) > len(best):
                best = cand
    return best or None
