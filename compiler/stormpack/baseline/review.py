"""Deciding, per learned value, whether it is written to the values directory or only reported
for review, and why.

A value is *blocked* (never auto-allowed, whatever the thresholds) when it is on the never-allow
list where its list's policy forbids it, when it is (or, as a prefix, admits) a campaign client
string, or when a record that taught it came from a published campaign address or carried a
campaign client string / user agent. It needs *review* (not written) when it was seen for fewer
than ``min_users`` users or on fewer than ``min_days`` days, or, under the ``first_party``
policy, when it is not a Microsoft first-party app.

Domains are the exception to the record-level signals: a domain names the account the record is
about (the victim of a forged token is still the tenant's user), not something the actor
chose, so campaign addresses and user agents on its records are reported as notes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .knowledge import CampaignIocs, NeverAllow
from .learn import ListStats, ValueStats
from .spec import Learner

#: Exchange client strings are ``Client=<ClientType>[;extra]`` (Exchange's ClientTypeHelper, see
#: docs/baseline.md): a learned prefix of another form is not a client family.
CLIENT_TYPE = re.compile(r"^Client=[A-Za-z0-9._ -]+(;|$)", re.IGNORECASE)
DEFAULT_MIN_USERS = 2
DEFAULT_MIN_DAYS = 2

#: Never-allow kinds a *paired* list may still hold (the pairing is the constraint the reference
#: asks for): public clients and resource ids. Generic and exfiltration apps are not.
PAIRED_OK = frozenset({"public_client", "resource"})
PAIRED_HINT = "; allowed only with its client-string family (the paired mail_* lists)"


@dataclass(frozen=True)
class Thresholds:
    min_users: int = DEFAULT_MIN_USERS
    min_days: int = DEFAULT_MIN_DAYS


@dataclass
class Decision:
    value: str
    stats: ValueStats
    first_party: str | None
    blocked: list[str] = field(default_factory=list)  # reasons it is never auto-allowed
    review: list[str] = field(default_factory=list)  # reasons a person decides
    notes: list[str] = field(default_factory=list)  # reported, neither blocking nor for review

    @property
    def allowed(self) -> bool:
        return not self.blocked and not self.review


def decide_value(learner: Learner, value: str, vs: ValueStats, thresholds: Thresholds,
                 first_party: dict[str, str], never: NeverAllow, iocs: CampaignIocs) -> Decision:
    fp = first_party.get(value) if learner.kind == "app_id" else None
    d = Decision(value, vs, fp)
    if learner.kind == "app_id" and value in never.ids:
        name, kind = never.ids[value]
        if learner.policy != "paired" or kind not in PAIRED_OK:
            hint = PAIRED_HINT if kind in PAIRED_OK and learner.policy != "paired" else ""
            d.blocked.append(f"on the never-allow list: {name} ({kind}){hint}")
    low = value.lower()
    for s in never.client_strings:
        if learner.kind == "prefix" and s.lower().startswith(low):
            d.blocked.append(f"prefix admits the campaign client string {s!r}")
    hit = iocs.string_in(value)
    if hit is not None:
        d.blocked.append(f"matches the campaign IOC {hit!r}")
    signals = d.notes if learner.kind == "domain" else d.blocked
    if vs.ioc_ips:
        signals.append(f"{vs.ioc_ip_records} record(s) from published campaign address(es) "
                         f"{', '.join(sorted(vs.ioc_ips))}")
    if vs.ioc_strings:
        signals.append("record(s) carried the campaign client string(s) " + ", ".join(
            repr(s) for s in sorted(vs.ioc_strings)))
    if learner.kind == "prefix" and not CLIENT_TYPE.match(value):
        d.review.append("not of the Exchange client-string form Client=<type>")
    if learner.policy == "first_party" and fp is None:
        d.review.append("not a Microsoft first-party app (this record shape is the campaign's own)")
    if learner.policy != "account" and len(vs.users) < thresholds.min_users:
        d.review.append(f"seen for {len(vs.users)} user(s) only (--min-users {thresholds.min_users})")
    if len(vs.days) < thresholds.min_days:
        d.review.append(f"seen on {len(vs.days)} day(s) only (--min-days {thresholds.min_days})")
    return d


def decide(stats: ListStats, thresholds: Thresholds, first_party: dict[str, str], never: NeverAllow,
           iocs: CampaignIocs) -> list[Decision]:
    """Every learned value of one list, most seen first."""
    out = [decide_value(stats.learner, v, vs, thresholds, first_party, never, iocs)
           for v, vs in stats.values.items()]
    out.sort(key=lambda d: (-d.stats.records, d.value))
    return out
