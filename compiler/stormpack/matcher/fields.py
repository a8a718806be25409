"""Field access: turn a rule's field name into a function that reads it from a JSON record.

Semantics (shared by every predicate of the matcher):

* A dotted name addresses nested objects (``AppAccessContext.UniqueTokenId``); when a key with
  the literal dotted name exists at some level it is used as well.
* A JSON array anywhere on the path means "any element": the reader returns every leaf it reaches.
  A leaf that is itself an array contributes its elements; an empty array contributes nothing.
* Name/value fields (taxonomy ``name_value_arrays``, declared as ``<root>.*`` fields of the log
  source): ``Parameters.ForwardTo`` is the ``Value`` of every element of ``Parameters`` whose
  ``Name`` is exactly ``ForwardTo`` (the rest after the root is the name verbatim, dots included).
* A missing field reads as :data:`MISSING`; JSON null reads as ``None``. ``null`` in a rule
  matches either; ``exists`` tests for a leaf that is neither.

A reader returns either one leaf value (the common, allocation-free case of a top-level scalar)
or a ``list`` of leaf values; :func:`leaves` normalises both into an iterable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from ..taxonomy import LogsourceSpec, NameValueRoot, Taxonomy, normalise_ip


class _Missing:
    """Sentinel for a field that is not in the record."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Reader = Callable[[Any], Any]
"""record -> one leaf value, MISSING, or a list of leaf values (possibly containing MISSING)."""


class Generation:
    """A counter the engine bumps before each record; memos are valid for one generation."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def _flatten_into(value: list[Any], out: list[Any]) -> None:
    """Append the non-list leaves of a (nested) list in order; iterative, so nesting depth is no
    limit (a hostile record cannot exhaust the Python stack)."""
    stack = [iter(value)]
    while stack:
        for v in stack[-1]:
            if v.__class__ is list:
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()


def leaves(value: Any) -> list[Any]:
    """The leaf values a reader produced, as a list; an empty array reads as [MISSING]."""
    if value.__class__ is list:
        out: list[Any] = []
        _flatten_into(value, out)
        return out if out else [MISSING]
    return [value]


def _walk(obj: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> None:
    """Collect the leaves of ``parts[i:]`` under ``obj`` in document order (arrays fan out);
    iterative, so nesting depth is no limit."""
    stack: list[tuple[Any, int]] = [(obj, i)]
    n = len(parts)
    while stack:
        obj, i = stack.pop()
        while True:
            if obj.__class__ is list:
                if not obj:
                    out.append(MISSING)
                stack.extend((el, i) for el in reversed(obj))
                break
            if i == n:
                out.append(obj)
                break
            if not isinstance(obj, dict):
                out.append(MISSING)
                break
            key = parts[i]
            if key in obj:
                obj = obj[key]
                i += 1
                continue
            literal = ".".join(parts[i:])
            if i + 1 < n and literal in obj:
                obj = obj[literal]
                i = n
                continue
            out.append(MISSING)
            break


def _top_level_reader(name: str) -> Reader:
    def read(record: Any) -> Any:
        return record.get(name, MISSING)

    return read


def _nested_reader(name: str) -> Reader:
    parts = tuple(name.split("."))
    first = parts[0]

    def read(record: Any) -> Any:
        if name in record:  # a flattened record keeps the dotted key as is
            return record[name]
        obj = record.get(first, MISSING)
        if obj is MISSING:
            return MISSING
        out: list[Any] = []
        _walk(obj, parts, 1, out)
        if len(out) == 1 and out[0].__class__ is not list:
            return out[0]
        return out

    return read


def _name_value_reader(root: NameValueRoot, element_name: str) -> Reader:
    array, name_key, value_key = root.array, root.name, root.value

    def read(record: Any) -> Any:
        arr = record.get(array, MISSING)
        if arr.__class__ is not list:
            return MISSING
        found: list[Any] = []
        for el in arr:
            if isinstance(el, dict) and el.get(name_key) == element_name:
                found.append(el.get(value_key, MISSING))
        if not found:
            return MISSING
        return found[0] if len(found) == 1 and found[0].__class__ is not list else found

    return read


class NameValueMemo:
    """Per-record index of one name/value array: element name -> its values, built once per
    record (and :class:`Generation`) however many rules read names of that array."""

    __slots__ = ("array", "name_key", "value_key", "gen", "_n", "_index")

    def __init__(self, root: NameValueRoot, gen: Generation) -> None:
        self.array, self.name_key, self.value_key = root.array, root.name, root.value
        self.gen = gen
        self._n = -1
        self._index: dict[Any, list[Any]] = {}

    def get(self, record: Any) -> dict[Any, list[Any]]:
        n = self.gen.n
        if self._n == n:
            return self._index
        index: dict[Any, list[Any]] = {}
        arr = record.get(self.array, MISSING)
        if arr.__class__ is list:
            name_key, value_key = self.name_key, self.value_key
            for el in arr:
                if el.__class__ is dict:
                    name = el.get(name_key)
                    if name.__class__ is str:
                        found = index.get(name)
                        if found is None:
                            index[name] = [el.get(value_key, MISSING)]
                        else:
                            found.append(el.get(value_key, MISSING))
        self._n = n
        self._index = index
        return index


def _memo_name_value_reader(memo: NameValueMemo, element_name: str) -> Reader:
    gen = memo.gen

    def read(record: Any) -> Any:
        # the memo's own check, inlined: most reads of a record find the index already built
        found = (memo._index if memo._n == gen.n else memo.get(record)).get(element_name)
        if found is None:
            return MISSING
        return found[0] if len(found) == 1 and found[0].__class__ is not list else found

    return read


def make_reader(
    field: str, spec: LogsourceSpec | None, taxonomy: Taxonomy,
    memos: dict[str, NameValueMemo] | None = None, gen: Generation | None = None,
) -> Reader:
    """The reader of ``field`` for records of the log source ``spec``. With ``memos`` and ``gen``
    name/value arrays are indexed once per record (the engine bumps ``gen`` per record)."""
    if spec is not None:
        fspec = spec.field(field)
        if fspec is not None and fspec.is_pattern and fspec.name_value is not None:
            split = taxonomy.name_value_root(field)
            if split is not None:
                root, rest = split
                if memos is not None and gen is not None:
                    memo = memos.get(root.root)
                    if memo is None:
                        memo = memos[root.root] = NameValueMemo(root, gen)
                    return _memo_name_value_reader(memo, rest)
                return _name_value_reader(root, rest)
    if "." in field:
        return _nested_reader(field)
    return _top_level_reader(field)


def scalar_text(value: Any) -> str | None:
    """The string form keyword search reads a scalar through (Sigma spec: values are searched as
    text): strings as they are, JSON numbers as JSON writes them, booleans as ``true``/``false``
    (the comparison is case-insensitive, so ``True`` matches too); ``null`` has no text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return None


def iter_strings(value: Any) -> Iterator[str]:
    """Every scalar value inside a record as text, in document order (keyword search): strings,
    and numbers and booleans through :func:`scalar_text`; keys are not searched. Iterative, so
    nesting depth is no limit."""
    if not isinstance(value, (dict, list)):
        text = scalar_text(value)
        if text is not None:
            yield text
        return
    stack: list[Iterator[Any]] = [iter(value.values() if isinstance(value, dict) else value)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, dict):
                stack.append(iter(v.values()))
                break
            if isinstance(v, list):
                stack.append(iter(v))
                break
            text = scalar_text(v)
            if text is not None:
                yield text
        else:
            stack.pop()


class LoweredField:
    """Per-record memo of one top-level field's text, lower-cased (ip fields: normalised too).

    Many rules compare the same field (``Operation``, ``ClientIP``...); this lower-cases it once
    per record. ``get`` returns the lowered text for a string value and the raw value otherwise
    (MISSING, None, a number, a list...). The memo holds for one :class:`Generation`: the engine
    bumps it before every record, so a record mutated in place is never judged on stale text.
    Not thread-safe: use one engine per thread or process.
    """

    __slots__ = ("name", "ip", "gen", "_n", "_key")

    def __init__(self, name: str, ip: bool, gen: Generation) -> None:
        self.name = name
        self.ip = ip
        self.gen = gen
        self._n = -1
        self._key: Any = None

    def get(self, record: Any) -> Any:
        n = self.gen.n
        if self._n == n:
            return self._key
        v = record.get(self.name, MISSING)
        if v.__class__ is str:
            v = normalise_ip(v).lower() if self.ip else v.lower()
        self._n = n
        self._key = v
        return v
