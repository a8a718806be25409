"""Value predicates: one pySigma value (modifiers already applied) -> a test on one leaf value.

A leaf value is what :mod:`.fields` reads from a record: ``str``, ``int``, ``float``, ``bool``,
``None`` (JSON null), :data:`~.fields.MISSING`, or a ``dict`` (an object where a scalar was
expected, which matches nothing but ``exists``).

* Strings compare case-insensitively on the whole value (``|cased``: case-sensitively); ``*`` and
  ``?`` are wildcards, ``\\*``, ``\\?`` and ``\\\\`` are the literal characters (pySigma has already
  split the value into text and wildcard parts, so a literal ``*`` is text).
* A number or boolean in the record is compared through its text form (``4624`` -> ``"4624"``,
  ``true`` -> ``"true"``), so ``'4624'`` in a rule matches the number 4624.
* A number in a rule matches the same number, or a string holding it (``"4624"``, ``" 4624 "``).
* A boolean in a rule matches JSON ``true``/``false`` and the strings ``"true"``/``"false"`` in
  any case.
* ``|re``: unanchored search, case-sensitive unless ``|i``; ``|m`` and ``|s`` set the flags. RE2 is
  the engine (linear time; no look-around or back-references - such a rule is a MatcherError).
* ``|cidr``: address arithmetic on the normalised address (``taxonomy.normalise_ip``), v4 and v6.
* ``lt``/``lte``/``gt``/``gte``: numeric, on numbers and numeric strings.
* Fields of taxonomy type ``ip`` are normalised (port, brackets, ``::ffff:``) before any string
  comparison, exactly as the targets do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import re2
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from ..errors import MatcherError
from ..taxonomy import ip_in_network, normalise_ip

LeafPred = Callable[[Any], bool]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class ValueContext:
    """What compiling a value needs besides the value: rule name (for errors) and placeholders."""

    def __init__(self, rule_name: str, values: dict[str, list[str]]) -> None:
        self.rule_name = rule_name
        self.values = values

    def error(self, message: str) -> MatcherError:
        return MatcherError(f"rule '{self.rule_name}': {message}")

    def placeholder_strings(self, p: Placeholder) -> Iterator[SigmaString]:
        if p.name not in self.values:
            raise self.error(
                f"placeholder '%{p.name}%' has no value (define it in the values file or directory)"
            )
        for v in self.values[p.name]:
            yield SigmaString(v)

    def placeholder_regex(self, p: Placeholder) -> Iterator[str]:
        if p.name not in self.values:
            raise self.error(
                f"placeholder '%{p.name}%' has no value (define it in the values file or directory)"
            )
        for v in self.values[p.name]:
            yield re.escape(v)


class Regex:
    """An RE2 pattern. RE2 works on UTF-8, which a Python string holding a lone surrogate (JSON
    ``"\\ud800"`` read by a lenient parser) cannot be encoded to; such text is searched with each
    lone surrogate replaced by U+FFFD instead of failing the whole hunt."""

    __slots__ = ("_rx",)

    def __init__(self, rx: Any) -> None:
        self._rx = rx

    def search(self, text: str) -> Any:
        try:
            return self._rx.search(text)
        except UnicodeEncodeError:
            return self._rx.search(_scrub(text))

    def fullmatch(self, text: str) -> Any:
        try:
            return self._rx.fullmatch(text)
        except UnicodeEncodeError:
            return self._rx.fullmatch(_scrub(text))


def _scrub(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def compile_regex(pattern: str, ctx: ValueContext) -> Regex:
    """Compile with RE2; a pattern RE2 cannot run is the rule's error, never a silent miss."""
    try:
        return Regex(re2.compile(pattern, _RE2_OPTIONS))
    except re2.error as exc:
        msg = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ctx.error(f"regular expression {pattern!r} is not supported by RE2: {msg}") from None
    except UnicodeEncodeError:
        raise ctx.error(f"regular expression {pattern!r} holds a lone surrogate character") from None


# ---------------------------------------------------------------------------------- text form
def text_of(x: Any) -> str | None:
    """The text a scalar leaf compares as, or None for null / missing / objects."""
    c = x.__class__
    if c is str:
        return x  # type: ignore[no-any-return]
    if c is bool:
        return "true" if x else "false"
    if c is int or c is float:
        try:
            return str(x)
        except ValueError:  # an integer beyond Python's int-to-text digit limit matches no text
            return None
    return None


def ip_text_of(x: Any) -> str | None:
    t = text_of(x)
    return normalise_ip(t) if t is not None else None


def number_of(x: Any) -> int | float | None:
    c = x.__class__
    if c is int or c is float:
        return x  # type: ignore[no-any-return]
    if c is str:
        s = x.strip()
        try:
            return int(s)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            return None
        return f if f == f else None  # NaN compares as nothing
    return None


# ---------------------------------------------------------------------------------- strings
def plain_lower(value: Any) -> str | None:
    """The lower-cased text of a case-insensitive string value without wildcards, else None."""
    if isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString):
        parts = value.s
        if len(parts) == 1 and isinstance(parts[0], str):
            return parts[0].lower()
        if not parts:
            return ""
    return None


def _wildcard_regex(parts: list[Any]) -> str:
    out = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re.escape(p))
    return "(?s)" + "".join(out)


TextPred = Callable[[str], bool]
TextTestKind = Literal["eq", "in", "startswith", "endswith", "contains", "any", "call"]


@dataclass(frozen=True)
class TextTest:
    """One test on normalised text (lower-cased unless |cased; ip fields: normalised address).

    ``kind``: "eq" (t == arg), "in" (t in the set arg), "startswith", "endswith", "contains"
    (arg in t), "any" (always true) or "call" (arg(t), a wildcard pattern's RE2 full match).
    The code generator inlines the first six; :attr:`pred` is the same test as a function."""

    kind: TextTestKind
    arg: Any

    @property
    def pred(self) -> TextPred:
        k, a = self.kind, self.arg
        if k == "eq":
            return a.__eq__  # type: ignore[no-any-return]
        if k == "in":
            return a.__contains__  # type: ignore[no-any-return]
        if k == "startswith":
            return lambda t: t.startswith(a)
        if k == "endswith":
            return lambda t: t.endswith(a)
        if k == "contains":
            return lambda t: a in t
        if k == "any":
            return lambda t: True
        return a  # type: ignore[no-any-return]


def _text_test(s: SigmaString, ctx: ValueContext) -> TextTest:
    cased = isinstance(s, SigmaCasedString)
    parts: list[Any] = [p if not isinstance(p, str) or cased else p.lower() for p in s.s]
    if any(isinstance(p, Placeholder) for p in parts):  # pragma: no cover - expanded by caller
        raise ctx.error("unexpanded placeholder")
    multi = SpecialChars.WILDCARD_MULTI
    strs = [p for p in parts if isinstance(p, str)]
    shape = tuple("s" if isinstance(p, str) else ("*" if p is multi else "?") for p in parts)
    if shape in ((), ("s",)):
        return TextTest("eq", strs[0] if strs else "")
    if shape == ("*",):
        return TextTest("any", None)
    if shape == ("s", "*"):
        return TextTest("startswith", strs[0])
    if shape == ("*", "s"):
        return TextTest("endswith", strs[0])
    if shape == ("*", "s", "*"):
        return TextTest("contains", strs[0])
    full = compile_regex(_wildcard_regex(parts), ctx).fullmatch
    return TextTest("call", lambda t: full(t) is not None)


def _text_pred(s: SigmaString, ctx: ValueContext) -> TextPred:
    """A test on NORMALISED text (lower-cased unless |cased; ip fields: normalised address)."""
    return _text_test(s, ctx).pred


def concrete_values(value: Any, ctx: ValueContext) -> list[Any]:
    """The values one pySigma value stands for: placeholders expanded, expansions flattened."""
    if isinstance(value, SigmaExpansion):
        return [c for v in value.values for c in concrete_values(v, ctx)]
    expanded = expand_placeholders(value, ctx)
    if len(expanded) == 1 and expanded[0] is value:
        return [value]
    return [c for v in expanded for c in concrete_values(v, ctx)]


def lowered_text_tests(value: Any, ip: bool, ctx: ValueContext) -> list[TextTest] | None:
    """For case-insensitive string values (after expansion): the tests (OR) on lower-cased (and,
    for ip fields, normalised) text, so the engine can lower-case a field once per record. Plain
    values become one set lookup. None when some value is not a case-insensitive string."""
    values = concrete_values(value, ctx)
    if not all(isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString) for v in values):
        return None
    plain = [plain_lower(v) for v in values]
    if all(p is not None for p in plain):
        keys = frozenset(normalise_ip(p).lower() if ip else p for p in plain if p is not None)
        if len(keys) == 1:
            return [TextTest("eq", next(iter(keys)))]
        return [TextTest("in", keys)]
    return [_text_test(v, ctx) for v in values]


def any_text(tests: list[TextTest]) -> TextPred:
    """The OR of text tests as one function."""
    return _any_of([t.pred for t in tests])


def lowered_text_pred(value: Any, ip: bool, ctx: ValueContext) -> TextPred | None:
    """:func:`lowered_text_tests` as one function (None when not applicable)."""
    tests = lowered_text_tests(value, ip, ctx)
    return any_text(tests) if tests is not None else None


def _string_pred(s: SigmaString, ip: bool, ctx: ValueContext) -> LeafPred:
    cased = isinstance(s, SigmaCasedString)
    tp = _text_pred(s, ctx)
    if not ip and not cased:
        def pred(x: Any) -> bool:
            if x.__class__ is str:
                return tp(x.lower())
            t = text_of(x)
            return t is not None and tp(t.lower())
        return pred
    totext = ip_text_of if ip else text_of

    def pred_general(x: Any) -> bool:
        t = totext(x)
        if t is None:
            return False
        return tp(t if cased else t.lower())
    return pred_general


def _regex_pred(r: SigmaRegularExpression, ip: bool, ctx: ValueContext) -> LeafPred:
    flags = "".join(
        sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in r.flags)
    )
    pattern = str(r.regexp)
    rx = compile_regex(f"(?{flags}){pattern}" if flags else pattern, ctx)
    search = rx.search
    totext = ip_text_of if ip else text_of

    def pred(x: Any) -> bool:
        t = totext(x)
        return t is not None and search(t) is not None
    return pred


def _number_pred(n: int | float) -> LeafPred:
    def pred(x: Any) -> bool:
        if x.__class__ is bool:
            return False
        v = number_of(x)
        return v is not None and v == n
    return pred


def _bool_pred(b: bool) -> LeafPred:
    want = "true" if b else "false"

    def pred(x: Any) -> bool:
        if x.__class__ is bool:
            return x is b
        if x.__class__ is str:
            return x.strip().lower() == want
        return False
    return pred


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_pred(c: SigmaCompareExpression) -> LeafPred:
    op = _COMPARE[c.op]
    n = c.number.number

    def pred(x: Any) -> bool:
        if x.__class__ is bool:
            return False
        v = number_of(x)
        return v is not None and op(v, n)
    return pred


def _cidr_pred(c: SigmaCIDRExpression) -> LeafPred:
    net = c.network

    def pred(x: Any) -> bool:
        return x.__class__ is str and ip_in_network(x, net)
    return pred


_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda d: d.minute,
    TimestampPart.HOUR: lambda d: d.hour,
    TimestampPart.DAY: lambda d: d.day,
    TimestampPart.WEEK: lambda d: d.isocalendar().week,
    TimestampPart.MONTH: lambda d: d.month,
    TimestampPart.YEAR: lambda d: d.year,
}


def _timestamp_part_pred(t: SigmaTimestampPart) -> LeafPred:
    part = _PARTS[t.timestamp_part]
    n = t.number

    def pred(x: Any) -> bool:
        if x.__class__ is not str:
            return False
        try:
            d = datetime.fromisoformat(x.strip())
        except ValueError:
            return False
        return part(d) == n
    return pred


def _any_of(preds: list[LeafPred]) -> LeafPred:
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)

    def pred(x: Any) -> bool:
        for p in tup:  # noqa: SIM110 - a plain loop is faster than any() here
            if p(x):
                return True
        return False
    return pred


def expand_placeholders(value: Any, ctx: ValueContext) -> list[Any]:
    """Resolve ``|expand`` placeholders into the values they stand for (one value per entry)."""
    if isinstance(value, SigmaString) and value.contains_placeholder():
        return list(value.replace_placeholders(ctx.placeholder_strings))
    if isinstance(value, SigmaRegularExpression) and value.contains_placeholder():
        return list(value.replace_placeholders(ctx.placeholder_regex))
    return [value]


def compile_value(value: Any, *, ip: bool, ctx: ValueContext) -> LeafPred:
    """A test on one leaf value for one pySigma value (null/exists/fieldref are handled by the caller)."""
    if isinstance(value, SigmaExpansion):
        return _any_of([compile_value(v, ip=ip, ctx=ctx) for v in value.values])
    expanded = expand_placeholders(value, ctx)
    if len(expanded) != 1 or expanded[0] is not value:
        return _any_of([compile_value(v, ip=ip, ctx=ctx) for v in expanded])
    if isinstance(value, SigmaString):
        return _string_pred(value, ip, ctx)
    if isinstance(value, SigmaRegularExpression):
        return _regex_pred(value, ip, ctx)
    if isinstance(value, SigmaTimestampPart):
        return _timestamp_part_pred(value)
    if isinstance(value, SigmaNumber):
        return _number_pred(value.number)
    if isinstance(value, SigmaBool):
        return _bool_pred(value.boolean)
    if isinstance(value, SigmaCompareExpression):
        return _compare_pred(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_pred(value)
    raise ctx.error(f"value type {type(value).__name__} ({value!r}) is not supported by the matcher")


def keyword_value(value: Any, ctx: ValueContext) -> list[Any]:
    """Keyword (field-less) values are searched for INSIDE string values: wrap strings in ``*``."""
    out: list[Any] = []
    for v in expand_placeholders(value, ctx):
        if isinstance(v, SigmaExpansion):
            for sub in v.values:
                out.extend(keyword_value(sub, ctx))
            continue
        if isinstance(v, (SigmaNumber, SigmaBool)) and not isinstance(v, SigmaTimestampPart):
            v = SigmaString(str(v.number if isinstance(v, SigmaNumber) else v.boolean).lower())
        if isinstance(v, SigmaString):
            if not v.startswith(SpecialChars.WILDCARD_MULTI):
                v = SpecialChars.WILDCARD_MULTI + v
            if not v.endswith(SpecialChars.WILDCARD_MULTI):
                v = v + SpecialChars.WILDCARD_MULTI
        elif not isinstance(v, SigmaRegularExpression):
            raise ctx.error(f"keyword value {v!r} ({type(v).__name__}) cannot be searched for")
        out.append(v)
    return out
