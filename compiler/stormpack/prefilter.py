r"""An exact byte-level prefilter: decide most JSON Lines records without parsing them.

Every single-event rule of the engine (those that report and those that feed a correlation)
needs one of its *required literals* in the record's raw text (:mod:`stormpack.matcher.literals`
says why each is necessary). :class:`LinePrefilter` answers, for one raw line, "skip": the line
is a record that the full path (orjson, conversion, classification, every rule) would count as
evaluated with no hit and no correlation input. It says so only when all of this holds:

1. the line starts with ``{`` (one JSON object; a UTF-8 BOM, blank lines, arrays go the full way);
2. Hyperscan (ASCII case-insensitive, every literal) finds none of the required literals;
3. no ``\uXXXX`` escape stands for a character whose lower case is one that a literal or a
   key the prefilter relies on holds (``\u0041`` for ``A``) - a short escape (``\/``, ``\\``,
   ``\n``...) can only stand for a character no literal holds, so it cannot hide one;
4. no U+0130 / U+212A (whose lower case holds ``i`` / ``k``) is in the raw UTF-8 text; with
   *numeric* literals (an integer rule value), the line is ASCII, spells no digit or space as
   ``\uXXXX``, has no ``_`` between digits and no run of 16+ digits and dots (so ``int`` and
   ``float`` cannot read the number in a spelling that lacks its literal);
5. no more than ``MAX_DEPTH`` brackets (the reader's depth rule needs no walk);
6. simdjson accepts the line as JSON (everything it accepts from a line starting with ``{``
   orjson accepts too: property-tested; where they differ simdjson is the stricter, and the line
   then takes the full path, which reports it exactly as before);
7. the object has none of the top-level keys that make the reader unwrap it (``AuditData``,
   ``records``) or the hunt convert it (the export shapes' keys);
8. the taxonomy recognises its log source, exactly as the full path would (a key whose value
   decides that must occur once in the line, so simdjson's first-of-duplicates and orjson's
   last-of-duplicates cannot differ). An unrecognised record takes the full path, so the
   unrecognised counts and their explanation are unchanged.

Anything else takes the full path, so the verdicts, counts and rejections are those of a hunt
without the prefilter (``tests/test_prefilter.py`` checks this on generated and real records).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import hyperscan
import simdjson

from .readers.depth import MAX_DEPTH
from .taxonomy import Taxonomy

#: non-ASCII characters whose lower case holds an ASCII letter, as UTF-8 (U+0130, U+212A)
_FOLDS_TO_ASCII = tuple(chr(c).encode() for c in (0x130, 0x212A))
_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
#: numeric literals: spellings int()/float() read that may lack the literal (see the docstring)
_NUMERIC_GUARDS = (rb"[0-9]_[0-9]", rb"[0-9][0-9.]{15}")


def _hs_escape(data: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() and c < 0x80 else b"\\x%02x" % c for c in data)


class LinePrefilter:
    """See the module docstring. ``__call__(line)`` is True when the line can be skipped."""

    def __init__(self, literals: Iterable[str], numeric: bool, guard_keys: Iterable[str],
                 taxonomy: Taxonomy) -> None:
        self.literals = sorted(set(literals))
        if any(not x or not x.isascii() for x in self.literals):
            raise ValueError("required literals are non-empty ASCII text")
        self.numeric = numeric
        # top-level keys that must be absent (unwrap / convert) and keys whose values classify
        self.guard_keys = sorted(set(guard_keys) | {"AuditData", "records"})
        self._specs = list(taxonomy.logsources.values())
        valued = sorted({k for s in self._specs for part in ("equals", "one_of")
                         for k in s.recognise.get(part, {})})
        self._valued_tokens = [b'"' + k.encode() + b'"' for k in valued]
        # characters an escape must not stand for: those of the literals and of the keys relied on
        chars = set("".join(self.literals).lower())
        chars |= set("".join([*self.guard_keys, *valued]).lower())
        self._danger = frozenset(chars)
        patterns = [_hs_escape(x.encode()) for x in self.literals]
        flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(patterns)
        self._n_literals = len(patterns)
        self._guard_index = len(patterns)
        for k in self.guard_keys:
            patterns.append(_hs_escape(b'"' + k.encode() + b'"'))
            flags.append(hyperscan.HS_FLAG_SINGLEMATCH)
        if numeric:
            for g in _NUMERIC_GUARDS:
                patterns.append(g)
                flags.append(hyperscan.HS_FLAG_SINGLEMATCH)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(expressions=patterns, ids=list(range(len(patterns))),
                         elements=len(patterns), flags=flags)
        self._scratch = hyperscan.Scratch(self._db)
        self._parser = simdjson.Parser()
        self._found: list[int] = []
        self.skipped = 0

    def __getstate__(self) -> dict[str, Any]:  # pragma: no cover - workers are forked, not pickled
        raise TypeError("LinePrefilter is shared with forked workers, never pickled")

    def _on_match(self, pid: int, start: int, end: int, flags: int, ctx: object) -> bool:
        if pid < self._n_literals or pid >= self._guard_index + len(self.guard_keys):
            return True  # a literal (or a numeric guard): stop, the line takes the full path
        self._found.append(pid - self._guard_index)
        return False

    def _dangerous_escape(self, line: bytes) -> bool:
        danger = self._danger
        for m in _ESCAPE.finditer(line):
            c = chr(int(m.group(1), 16))
            low = c.lower()
            if any(x in danger for x in low) or low.isascii() and not c.isascii():
                return True
            if self.numeric and (c.isspace() or c.isdigit() or c.isnumeric()):
                return True
        return False

    def __call__(self, line: bytes) -> bool:
        if line[:1] != b"{":
            return False
        found = self._found
        found.clear()
        try:
            self._db.scan(line, match_event_handler=self._on_match, scratch=self._scratch)
        except hyperscan.ScanTerminated:
            return False
        if b"\\u" in line and self._dangerous_escape(line):
            return False
        if not line.isascii() and (self.numeric or any(b in line for b in _FOLDS_TO_ASCII)):
            return False
        if line.count(b"{") + line.count(b"[") > MAX_DEPTH:
            return False
        try:
            obj = self._parser.parse(line)
        except (ValueError, RuntimeError, UnicodeDecodeError):
            return False
        try:
            if obj.__class__ is not simdjson.Object:
                return False
            keys = self.guard_keys
            for i in found:
                if keys[i] in obj:
                    return False
            if not self._recognised(obj, line):
                return False
        finally:
            del obj
        self.skipped += 1
        return True

    def _recognised(self, obj: Mapping[str, Any], line: bytes) -> bool:
        for token in self._valued_tokens:
            if line.count(token) > 1:
                return False  # a duplicated key: let orjson (last value wins) decide
        return any(spec.recognises(obj) for spec in self._specs)


def for_engine(engine: Any, convert: Any) -> LinePrefilter | None:
    """The prefilter of a matcher engine, or None when some rule has no required literal, the
    conversion step does not name its trigger keys."""
    required = getattr(engine, "required_literals", None)
    if required is None:
        return None
    lits = required()
    if lits is None:
        return None
    guard: Iterable[str] = ()
    if convert is not None:
        trigger = getattr(convert, "trigger_keys", None)
        if trigger is None:
            return None
        guard = trigger()
    strings, numeric = lits
    return LinePrefilter(strings, numeric, guard, engine.taxonomy)
