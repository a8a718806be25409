"""SPL (Splunk Search Processing Language) spelling: the one place stormpack writes Splunk field
names, string literals and the recurring eval expressions.

Documented behaviour relied on (tests/test_syntax.py checks each with the SPL lint,
:mod:`stormpack.querycheck.spl`, and the SPL executor):

* double-quoted strings: ``\\"`` is a literal quote and ``\\\\`` a literal backslash
  (https://docs.splunk.com/Documentation/Splunk/latest/Search/Backslashes,
  https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Search "Quotes and
  escaping characters");
* in eval expressions (``eval``, ``where``) a field name that is not letters, digits and ``_``
  (not starting with a digit) is written in single quotes; a double-quoted token is a string
  (https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval). Splunk documents
  no escape for a single quote inside such a name, and quotes a pipe only in double quotes
  (https://docs.splunk.com/Documentation/Splunk/latest/Search/SPLandregularexpressions), so a
  name holding either, or ending in a backslash, is refused
  (:class:`~stormpack.errors.UnspellableError`);
* in command field lists (``table``, ``stats ... by``, ``dedup``, ``rename``) a name with other
  characters is double-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from ..errors import UnspellableError
from .base import Step, ip_steps


@dataclass(frozen=True)
class SplSyntax:
    """How SPL writes field names, literals and stormpack's recurring expressions."""

    name: ClassVar[str] = "spl"
    str_quote: ClassVar[str] = '"'
    field_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    #: a field read or assigned in an eval expression without quotes
    eval_field_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z_]\w*")
    #: a field in a command's field list without quotes (JSON paths: ``Parameters{}.Name``)
    list_field_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[\w.{}]+")
    #: a plain word (rename targets and first-seen output names are quoted unless one)
    word_pattern: ClassVar[re.Pattern[str]] = re.compile(r"\w+")

    #: address normalisation (taxonomy.normalise_ip): {source} trimmed, then alias {a} unwrapped
    ip_trim_template: ClassVar[str] = "trim({source})"
    ip_unwrap_template: ClassVar[str] = (
        'case(like({a}, "[%"), replace({a}, "^[[]([^]]*).*$", "\\1"), '
        'mvcount(split({a}, ":"))==2 AND like({a}, "%.%"), mvindex(split({a}, ":"), 0), '
        'like(lower({a}), "::ffff:%") AND like({a}, "%.%"), substr({a}, 8), true(), {a})'
    )

    #: a tenant list's membership test ({field}, {id} the lookup, {column} its value column): a
    #: subsearch yielding (field="v1") OR (field="v2") ...: search-time matching, so
    #: case-insensitive, wildcard- and CIDR-aware like the inlined values
    list_expression: ClassVar[str] = "[| inputlookup {id} | rename {column} AS {field} | fields {field}]"
    #: pySigma postprocessing template of the generated pipelines (pipeline_gen): the base
    #: search (or the data-source macro), the alias evals and the condition
    pipeline_template: ClassVar[str] = (
        "{% set ls = pipeline.state.stormpack_logsource %}"
        "{% set src = pipeline.vars.stormpack_sources[ls] %}"
        "{% if pipeline.vars.use_macros %}`{{ src.macro }}`"
        '{% elif src.search %}index="{{ pipeline.vars.index }}" {{ src.search }}'
        '{% else %}index="{{ pipeline.vars.index }}" sourcetype="{{ src.sourcetype }}"'
        '{% if src.category %} category="{{ src.category }}"{% endif %}{% endif %}'
        "{% if pipeline.state.stormpack_prelude is defined %}"
        "{% set prelude = pipeline.state.stormpack_prelude %}"
        "{% else %}{% set ns = namespace(p='') %}"
        "{% for alias, steps in pipeline.vars.stormpack_steps[ls].items() %}"
        "{% if alias in query %}{% for s in steps %}{% set ns.p = ns.p ~ '\n| ' ~ s %}{% endfor %}{% endif %}"
        "{% endfor %}{% set prelude = ns.p %}{% endif %}"
        "{{ prelude }}"
        "{% if query.startswith('\n|') %}{{ query }}"
        "{% elif prelude %}\n| search {{ query }}"
        "{% else %} {{ query }}{% endif %}"
    )

    and_token: ClassVar[str] = "AND"
    or_token: ClassVar[str] = "OR"

    # ------------------------------------------------------------------ literals and names
    def escape(self, value: str) -> str:
        """The body of a double-quoted string holding ``value``."""
        return value.replace("\\", "\\\\").replace('"', '\\"')

    def string(self, value: str) -> str:
        """A double-quoted string (eval literal, search value, quoted field name)."""
        return self.str_quote + self.escape(value) + self.str_quote

    def eval_ref(self, name: str) -> str:
        """A field read in an eval expression (``eval``, ``where``; also assigned, in first-seen
        searches): bare when a plain name, else single-quoted."""
        if self.eval_field_pattern.fullmatch(name):
            return name
        if self.field_quote in name or "|" in name or name.endswith(self.escape_char):
            raise UnspellableError(
                f"SPL cannot write field name {name!r} in an eval expression: Splunk documents no "
                "escape for a single quote inside a quoted field name, quotes a pipe only in double "
                "quotes, and reads a trailing backslash as escaping the closing quote")
        return self.field_quote + name + self.field_quote

    def eval_name(self, name: str) -> str:
        """A field assigned by eval in a correlation: bare when a plain name, else double-quoted
        (as the compiled searches have always written it; the first-seen searches use
        :meth:`eval_ref`, single quotes)."""
        return name if self.eval_field_pattern.fullmatch(name) else self.string(name)

    def field(self, name: str) -> str:
        """A field in a command's field list (``table``, ``stats ... by``, ``dedup``)."""
        return name if self.list_field_pattern.fullmatch(name) else self.string(name)

    def word_field(self, name: str) -> str:
        """A field name double-quoted unless a plain word (``rename``, first-seen output)."""
        return name if self.word_pattern.fullmatch(name) else self.string(name)

    def term(self, field: str, value: str) -> str:
        """A search term (or eval comparison) ``field="value"``."""
        return f"{field}={self.string(value)}"

    # ------------------------------------------------------------------ expressions
    def eval(self, alias: str, expr: str) -> str:
        """The step defining ``alias`` (no leading pipe)."""
        return f"eval {alias}={expr}"

    def define(self, alias: str, expr: str) -> str:
        """The step defining ``alias`` as ``expr`` (the same call on every syntax object)."""
        return self.eval(alias, expr)

    def coalesce(self, exprs: Iterable[str]) -> str:
        """The first non-null of ``exprs`` (one expression stays itself)."""
        items = list(exprs)
        return items[0] if len(items) == 1 else f"coalesce({', '.join(items)})"

    def lower(self, expr: str) -> str:
        return f"lower({expr})"

    def is_not_empty(self, expr: str) -> str:
        return f'isnotnull({expr}) AND {expr}!=""'

    def ip_steps(self, alias: str, source: str) -> tuple[Step, ...]:
        """Normalise an address exactly as taxonomy.normalise_ip does (see ip_normalisation)."""
        trimmed = self.ip_trim_template.format(source=self.eval_ref(source))
        return ip_steps(alias, self.define, trimmed, self.ip_unwrap_template.format(a=alias))

    def name_value_step(self, alias: str, array: str, name_key: str, value_key: str, element: str) -> Step:
        """The value of ``array``'s element whose ``name_key`` is ``element`` (``mvfind`` takes a
        regex: the element's name, anchored and escaped)."""
        name_rx = "^" + re.escape(element).replace("\\ ", " ") + "$"
        values = self.eval_ref(f"{array}.{value_key}")
        names = self.eval_ref(f"{array}.{name_key}")
        expr = f"mvindex({values}, mvfind({names}, {self.string(name_rx)}))"
        return Step(f"nv:{alias}", self.eval(alias, expr))


SPL = SplSyntax()
