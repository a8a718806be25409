"""What `stormpack baseline` knows about values independently of the tenant.

* Microsoft first-party apps: the vendored merill/microsoft-info list (data/firstparty/, MIT).
* Never-allow values: data/never_allow_mail_clients.yml (public clients token tooling mints
  tokens for, resource ids, generic and exfiltration apps, and the Storm-0558 client string).
* Campaign IOCs: the addresses and client strings of the pack's own IOC rules (``IOC_RULES``),
  so the baseline and the detections read one list.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import BaselineError, Location
from ..yamlio import load_yaml_file

DATA = Path(__file__).resolve().parent.parent / "data"
FIRST_PARTY_FILE = DATA / "firstparty" / "MicrosoftApps.csv"
NEVER_ALLOW_FILE = DATA / "never_allow_mail_clients.yml"

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: The pack's IOC rules (file stems): every literal in their detections is a campaign IOC.
IOC_RULES = (
    "m365_audit_storm_0558_ip_in_m365_activity_any_time",
    "m365_audit_storm_0558_user_agent_in_m365_activity",
    "azure_signin_storm_0558_ip_in_interactive_sign_in_any_time",
    "azure_signin_storm_0558_user_agent_in_interactive_sign_in",
)


@cache
def first_party_apps(path: Path = FIRST_PARTY_FILE) -> dict[str, str]:
    """Lower-cased app id -> display name of every Microsoft first-party app in the vendored list
    (the GUID inside the cell: one upstream row carries a stray encoded no-break space)."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"AppId", "AppDisplayName"} <= set(reader.fieldnames):
            raise BaselineError("expected the columns AppId and AppDisplayName", Location(path, 1))
        for row in reader:
            m = _GUID.search((row.get("AppId") or "").lower())
            if m is not None:
                out.setdefault(m.group(0), (row.get("AppDisplayName") or "").strip())
    return out


@dataclass(frozen=True)
class NeverAllow:
    ids: dict[str, tuple[str, str]]  # lower-cased id -> (name, kind)
    client_strings: tuple[str, ...]


@cache
def never_allow(path: Path = NEVER_ALLOW_FILE) -> NeverAllow:
    doc = load_yaml_file(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("ids"), list):
        raise BaselineError("expected a mapping with a list 'ids'", Location(path, 1))
    ids = {str(e["id"]).lower(): (str(e["name"]), str(e["kind"])) for e in doc["ids"]}
    strings = tuple(str(e["value"]) for e in doc.get("client_strings") or [])
    return NeverAllow(ids, strings)


@dataclass(frozen=True)
class CampaignIocs:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    strings: tuple[str, ...]  # client strings / user agents, compared case-insensitively as substrings
    sources: tuple[str, ...]

    def ip_matches(self, text: str) -> bool:
        addr = parse_ip(text)
        return addr is not None and any(addr in n for n in self.networks)

    def string_in(self, text: str) -> str | None:
        low = text.lower()
        for s in self.strings:
            if s.lower() in low:
                return s
        return None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as audit records write it: bare, ``v4:port``, ``[v6]:port`` or ``v6`` with zone."""
    t = text.strip()
    if t.startswith("["):
        t = t[1:].split("]", 1)[0]
    elif t.count(":") == 1:
        t = t.split(":", 1)[0]
    t = t.split("%", 1)[0]
    try:
        return ipaddress.ip_address(t)
    except ValueError:
        return None


def _literals(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _literals(v)
    elif isinstance(node, list):
        for v in node:
            yield from _literals(v)
    elif isinstance(node, (str, int)) and not isinstance(node, bool):
        yield str(node)


@cache
def campaign_iocs(rules_dir: Path) -> CampaignIocs:
    """The IOCs of the pack's IOC rules under ``rules_dir`` (a missing rule is an error: the
    baseline would silently stop flagging campaign values)."""
    found = {p.stem: p for p in rules_dir.rglob("*.yml") if p.stem in IOC_RULES}
    missing = [r for r in IOC_RULES if r not in found]
    if missing:
        raise BaselineError(f"IOC rule(s) {', '.join(missing)} not found (campaign IOCs are read from them)",
                            Location(rules_dir))
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    strings: list[str] = []
    for stem in IOC_RULES:
        doc = load_yaml_file(found[stem])
        detection = doc.get("detection", {}) if isinstance(doc, dict) else {}
        for name, body in detection.items():
            if name == "condition":
                continue
            for lit in _literals(body):
                try:
                    nets.append(ipaddress.ip_network(lit, strict=False))
                except ValueError:
                    s = lit.strip().rstrip(";")
                    if len(s) >= 8:
                        strings.append(s)
    return CampaignIocs(tuple(dict.fromkeys(nets)), tuple(dict.fromkeys(strings)),
                        tuple(str(found[s]) for s in IOC_RULES))
