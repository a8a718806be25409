"""The taxonomy: which log sources and field names rules may use (data/taxonomy.yml).

This module only reads and answers questions about the taxonomy data; how each target maps
the fields lives with the compiler, how records are evaluated lives with the matcher.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from sigma.rule import SigmaLogSource

from .errors import TaxonomyError
from .yamlio import load_yaml_text

FieldType = Literal["string", "int", "bool", "ip", "array", "datetime"]
FIELD_TYPES: tuple[str, ...] = ("string", "int", "bool", "ip", "array", "datetime")
#: What a field stands for, whatever its name (taxonomy.yml ``roles:``): the acting user, the
#: source address, the client application, the mailbox owner, the host.
Role = Literal["user", "ip", "app", "mailbox", "host"]
ROLES: tuple[Role, ...] = ("user", "ip", "app", "mailbox", "host")


@dataclass(frozen=True)
class NameValueRoot:
    """`<root>.<Name>` = element[value] of record[array] whose element[name] == Name."""

    root: str
    array: str
    name: str
    value: str


@dataclass(frozen=True)
class FieldSpec:
    name: str  # as declared; name/value fields end in ".*"
    type: FieldType
    description: str
    name_value: str | None = None

    @property
    def is_pattern(self) -> bool:
        return self.name.endswith(".*")


@dataclass(frozen=True)
class LogsourceSpec:
    key: str
    product: str | None
    service: str | None
    category: str | None
    title: str
    timestamp: str
    event_id: str | None
    recognise: Mapping[str, Any]
    fields: Mapping[str, FieldSpec]
    patterns: tuple[FieldSpec, ...] = field(default=())

    def field(self, name: str) -> FieldSpec | None:
        """The spec of a field as a rule writes it (``Parameters.ForwardTo`` finds ``Parameters.*``)."""
        spec = self.fields.get(name)
        if spec is not None:
            return spec
        for pat in self.patterns:
            prefix = pat.name[:-1]  # keep the dot
            if name.startswith(prefix) and len(name) > len(prefix):
                return pat
        return None

    def matches_logsource(self, ls: SigmaLogSource) -> bool:
        return (
            (ls.product or None) == self.product
            and (ls.service or None) == self.service
            and (ls.category or None) == self.category
        )

    def recognises(self, record: Mapping[str, Any]) -> bool:
        """True when a raw record is of this log source (used by hunt to pick rules)."""
        rec = self.recognise
        for k, v in rec.get("equals", {}).items():
            if record.get(k) != v:
                return False
        for k, allowed in rec.get("one_of", {}).items():
            if record.get(k) not in allowed:
                return False
        for k in rec.get("all_present", ()):
            if k not in record:
                return False
        any_present = rec.get("any_present", ())
        return not (any_present and not any(k in record for k in any_present))

    @property
    def sigma_logsource(self) -> dict[str, str]:
        out = {}
        for k in ("product", "service", "category"):
            v = getattr(self, k)
            if v:
                out[k] = v
        return out


@dataclass(frozen=True)
class Taxonomy:
    logsources: Mapping[str, LogsourceSpec]
    name_value_arrays: Mapping[str, NameValueRoot]
    ip_normalisation: str
    roles: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)

    def role_fields(self, role: Role, logsource: str | None = None) -> tuple[str, ...]:
        """The fields of a role in preference order; with ``logsource``, those it has."""
        names = self.roles.get(role, ())
        if logsource is None:
            return names
        ls = self.logsources[logsource]
        return tuple(n for n in names if ls.field(n) is not None)

    def logsource_for(self, ls: SigmaLogSource, rule_title: str = "") -> LogsourceSpec:
        for spec in self.logsources.values():
            if spec.matches_logsource(ls):
                return spec
        known = ", ".join(
            "/".join(v for v in s.sigma_logsource.values()) for s in self.logsources.values()
        )
        got = "/".join(str(v) for v in (ls.product, ls.service, ls.category) if v)
        raise TaxonomyError(
            f"log source {got or '<empty>'} is not in the taxonomy (known: {known})", rule=rule_title or None
        )

    def classify(self, record: Mapping[str, Any]) -> LogsourceSpec | None:
        """The log source a raw record belongs to, or None."""
        for spec in self.logsources.values():
            if spec.recognises(record):
                return spec
        return None

    def name_value_root(self, field_name: str) -> tuple[NameValueRoot, str] | None:
        """Split ``Parameters.ForwardTo`` into (root spec, "ForwardTo") if it is a name/value field."""
        root, sep, rest = field_name.partition(".")
        if sep and rest and root in self.name_value_arrays:
            return self.name_value_arrays[root], rest
        return None


def _parse(data: Mapping[str, Any]) -> Taxonomy:
    nv = {
        root: NameValueRoot(root=root, array=v["array"], name=v["name"], value=v["value"])
        for root, v in data["name_value_arrays"].items()
    }
    logsources: dict[str, LogsourceSpec] = {}
    for key, ls in data["logsources"].items():
        fields: dict[str, FieldSpec] = {}
        patterns: list[FieldSpec] = []
        for fname, f in ls["fields"].items():
            ftype = f["type"]
            if ftype not in FIELD_TYPES:
                raise TaxonomyError(f"taxonomy: field {fname} of {key} has unknown type {ftype}")
            spec = FieldSpec(
                name=fname, type=ftype, description=str(f.get("description", "")),
                name_value=f.get("name_value"),
            )
            if spec.is_pattern:
                if spec.name_value not in nv:
                    raise TaxonomyError(f"taxonomy: pattern field {fname} needs a known name_value root")
                patterns.append(spec)
            else:
                fields[fname] = spec
        src = ls["logsource"]
        logsources[key] = LogsourceSpec(
            key=key, product=src.get("product"), service=src.get("service"),
            category=src.get("category"), title=ls["title"], timestamp=ls["timestamp"],
            event_id=ls.get("event_id"), recognise=ls.get("recognise", {}), fields=fields,
            patterns=tuple(patterns),
        )
    return Taxonomy(logsources=logsources, name_value_arrays=nv,
                    ip_normalisation=str(data.get("ip_normalisation", "")),
                    roles=_roles(data.get("roles", {}), logsources))


def _roles(data: Any, logsources: Mapping[str, LogsourceSpec]) -> dict[Role, tuple[str, ...]]:
    """``roles:``: every role known, every field declared by a log source (an ``ip`` field as ip)."""
    if not isinstance(data, Mapping):
        raise TaxonomyError("taxonomy: roles must map a role to a list of fields")
    out: dict[Role, tuple[str, ...]] = {}
    for role in ROLES:
        names = data.get(role, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TaxonomyError(f"taxonomy: roles.{role} must be a list of field names")
        for n in names:
            specs = [s for ls in logsources.values() if (s := ls.fields.get(n)) is not None]
            if not specs:
                raise TaxonomyError(f"taxonomy: roles.{role} names {n}, which no log source declares")
            if role == "ip" and any(s.type != "ip" for s in specs):
                raise TaxonomyError(f"taxonomy: roles.ip names {n}, which is not of type ip")
        out[role] = tuple(names)
    unknown = sorted(set(data) - set(ROLES))
    if unknown:
        raise TaxonomyError(f"taxonomy: unknown role(s) {', '.join(unknown)} (known: {', '.join(ROLES)})")
    return out


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    text = resources.files("stormpack").joinpath("data/taxonomy.yml").read_text(encoding="utf-8")
    return _parse(load_yaml_text(text, "stormpack/data/taxonomy.yml"))


def normalise_ip(value: str) -> str:
    """Normalise an IP value as every target does (see ``ip_normalisation`` in the taxonomy)."""
    v = value.strip()
    if v.startswith("["):
        end = v.find("]")
        return v[1:end] if end > 0 else v[1:]
    if v.count(":") == 1 and "." in v:
        return v.split(":", 1)[0]
    if v.lower().startswith("::ffff:") and "." in v:
        return v[7:]
    return v


def ip_in_network(value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Address arithmetic, never text prefixes: False for anything that is not an address."""
    try:
        addr = ipaddress.ip_address(normalise_ip(value))
    except ValueError:
        return False
    return addr.version == network.version and addr in network
