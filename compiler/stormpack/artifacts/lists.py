"""Tenant lists: ``|expand`` allow-list placeholders as a Sentinel watchlist and a Splunk lookup.

In the deployable artifacts a placeholder used as a whole value (``AppId|expand:
'%mail_sanctioned_client_app_ids%'``) is not inlined: the Sentinel query reads the watchlist
(:func:`kql_expression`) and the Splunk search a lookup (:func:`spl_expression`), so admins fill
lists, not rules. The list files ship filled with the defaults of ``values/``.

A placeholder used inside a pattern (``|startswith|expand``: a list of prefixes) cannot be a
plain membership test; such a list stays inlined from ``values/`` and is reported as such
(:attr:`TenantList.inline_reason`). Defender XDR has no watchlists: it always inlines.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.types import Placeholder, SigmaString

from .. import derived
from ..errors import ArtifactError, Location
from ..ruleset import LoadedRule, iter_detection_items
from ..syntax import KQL, SPL

#: Column holding the values, in the watchlist CSV (choose it as SearchKey on upload) and lookup.
WATCHLIST_COLUMN = "Value"
LOOKUP_COLUMN = "value"
LOOKUP_PREFIX = "stormpack_"


@dataclass(frozen=True)
class PlaceholderUse:
    name: str
    field: str
    whole_value: bool  # the value is exactly the placeholder (no wildcards, no text around it)
    modifiers: tuple[str, ...]
    rule: LoadedRule


@dataclass(frozen=True)
class TenantList:
    name: str
    values: tuple[str, ...]
    fields: tuple[str, ...]
    rule_ids: tuple[str, ...]
    rule_titles: tuple[str, ...]
    inline_reason: str | None  # None: deployed as watchlist + lookup

    @property
    def is_list(self) -> bool:
        return self.inline_reason is None

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The shipped placeholder values still in the list (see :func:`is_placeholder`)."""
        return tuple(v for v in self.values if is_placeholder(v))

    @property
    def is_filled(self) -> bool:
        """Holds at least one value and no placeholder: safe to enable the rules reading it
        (an empty allow-list, or one of placeholders only, allows nothing: the rule fires on
        every matching record)."""
        return bool(self.values) and not self.placeholders

    @property
    def watchlist(self) -> str:
        return watchlist_alias(self.name)

    @property
    def lookup(self) -> str:
        return lookup_name(self.name)


#: Values the shipped defaults use where only the tenant knows the real value: the reserved
#: ``.invalid`` top-level domain (RFC 2606) and the nil GUID (RFC 4122).
_PLACEHOLDER_VALUE = re.compile(r"\.invalid$|^0{8}-0{4}-0{4}-0{4}-0{12}$", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    """``soc-analyst@accepted-domain.invalid``, ``@accepted-domain.invalid`` or
    ``00000000-0000-0000-0000-000000000000``: a shipped stand-in, not a tenant value. An item of
    a two-column list (stormpack/derived.py) is one when either column is."""
    return any(_PLACEHOLDER_VALUE.search(c) is not None for c in value.split())


def watchlist_alias(name: str) -> str:
    """The Sentinel watchlist alias of a placeholder (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def lookup_name(name: str) -> str:
    """The Splunk lookup definition (transforms.conf stanza) of a placeholder."""
    return LOOKUP_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name)


#: Query expressions of a list membership test, in pySigma's QueryExpressionPlaceholderTransformation
#: form: {field} is the target column/field, {id} the watchlist alias / lookup name
#: (stormpack.syntax: KqlSyntax.list_expression, SplSyntax.list_expression).
KQL_LIST_EXPRESSION = KQL.list_expression
SPL_LIST_EXPRESSION = SPL.list_expression.replace("{column}", LOOKUP_COLUMN)


def kql_expression(name: str, column: str) -> str:
    """Membership of a Sentinel column in the placeholder's watchlist."""
    return KQL_LIST_EXPRESSION.format(field=column, id=watchlist_alias(name))


def spl_expression(name: str, field: str) -> str:
    """Membership of a Splunk field in the placeholder's lookup."""
    return SPL_LIST_EXPRESSION.format(field=field, id=lookup_name(name))


# ------------------------------------------------------------------------------- discovery
def placeholder_uses(rules: Sequence[LoadedRule]) -> list[PlaceholderUse]:
    """Every ``|expand`` placeholder in the detections of ``rules``."""
    out: list[PlaceholderUse] = []
    for lr in rules:
        if isinstance(lr.rule, SigmaCorrelationRule):
            continue
        for _, item in iter_detection_items(lr.rule):
            for v in item.value:
                if not isinstance(v, SigmaString) or not v.contains_placeholder():
                    continue
                parts = v.s
                whole = len(parts) == 1 and isinstance(parts[0], Placeholder)
                mods = tuple(m.__name__ for m in item.modifiers)
                for p in parts:
                    if isinstance(p, Placeholder):
                        out.append(PlaceholderUse(p.name, str(item.field or ""), whole, mods, lr))
    return out


def tenant_lists(rules: Sequence[LoadedRule], values: Mapping[str, Sequence[str]]) -> list[TenantList]:
    """The tenant lists the rules use, with their shipped default values, sorted by name."""
    by_name: dict[str, list[PlaceholderUse]] = {}
    for use in placeholder_uses(rules):
        by_name.setdefault(use.name, []).append(use)
    out: list[TenantList] = []
    derived_uses = _derived_lists(rules)
    for name in sorted(by_name):
        uses = by_name[name]
        if name not in values:
            first = uses[0].rule
            raise ArtifactError(
                f"placeholder '%{name}%' has no default in the values files; the tenant-list "
                "templates are filled from them", Location(first.path, first.line_of(name)),
            )
        reason = None
        partial = [u for u in uses if not u.whole_value or not u.field]
        if partial:
            u = partial[0]
            reason = (f"used as a pattern ({', '.join(u.modifiers)}) in {u.rule.stem}, not as a whole "
                      "value: inlined from values/")
        fields: list[str] = []
        ids: list[str] = []
        titles: list[str] = []
        for u in uses:
            if u.field not in fields:
                fields.append(u.field)
            if u.rule.id not in ids:
                ids.append(u.rule.id)
                titles.append(u.rule.title)
        out.append(TenantList(name, tuple(str(v) for v in values[name]), tuple(fields), tuple(ids),
                              tuple(titles), reason))
    for name, (field, corrs) in sorted(derived_uses.items()):
        if name in by_name:
            raise ArtifactError(f"tenant list '{name}' is used both as a |expand placeholder and as "
                                "the two-column list of a derived field", Location(corrs[0].path))
        out.append(TenantList(  # a list the values do not define maps nothing (derived.pairs_of)
            name, tuple(str(v) for v in values.get(name, ())), (field,), tuple(c.id for c in corrs),
            tuple(c.title for c in corrs),
            f"two-column list of the derived field {field} (stormpack/derived.py), read by a "
            "correlation's group key: inlined from values/"))
    return sorted(out, key=lambda tl: tl.name)


def _derived_lists(rules: Sequence[LoadedRule]) -> dict[str, tuple[str, list[LoadedRule]]]:
    """Two-column list -> (derived field, the correlations whose aliases read it)."""
    out: dict[str, tuple[str, list[LoadedRule]]] = {}
    for lr in rules:
        rule = lr.rule
        if not isinstance(rule, SigmaCorrelationRule):
            continue
        for alias in rule.aliases:
            for fname in alias.mapping.values():
                for name in derived.lists_of(fname):
                    corrs = out.setdefault(name, (fname, []))[1]
                    if lr not in corrs:
                        corrs.append(lr)
    return out


# ------------------------------------------------------------------------------- files
def _csv(column: str, values: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([column])
    for v in values:
        w.writerow([v])
    return buf.getvalue()


def watchlist_csv(tl: TenantList) -> str:
    return _csv(WATCHLIST_COLUMN, tl.values)


def lookup_csv(tl: TenantList) -> str:
    return _csv(LOOKUP_COLUMN, tl.values)


def write_watchlists(lists: Sequence[TenantList], out_dir: Path) -> list[Path]:
    """``<out_dir>/<alias>.csv`` for every list deployed as a watchlist."""
    written: list[Path] = []
    deployable = [tl for tl in lists if tl.is_list]
    if not deployable:
        return written
    out_dir.mkdir(parents=True, exist_ok=True)
    for tl in deployable:
        p = out_dir / f"{tl.watchlist}.csv"
        p.write_text(watchlist_csv(tl), encoding="utf-8")
        written.append(p)
    return written
