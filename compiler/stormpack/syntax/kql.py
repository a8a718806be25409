"""KQL (Kusto Query Language) spelling: the one place stormpack writes Kusto names, literals and
the recurring expressions, in the spirit of pySigma's backend class variables.

Documented behaviour relied on (a test encodes each, tests/test_syntax.py, with Microsoft's own
parser, tools/kqlcheck, and the KQL executor):

* string literals: ``"..."`` or ``'...'`` with backslash escapes ``\\\\``, ``\\"``, ``\\'``, ``\\n``,
  ``\\r``, ``\\t`` (https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/string); a raw
  line break ends a literal (Kusto.Language diagnostic KS001), so line breaks are escaped;
* identifiers: a name of letters, digits and ``_`` not starting with a digit is written bare,
  any other name as ``['name']``, a string literal in brackets
  (https://learn.microsoft.com/en-us/kusto/query/schema-entities/entity-names);
* timespan literals ``1d``, ``2h``, ``30m``, ``45s``
  (https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/timespan);
* ``tostring()`` of a missing value is ``""`` and strings are never null, so empty tests on
  strings are ``isempty()`` (https://learn.microsoft.com/en-us/kusto/query/isempty-function).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from .base import Step, ip_steps


@dataclass(frozen=True)
class KqlSyntax:
    """How KQL writes names, literals, operators and stormpack's recurring expressions."""

    name: ClassVar[str] = "kql"
    ident_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    #: words that match ``ident_pattern`` but that Microsoft's parser (Kusto.Language, the
    #: querycheck) refuses as a bare name, an alias or a ``.`` path step ("The name 'date' needs to
    #: be bracketed as ['date']"): the scalar type names
    #: (https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/) and the operator and
    #: query keywords found by asking the parser about a list of candidates (not every keyword
    #: Kusto has); tests/test_adx.py asks it again for every word here.
    keywords: ClassVar[frozenset[str]] = frozenset({
        "boolean", "byte", "char", "date", "datetime", "decimal", "double", "dynamic", "float", "int",
        "int8", "int16", "int32", "int64", "long", "real", "string", "time", "timespan", "uint",
        "uint8", "uint16", "uint32", "uint64", "ulong", "uniqueid", "and", "as", "asc", "between", "by",
        "contains", "contains_cs", "desc", "endswith", "false", "find", "first", "has", "has_cs", "in",
        "kind", "last", "like", "materialize", "notcontains", "of", "or", "print", "project", "sample",
        "search", "set", "startswith", "title", "to", "toscalar", "true", "union", "where"
    })
    str_quote: ClassVar[str] = '"'
    ident_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    #: characters escaped in every literal besides the quote (a raw line break ends a literal)
    escapes: ClassVar[Mapping[str, str]] = MappingProxyType({"\\": "\\\\", "\n": "\\n", "\r": "\\r"})

    # operators (https://learn.microsoft.com/en-us/kusto/query/datatypes-string-operators)
    eq_token: ClassVar[str] = "=="
    ieq_token: ClassVar[str] = "=~"
    contains_token: ClassVar[str] = "contains"
    has_token: ClassVar[str] = "has"
    has_any_token: ClassVar[str] = "has_any"
    in_i_token: ClassVar[str] = "in~"
    regex_token: ClassVar[str] = "matches regex"
    and_token: ClassVar[str] = "and"
    or_token: ClassVar[str] = "or"

    #: separator bracketing every element of a KQL array alias ("\nA\nB\n"): equality of any
    #: element is then `contains "\nvalue\n"` (case-insensitive), without a regex
    array_sep: ClassVar[str] = "\\n"
    timespan_units: ClassVar[tuple[tuple[str, int], ...]] = (("d", 86400), ("h", 3600), ("m", 60))
    #: address normalisation (taxonomy.normalise_ip): {source} trimmed, then alias {a} unwrapped
    ip_trim_template: ClassVar[str] = 'trim(@"\\s+", tostring({source}))'
    ip_unwrap_template: ClassVar[str] = (
        'case({a} startswith "[", extract(@"^\\[([^\\]]*)", 1, {a}), '
        'countof({a}, ":") == 1 and {a} contains ".", tostring(split({a}, ":")[0]), '
        '{a} startswith "::ffff:" and {a} contains ".", substring({a}, 7), {a})'
    )

    #: pySigma postprocessing template of the generated pipelines (pipeline_gen): the table, its
    #: filter, the alias steps and the condition. `stormpack_prelude` is set by stormpack's
    #: backend (exact steps for the fields the rule uses); plain pySigma falls back to the static
    #: steps of every alias that occurs in the query.
    pipeline_template: ClassVar[str] = (
        "{{ pipeline.state.query_table }}"
        "{% set ls = pipeline.state.stormpack_logsource %}"
        "{% if ls in pipeline.vars.stormpack_filters %}"
        "\n| where {{ pipeline.vars.stormpack_filters[ls] }}{% endif %}"
        "{% if pipeline.state.stormpack_prelude is defined %}{{ pipeline.state.stormpack_prelude }}"
        "{% else %}{% for alias, steps in pipeline.vars.stormpack_steps[ls].items() %}"
        "{% if alias in query %}{% for s in steps %}\n| {{ s }}{% endfor %}{% endif %}{% endfor %}{% endif %}"
        "\n| where {{ query }}"
    )
    #: a tenant list's membership test (pySigma QueryExpressionPlaceholderTransformation form:
    #: {field} the column, {id} the watchlist alias): case-insensitive, as Sigma compares strings
    list_expression: ClassVar[str] = "{field} in~ ((_GetWatchlist('{id}') | project SearchKey))"

    # ------------------------------------------------------------------ literals and names
    def is_ident(self, name: str) -> bool:
        return self.ident_pattern.fullmatch(name) is not None and name not in self.keywords

    def escape(self, value: str, quote: str = '"') -> str:
        """The body of a ``quote``-quoted string literal holding ``value``."""
        return "".join(self.escapes.get(c, "\\" + c if c == quote else c) for c in value)

    def string(self, value: str) -> str:
        """A double-quoted string literal."""
        return self.str_quote + self.escape(value, self.str_quote) + self.str_quote

    def string_raw(self, escaped_body: str) -> str:
        """A string literal from an already escaped body (keeps its ``\\n`` escapes)."""
        return self.str_quote + escaped_body + self.str_quote

    def escape_line_breaks(self, converted: str) -> str:
        """Escape raw line breaks in text whose line breaks only occur inside string literals
        (upstream pySigma output escapes only backslash and quote)."""
        return converted.replace("\n", self.escapes["\n"]).replace("\r", self.escapes["\r"])

    def ident(self, name: str) -> str:
        """A column name: bare when an identifier, ``['a.b']`` otherwise."""
        if self.is_ident(name):
            return name
        q = self.ident_quote
        return "[" + q + self.escape(name, q) + q + "]"

    def timespan(self, seconds: int) -> str:
        for unit, size in self.timespan_units:
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    # ------------------------------------------------------------------ expressions
    def extend(self, alias: str, expr: str) -> str:
        """The step defining ``alias`` (no leading pipe)."""
        return f"extend {alias} = {expr}"

    def define(self, alias: str, expr: str) -> str:
        """The step defining ``alias`` as ``expr`` (the same call on every syntax object)."""
        return self.extend(alias, expr)

    def path(self, root: str, dotted: str) -> str:
        """The value at ``dotted`` inside the dynamic column ``root``; a key that is not an
        identifier in brackets (``Record["cs-uri-stem"]``,
        https://learn.microsoft.com/en-us/kusto/query/scalar-data-types/dynamic)."""
        return root + "".join(f".{k}" if self.is_ident(k) else f"[{self.string(k)}]"
                              for k in dotted.split("."))

    def convert(self, type_: str, expr: str) -> str:
        """``expr`` converted to ``int`` or ``string``."""
        return f"{'toint' if type_ == 'int' else 'tostring'}({expr})"

    def is_empty(self, expr: str) -> str:
        return f"isempty({expr})"

    def is_not_empty(self, expr: str) -> str:
        return f"isnotempty({expr})"

    def is_null(self, expr: str) -> str:
        return f"isnull({expr})"

    def lower_text(self, expr: str) -> str:
        """The case-folded text of a value (group-by keys compare case-insensitively)."""
        return f"tolower(tostring({expr}))"

    def coalesce(self, exprs: Iterable[str]) -> str:
        """The first non-empty of ``exprs`` (one expression stays itself)."""
        items = list(exprs)
        return items[0] if len(items) == 1 else "coalesce(" + ", ".join(items) + ")"

    def ip_in_range(self, version: int, expr: str, network: str) -> str:
        fn = "ipv4_is_in_range" if version == 4 else "ipv6_is_in_range"
        return f"{fn}({expr}, {self.string(network)})"

    # ------------------------------------------------------------------ alias-defining steps
    def ip_steps(self, alias: str, source: str) -> tuple[Step, ...]:
        """Normalise an address exactly as taxonomy.normalise_ip does (see ip_normalisation)."""
        unwrapped = self.ip_unwrap_template.format(a=alias)
        return ip_steps(alias, self.define, self.ip_trim_template.format(source=source), unwrapped)

    def array_steps(self, alias: str, source: str, path: str) -> tuple[str, tuple[Step, ...]]:
        """mv-apply over a JSON array collecting `path` of every element; returns (list alias, steps).

        `path` is a dotted path inside one element; `A[].b` walks into a nested array A.
        """
        list_alias = alias + "_list"
        parts = path.split("[].") if path else [""]
        inner_var = "__e0"
        sub: list[str] = []
        for depth, part in enumerate(parts[:-1], start=1):
            nxt = f"__e{depth}"
            sub.append(f"mv-expand {nxt} = {inner_var}.{part}")
            inner_var = nxt
        leaf = parts[-1]
        value = f"tostring({inner_var}.{leaf})" if leaf else f"tostring({inner_var})"
        sub.append(f"summarize {list_alias} = make_list({value})")
        apply = f"mv-apply __e0 = {source} on ({' | '.join(sub)})"
        sep = self.string_raw(self.array_sep)
        join = self.extend(alias, f"strcat({sep}, strcat_array({list_alias}, {sep}), {sep})")
        return list_alias, (Step(f"array:{alias}:1", apply), Step(f"array:{alias}:2", join))

    def name_value_steps(
        self, alias: str, bag: str, source: str, name_key: str, value_key: str, element: str
    ) -> tuple[tuple[Step, ...], str]:
        """The value of the ``source`` element whose ``name_key`` is ``element`` (a bag of the
        name/value pairs, then a lookup); returns (steps, presence predicate)."""
        apply = Step(
            f"bag:{bag}",
            f"mv-apply __nv = {source} on (summarize {bag} = make_bag(bag_pack(tostring(__nv.{name_key}), "
            f"__nv.{value_key})))",
        )
        key = self.string(element)
        ext = Step(f"nv:{alias}", self.extend(alias, f"tostring({bag}[{key}])"))
        return (apply, ext), f"bag_has_key({bag}, {key})"

    # ------------------------------------------------------------------ correlation templates
    def group_key(self, name: str, source: str) -> str:
        """A correlation's projected group-by column: the case-folded text of ``source``."""
        return f"{self.ident(name)} = {self.lower_text(self.ident(source))}"


KQL = KqlSyntax()
