r"""Required literals: text that must occur in a record's raw JSON for a rule to be able to match.

For each single-event rule, :func:`required_literals` derives from the same condition tree the
matcher evaluates a set of lower-case ASCII strings such that **whenever the rule matches a
record, the record's raw JSON text, ASCII-lower-cased, contains at least one of them** (None: no
such set is known, every record must be evaluated). :mod:`stormpack.prefilter` uses the union over
the rules to decide most records without parsing them. Why each step is exact:

* AND: any operand's set is necessary; the most selective one is taken. OR: the union of the
  operands' sets (None if one operand has none). NOT, null, exists, field references, numbers,
  booleans, comparisons, timestamp parts and regular expressions give None.
* A string test (``eq``, ``startswith``, ``endswith``, ``contains``, a wildcard pattern) needs each
  of its text pieces inside the tested text, which is the lower-cased value (ip fields: the
  normalised address, a substring of the value; ``|cased``: the value itself, whose ASCII letters
  lower-case to the piece's). The longest piece is the literal.
* Only the part of a piece that survives any JSON spelling is kept: the piece is cut at every
  character a JSON escape other than ``\\uXXXX`` can produce (``"`` ``\\`` ``/`` and control
  characters) and at every non-ASCII character, and the longest ASCII run is the literal; so an
  escaped ``\\/`` or ``\\\\`` in the raw text can never hide it. ``\\uXXXX`` escapes and the two
  non-ASCII characters whose lower case holds ASCII letters (U+0130, U+212A) are the prefilter's
  to rule out (it parses such records).
* A non-string leaf is compared through its text: an integer's JSON text is exactly ``str(int)``
  and ``true``/``false`` are spelled as the matcher writes them, but a float's text (``1E2`` ->
  ``100.0``) is not its JSON spelling, so a literal that could be part of a float's text
  (:func:`could_be_float_text`) gives None.
* An integer rule value ``0 < |n| < 10**7`` matches a JSON number or a numeric string equal to
  it (``int()`` or ``float()`` of the stripped text). Every such spelling in ASCII without
  ``_`` between digits either holds the significant digits of ``n`` (trailing zeros dropped),
  possibly with one ``.`` inside them (``2.75e2``, ``27.5e1``), right after one of
  ``":[, \t\n\r+-.0`` or the letter of a ``\t``/``\n``/``\r``/``\f`` escape, or it is a
  value just below ``n`` that ``float`` rounds up, whose digits then hold at least eight 9s in a
  row (below ``n`` by less than ``n * 2**-53 < 1.2e-9``, i.e. ``(n-1).99999999...``), four of
  them side by side even where the spelling puts its one ``.`` among them. So those strings and
  :data:`NINES` are its literals and the rule is marked *numeric*: the prefilter then also parses
  every record that is not ASCII, spells a digit or a space as ``\uXXXX`` or has ``_`` between
  digits. Other integers (0, large ones) give None.
* ``|cidr`` on IPv4 (prefix length >= 8): an address inside the network is written as a
  dotted quad without leading zeros (Python's ``ipaddress``, which the matcher uses), so its text
  holds the network's fixed leading octets followed by a dot; a partial octet expands into its
  few possible values. IPv6 networks give None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaCIDRExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaString,
    SigmaTimestampPart,
)

from .conditions import ConditionCompiler, Node
from .values import ValueContext, concrete_values, keyword_value

#: (literals, numeric) - numeric: some literal stands for an integer (see the module docstring)
Literals = tuple[frozenset[str], bool] | None

#: characters a JSON escape other than \\uXXXX can stand for, and a float's text alphabet
_ESCAPE_PRODUCED = frozenset('"\\/') | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}
_FLOAT_TEXT = frozenset("0123456789.e+-infa")
#: what may stand right before the significant digits of a number equal to a rule's integer
NUMBER_CONTEXT = '":[, \t\n\r+-.0tnrf'
#: at most this many alternatives from one |cidr (a /31 gives 2, a /17 or a /25 gives 128)
_MAX_CIDR_ALTERNATIVES = 256


def safe_piece(text: str) -> str:
    """The longest run of ``text`` made of ASCII characters no short JSON escape produces."""
    best = ""
    run: list[str] = []
    for ch in text + "\x00":
        if ch in _ESCAPE_PRODUCED or not ch.isascii():
            if len(run) > len(best):
                best = "".join(run)
            run = []
        else:
            run.append(ch)
    return best


def could_be_float_text(text: str) -> bool:
    """Whether ``text`` may be part of ``str(x)`` for a float x (``-1.5e+16``, ``inf``, ``nan``)."""
    if not set(text) <= _FLOAT_TEXT:
        return False
    if any(c in text for c in "ifna"):
        return True  # part of inf / nan (or nonsense): keep the conservative answer
    if text.count(".") > 1 or text.count("e") > 1:
        return False
    for i, c in enumerate(text):
        if c in "+-" and i > 0 and text[i - 1] != "e":
            return False
        if c == "." and "e" in text[:i]:
            return False
    return True


def _string_literal(s: SigmaString) -> str | None:
    """The literal of one string value (None: none usable)."""
    pieces = [p.lower() for p in s.s if isinstance(p, str)]
    best = max((safe_piece(p) for p in pieces), key=len, default="")
    if not best or could_be_float_text(best):
        return None
    return best


#: the digits of a value just below a (small) integer that float() rounds up to it
NINES = "9999"
_MAX_NUMBER = 10**7


def number_literals(n: int) -> frozenset[str] | None:
    """The literals of an integer rule value (see the module docstring); the prefilter adds
    :data:`NINES` for rules marked numeric."""
    if not 0 < abs(n) < _MAX_NUMBER:
        return None
    digits = str(abs(n)).rstrip("0") or "0"
    forms = {digits} | {digits[:i] + "." + digits[i:] for i in range(1, len(digits))}
    return frozenset(c + f for c in NUMBER_CONTEXT for f in forms)


def cidr_literals(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> frozenset[str] | None:
    """The text every IPv4 address of ``network`` holds (one of), or None."""
    if network.version != 4 or network.prefixlen < 8:
        return None
    octets = [int(o) for o in str(network.network_address).split(".")]
    full, rest = divmod(network.prefixlen, 8)
    if full == 4:
        return frozenset({".".join(map(str, octets))})
    fixed = ".".join(map(str, octets[:full]))
    if rest == 0:
        return frozenset({fixed + "."})
    count = 1 << (8 - rest)
    if count > _MAX_CIDR_ALTERNATIVES:  # pragma: no cover - rest >= 1 gives at most 128
        return None
    tail = "." if full + 1 < 4 else ""
    return frozenset(f"{fixed}.{octets[full] + i}{tail}" for i in range(count))


def value_literals(value: Any, ctx: ValueContext) -> Literals:
    """The literals one field=value leaf needs (placeholders and expansions: the union)."""
    out: set[str] = set()
    numeric = False
    for v in concrete_values(value, ctx):
        if isinstance(v, SigmaString):
            lit = _string_literal(v)
            if lit is None:
                return None
            out.add(lit)
        elif isinstance(v, SigmaCIDRExpression):
            lits = cidr_literals(v.network)
            if lits is None:
                return None
            out |= lits
        elif (isinstance(v, SigmaNumber) and not isinstance(v, SigmaTimestampPart)
              and isinstance(v.number, int) and not isinstance(v.number, bool)):
            lits = number_literals(v.number)
            if lits is None:
                return None
            out |= lits
            numeric = True
        else:
            return None
    return frozenset(out), numeric


def _score(lits: tuple[frozenset[str], bool]) -> tuple[int, int, int]:
    """Higher is more selective: the shortest literal longer, then fewer literals, then not
    numeric (no extra guards)."""
    strings, numeric = lits
    if not strings:
        return (1 << 30, 0, 0)  # the operand can never match: nothing is needed at all
    return (min(len(x) for x in strings), -len(strings), 0 if numeric else 1)


def _union(parts: Iterable[Literals]) -> Literals:
    out: set[str] = set()
    numeric = False
    for p in parts:
        if p is None:
            return None
        out |= p[0]
        numeric = numeric or p[1]
    return frozenset(out), numeric


#: alternatives kept per rule (the most selective ones by :func:`_score`)
MAX_ALTERNATIVES = 8
Alternatives = list[tuple[frozenset[str], bool]]


def _best(alts: Alternatives) -> Alternatives:
    out: Alternatives = []
    for a in sorted(alts, key=_score, reverse=True):
        if a not in out:
            out.append(a)
    return out[:MAX_ALTERNATIVES]


def node_alternatives(cc: ConditionCompiler, node: Node) -> Alternatives:
    """Literal sets each of which ``node`` needs (any one is a valid prefilter; the hunt picks
    the one its input meets least); empty: none known. AND: every operand's alternatives; OR:
    the union of each operand's most selective one."""
    if isinstance(node, ConditionAND):
        return _best([a for arg in node.args for a in node_alternatives(cc, arg)])
    if isinstance(node, ConditionOR):
        return _or([node_alternatives(cc, a) for a in node.args])
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if isinstance(node.value, (SigmaNull, SigmaExists, SigmaFieldReference)):
            return []
        lits = value_literals(node.value, cc.ctx)
        return [] if lits is None else [lits]
    if isinstance(node, ConditionValueExpression):
        got = _union(value_literals(v, cc.ctx) for v in keyword_value(node.value, cc.ctx))
        return [] if got is None else [got]
    return []  # NOT, and anything else


def _or(parts: list[Alternatives]) -> Alternatives:
    if any(not p for p in parts):
        return []
    got = _union(p[0] for p in parts)
    return [] if got is None else [got]


def required_literals(cc: ConditionCompiler, trees: list[Node]) -> Alternatives:
    """The literal sets a rule (the OR of its condition trees) needs, most selective first;
    empty: the rule can match a record holding none (every record must be evaluated)."""
    if len(trees) == 1:
        return node_alternatives(cc, trees[0])
    return _or([node_alternatives(cc, t) for t in trees])
