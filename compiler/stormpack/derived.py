"""Derived fields (data/derived_fields.yml): a value computed per record from one of its fields
and a two-column tenant list, named where a correlation alias names a record field.

Two-column tenant list (docs/deploy.md section 7, values/organisation.yml): an ordinary values
list whose every item is ``"<key> <value>"``, two whitespace-separated tokens (GUIDs hold no
space). Keys compare case-insensitively; a key listed twice with different values is an error.

The matcher reads the key field's first value, lower-cased, and looks it up
(:func:`reader`); the KQL and SPL targets compute the same with a ``case()`` over the list
(:func:`kql_expression`, :func:`spl_expression`). A key missing from the list gives no value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import TaxonomyError, ValuesError
from .yamlio import load_yaml_text

_SOURCE = "stormpack/data/derived_fields.yml"


@dataclass(frozen=True)
class Derivation:
    """How one derived field is computed on one log source."""

    field: str  # the derived field's name (as a correlation alias writes it)
    logsource: str
    key: str  # taxonomy field whose first value is looked up
    pairs: str  # placeholder of the two-column tenant list
    kql: Mapping[str, str]  # KQL target -> expression of the key's first value
    spl: str | None  # SPL eval expression of the key's first value


@lru_cache(maxsize=1)
def derivations() -> Mapping[tuple[str, str], Derivation]:
    """(derived field, log source key) -> its derivation, from data/derived_fields.yml."""
    text = resources.files("stormpack").joinpath("data/derived_fields.yml").read_text(encoding="utf-8")
    data = load_yaml_text(text, _SOURCE)
    out: dict[tuple[str, str], Derivation] = {}
    for name, spec in (data or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("logsources"), dict):
            raise TaxonomyError(f"{_SOURCE}: {name} needs a mapping 'logsources'")
        for ls, d in spec["logsources"].items():
            if not isinstance(d, dict) or not {"key", "pairs"} <= set(d):
                raise TaxonomyError(f"{_SOURCE}: {name}.{ls} needs 'key' and 'pairs'")
            out[(str(name), str(ls))] = Derivation(
                field=str(name), logsource=str(ls), key=str(d["key"]), pairs=str(d["pairs"]),
                kql={str(k): str(v) for k, v in (d.get("kql") or {}).items()},
                spl=str(d["spl"]) if d.get("spl") else None,
            )
    return out


def is_derived(field: str) -> bool:
    return any(name == field for name, _ in derivations())


def lists_of(field: str) -> list[str]:
    """The two-column lists ``field`` reads (none when it is not derived)."""
    return sorted({d.pairs for (name, _), d in derivations().items() if name == field})


def derivation(field: str, logsource: str) -> Derivation | None:
    """The derivation of ``field`` on ``logsource``; None when ``field`` is not derived. A
    derived field used on a log source it has no derivation for is an error."""
    if not is_derived(field):
        return None
    d = derivations().get((field, logsource))
    if d is None:
        raise TaxonomyError(
            f"derived field {field} has no derivation for log source {logsource} ({_SOURCE})")
    return d


def parse_pairs(name: str, items: Sequence[str]) -> dict[str, str]:
    """A two-column tenant list -> {key (lower case): value}; bad items are ValuesErrors naming
    the list and the item."""
    out: dict[str, str] = {}
    for item in items:
        cols = str(item).split()
        if len(cols) != 2:
            raise ValuesError(
                f"two-column list '{name}': item {item!r} must be '<key> <value>' "
                "(two tokens separated by whitespace)")
        key, value = cols[0].lower(), cols[1]
        if out.get(key, value) != value:
            raise ValuesError(f"two-column list '{name}': key {cols[0]} has two values "
                              f"({out[key]}, {value})")
        out[key] = value
    return out


def pairs_of(d: Derivation, values: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The list's pairs. A values directory without the list maps nothing: no record gets the
    derived value, so the correlations keyed on it cannot pair (``stormpack baseline`` writes no
    such list: it comes from Microsoft Graph, not from the logs), and a deployable build turns
    them off like any unfilled tenant list (artifacts/lists.py)."""
    return parse_pairs(d.pairs, values.get(d.pairs, ()))


def unfilled(rules: Sequence[Any], values: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per correlation that groups by a derived field whose two-column list is missing
    or empty in ``values``: it cannot pair (``stormpack hunt`` says so instead of staying silent)."""
    out: list[str] = []
    for rule in rules:
        for alias in getattr(rule, "aliases", None) or ():
            for field in dict.fromkeys(alias.mapping.values()):
                for name in lists_of(field):
                    if not values.get(name):
                        out.append(f"correlation '{rule.title}' groups by {field}, but the values "
                                   f"have no list {name}: it cannot pair (docs/deploy.md, section 7)")
    return list(dict.fromkeys(out))


def reader(d: Derivation, key_reader: Callable[[Mapping[str, Any]], Any],
           values: Mapping[str, Sequence[str]]) -> Callable[[Mapping[str, Any]], Any]:
    """The matcher's reader: the key field's first string value, looked up (None if absent)."""
    table = pairs_of(d, values)

    def read(record: Mapping[str, Any]) -> Any:
        v = key_reader(record)
        while isinstance(v, list):
            v = v[0] if v else None
        return table.get(v.lower()) if isinstance(v, str) else None

    return read


def kql_steps(d: Derivation, target: str, alias: str, values: Mapping[str, Sequence[str]],
              quote: Callable[[str], str]) -> list[str]:
    """KQL ``extend`` steps defining ``alias``: the key's first value lower-cased, then
    ``case(<key> == "k1", "v1", ..., "")`` (case():
    https://learn.microsoft.com/en-us/kusto/query/case-function, tolower():
    https://learn.microsoft.com/en-us/kusto/query/tolower-function)."""
    key = d.kql.get(target)
    if key is None:
        raise TaxonomyError(f"derived field {d.field} has no KQL expression for target {target} "
                            f"on log source {d.logsource} ({_SOURCE})")
    table = pairs_of(d, values)
    arms = "".join(f"{alias}_key == {quote(k)}, {quote(v)}, " for k, v in sorted(table.items()))
    value = f"case({arms}{quote('')})" if table else quote("")
    return [f"extend {alias}_key = tolower({key})", f"extend {alias} = {value}"]


def spl_steps(d: Derivation, alias: str, values: Mapping[str, Sequence[str]],
              quote: Callable[[str], str]) -> list[str]:
    """SPL ``eval`` steps defining ``alias``: the key's first value lower-cased, then
    ``case(<key>=="k1", "v1", ...)``, null when no key matches (case():
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/ConditionalFunctions,
    lower(): .../TextFunctions, mvindex(): .../MultivalueEvalFunctions)."""
    if d.spl is None:
        raise TaxonomyError(f"derived field {d.field} has no SPL expression on log source "
                            f"{d.logsource} ({_SOURCE})")
    table = pairs_of(d, values)
    arms = ", ".join(f"{alias}_key=={quote(k)}, {quote(v)}" for k, v in sorted(table.items()))
    value = f"case({arms})" if table else "null()"
    return [f"eval {alias}_key=lower({d.spl})", f"eval {alias}={value}"]
