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
   ``\uXXXX``, has no string of digits with ``_`` between them and no ``9999`` (so neither ``int`` nor
   ``float``, which rounds ``274.99999999999999`` to 275, can read the number from a spelling
   that lacks its literals);
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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import hyperscan
import simdjson

from .matcher.literals import NINES
from .readers.depth import MAX_DEPTH
from .taxonomy import LogsourceSpec, Taxonomy

#: non-ASCII characters whose lower case holds an ASCII letter, as UTF-8 (U+0130, U+212A)
_FOLDS_TO_ASCII = tuple(chr(c).encode() for c in (0x130, 0x212A))
_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
#: numeric literals: int()/float() read the string "2_75" as 275 (the other spellings are
#: literals): a ``_`` between digits inside a JSON string made only of what such a number may
#: hold (a superset: a backslash and the letters of whitespace escapes count as such characters)
_DIGIT_UNDERSCORE = rb"[0-9]_[0-9]"  # reported by the scan with the offset of its end
_NUMBERISH = frozenset(b" 0123456789_.eE+-\\tnrf")


def _number_with_underscore(line: bytes, end: int) -> bool:
    """Whether the digit-underscore-digit ending at ``end`` lies in such a string."""
    i, j = end - 3, end
    while i > 0 and line[i - 1] in _NUMBERISH:
        i -= 1
    while j < len(line) and line[j] in _NUMBERISH:
        j += 1
    return i > 0 and line[i - 1] == 0x22 and j < len(line) and line[j] == 0x22


def _hs_escape(data: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() and c < 0x80 else b"\\x%02x" % c for c in data)


#: the share of the sample the prefilter must skip to be used (below it, on a hit-heavy input,
#: scanning every line costs more than the few parses it saves; either way the verdicts are equal)
MIN_SKIP_SHARE = 0.25


def _database(patterns: list[bytes], flags: int) -> tuple[Any, Any]:
    """A Hyperscan block-mode database of ``patterns`` (ids = positions) and its scratch."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns),
               flags=flags)
    return db, hyperscan.Scratch(db)


class LinePrefilter:
    """See the module docstring. ``__call__(line)`` is True when the line can be skipped."""

    def __init__(self, literals: Iterable[str], numeric: bool, guard_keys: Iterable[str],
                 taxonomy: Taxonomy) -> None:
        lits = set(literals)
        if numeric:
            lits.add(NINES)
        self.literals = sorted(lits)
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
        # one scan: literals (caseless; the first stops it), then the guard keys (each reported
        # once), then the keys whose values classify (each occurrence reported: a duplicate key)
        patterns = [_hs_escape(x.encode()) for x in self.literals]
        flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(patterns)
        self._n_literals = len(patterns)
        patterns += [_hs_escape(b'"' + k.encode() + b'"') for k in self.guard_keys]
        flags += [hyperscan.HS_FLAG_SINGLEMATCH] * len(self.guard_keys)
        self._valued_index = len(patterns)
        patterns += [_hs_escape(t) for t in self._valued_tokens]
        flags += [0] * len(self._valued_tokens)
        self._escape_id = len(patterns)
        patterns.append(rb"\\u")
        flags.append(hyperscan.HS_FLAG_SINGLEMATCH)
        self._underscore_id = len(patterns)
        if numeric:
            patterns.append(_DIGIT_UNDERSCORE)
            flags.append(0)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(expressions=patterns, ids=list(range(len(patterns))),
                         elements=len(patterns), flags=flags)
        self._scratch = hyperscan.Scratch(self._db)
        self._recognisers = [_recogniser(spec) for spec in self._specs]
        self._parser = simdjson.Parser()
        self._found: list[int] = []
        self._ends: list[int] = []
        self.skipped = 0

    def __getstate__(self) -> dict[str, Any]:  # pragma: no cover - workers are forked, not pickled
        raise TypeError("LinePrefilter is shared with forked workers, never pickled")

    def _on_match(self, pid: int, start: int, end: int, flags: int, ctx: object) -> bool | None:
        if pid < self._n_literals:
            return True  # some literal: stop, the line takes the full path
        self._found.append(pid)
        if pid == self._underscore_id:
            self._ends.append(end)
        return None

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
        ends = self._ends
        ends.clear()
        try:
            self._db.scan(line, match_event_handler=self._on_match, scratch=self._scratch)
        except hyperscan.ScanTerminated:
            return False
        for end in ends:
            if _number_with_underscore(line, end):
                return False
        if self._escape_id in found and self._dangerous_escape(line):
            return False
        if not line.isascii() and (self.numeric or any(b in line for b in _FOLDS_TO_ASCII)):
            return False
        if line.count(b"{") + line.count(b"[") > MAX_DEPTH:
            return False
        guards: list[str] = []
        if found:
            valued = self._valued_index
            seen: set[int] = set()
            for pid in found:
                if pid >= self._escape_id:
                    continue
                if pid >= valued:
                    if pid in seen:
                        return False  # a duplicated key: orjson (last value wins) decides
                    seen.add(pid)
                else:
                    guards.append(self.guard_keys[pid - self._n_literals])
        try:
            obj = self._parser.parse(line)
        except (ValueError, RuntimeError, UnicodeDecodeError):
            return False
        try:
            if obj.__class__ is not simdjson.Object:
                return False
            for k in guards:
                if k in obj:
                    return False
            for recognises in self._recognisers:
                if recognises(obj, line):
                    break
            else:
                return False  # unrecognised: the full path counts and explains it
        finally:
            del obj
        self.skipped += 1
        return True


def _token(key: str) -> bytes:
    return b'"' + key.encode() + b'"'


def _recogniser(spec: LogsourceSpec) -> Callable[[Any, bytes], bool]:
    """``spec.recognises`` with its rule unpacked once (the same tests, in the same order) on
    simdjson's object; a key whose quoted name is nowhere in the line is absent (simdjson's
    lookup of a missing key costs microseconds, the byte test nanoseconds)."""
    rec = spec.recognise
    equals = tuple((_token(k), k, v) for k, v in rec.get("equals", {}).items())
    one_of = tuple((_token(k), k, a) for k, a in rec.get("one_of", {}).items())
    all_present = tuple((_token(k), k) for k in rec.get("all_present", ()))
    any_present = tuple((_token(k), k) for k in rec.get("any_present", ()))

    def recognises(record: Any, line: bytes) -> bool:
        for t, k, v in equals:
            if (record.get(k) if t in line else None) != v:
                return False
        for t, k, allowed in one_of:
            if (record.get(k) if t in line else None) not in allowed:
                return False
        for t, k in all_present:
            if t not in line or k not in record:
                return False
        if not any_present:
            return True
        for t, k in any_present:  # noqa: SIM110 - hot path
            if t in line and k in record:
                return True
        return False
    return recognises


def _cheapest(masks: list[int], others: int) -> int:
    """The index of the mask adding the fewest lines to ``others`` (the first on ties)."""
    best, cost = 0, -1
    for i, m in enumerate(masks):
        c = (others | m).bit_count()
        if cost < 0 or c < cost:
            best, cost = i, c
    return best


def choose_literals(alternatives: Sequence[Sequence[tuple[frozenset[str], bool]]],
                    sample: Sequence[bytes]) -> tuple[frozenset[str], bool]:
    """One literal set per rule, each the alternative that the fewest ``sample`` lines hold
    (every alternative is exact; this only decides how many lines take the full path), unioned.
    Without a sample: each rule's most selective alternative by length."""
    masks: dict[str, int] = {}
    if sample:
        lits = sorted({x for alts in alternatives for a in alts for x in a[0]} | {NINES})
        db, scratch = _database([_hs_escape(x.encode()) for x in lits],
                                hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)
        bits = [0] * len(lits)
        line_bit = [0]

        def on(pid: int, start: int, end: int, flags: int, ctx: object) -> None:
            bits[pid] |= line_bit[0]

        for n, line in enumerate(sample):
            line_bit[0] = 1 << n
            db.scan(line, match_event_handler=on, scratch=scratch)
        masks = dict(zip(lits, bits, strict=True))
        non_ascii = sum(1 << n for n, line in enumerate(sample) if not line.isascii())

    def mask(alt: tuple[frozenset[str], bool]) -> int:
        m = 0
        for x in alt[0]:
            m |= masks.get(x, 0)
        if alt[1]:
            m |= masks.get(NINES, 0) | non_ascii
        return m

    if not masks:
        chosen = [alts[0] for alts in alternatives]
    else:
        # the lines a choice costs are those no other rule's choice parses already: start from
        # each rule's cheapest alternative, then let each rule in turn pick the alternative that
        # adds fewest lines to the others' union (two rounds)
        alt_masks = [[mask(a) for a in alts] for alts in alternatives]
        pick = [_cheapest(ms, 0) for ms in alt_masks]
        for _ in range(2):
            for r, ms in enumerate(alt_masks):
                others = 0
                for q, i in enumerate(pick):
                    if q != r:
                        others |= alt_masks[q][i]
                pick[r] = _cheapest(ms, others)
        chosen = [alts[i] for alts, i in zip(alternatives, pick, strict=True)]
    out: set[str] = set()
    numeric = False
    for best in chosen:
        out |= best[0]
        numeric = numeric or best[1]
    return frozenset(out), numeric


def for_engine(engine: Any, convert: Any, sample: Sequence[bytes] = ()) -> LinePrefilter | None:
    """The prefilter of a matcher engine (literals chosen on ``sample``, the first lines of the
    input), or None when some rule has no required literal, the conversion step does not name
    its trigger keys, or it would skip less than :data:`MIN_SKIP_SHARE` of the sample."""
    alternatives = getattr(engine, "literal_alternatives", None)
    if alternatives is None:
        return None
    alts = alternatives()
    if alts is None:
        return None
    guard: Iterable[str] = ()
    if convert is not None:
        trigger = getattr(convert, "trigger_keys", None)
        if trigger is None:
            return None
        guard = trigger()
    strings, numeric = choose_literals(alts, sample)
    pf = LinePrefilter(strings, numeric, guard, engine.taxonomy)
    if sample and sum(map(pf, sample)) < MIN_SKIP_SHARE * len(sample):
        return None  # most lines hold a literal: scanning them would cost more than it saves
    pf.skipped = 0
    return pf
