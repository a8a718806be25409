"""Learning: stream the exports through the hunt's reader loop and count, per tenant list, every
value the learner sources teach (records, users, days, first/last seen, campaign signals).

:class:`LearnEngine` is a hunt engine (``classify`` / ``process`` / ``finish``) that never emits a
hit: :func:`stormpack.hunt.run_hunt` reads every format the hunt reads, converts SIEM and portal
exports to the source shapes, and accounts for every record (``read == evaluated +
unrecognised + rejected``), with each rejected record reported by file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import EventReadError
from ..hunt import HuntStats, run_hunt
from ..matcher import Engine
from ..matcher.fields import MISSING, Reader, leaves, make_reader, scalar_text
from ..readers import Rejected
from ..triage import parse_utc
from .knowledge import CampaignIocs, NeverAllow
from .spec import Learner, Source, selection_ruleset

#: Record fields whose text is checked for the campaign's client strings / user agents.
CLIENT_STRING_FIELDS = ("ClientInfoString", "UserAgent", "ActorInfoString", "properties.userAgent")
IP_MEMO_SIZE = 65536


@dataclass(frozen=True)
class Window:
    """``--since`` / ``--until``: only records in [since, until] teach (either bound optional)."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, when: datetime) -> bool:
        return (self.since is None or when >= self.since) and (self.until is None or when <= self.until)


@dataclass
class ValueStats:
    """What the exports say about one learned value of one list."""

    records: int = 0
    users: set[str] = field(default_factory=set)
    days: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    undated: int = 0
    sources: set[int] = field(default_factory=set)
    ioc_ips: set[str] = field(default_factory=set)
    ioc_ip_records: int = 0
    ioc_strings: set[str] = field(default_factory=set)
    example: str = ""

    def add(self, user: str | None, when: datetime | None, day: str, source: int,
            ref: tuple[str, int]) -> None:
        """One teaching record (``day``: the UTC date of ``when``, computed once per record)."""
        self.records += 1
        if user:
            self.users.add(user)
        if when is None:
            self.undated += 1
        else:
            self.days.add(day)
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when
        self.sources.add(source)
        if not self.example:
            self.example = f"{ref[0]} record {ref[1] + 1}"


@dataclass
class ListStats:
    learner: Learner
    records: int = 0  # records a source of the list selected
    without_value: int = 0  # ... of which none of the value fields held a usable value
    values: dict[str, ValueStats] = field(default_factory=dict)


def _texts(reader: Reader, record: Mapping[str, Any]) -> list[str]:
    got = reader(record)
    if got is MISSING or got is None:
        return []
    out = []
    for leaf in leaves(got):
        t = scalar_text(leaf)
        if t is not None and t.strip():
            out.append(t.strip())
    return out


def _first(readers: Sequence[Reader], record: Mapping[str, Any]) -> str | None:
    for r in readers:
        got = r(record)
        if got.__class__ is str:  # the common case: a top-level string
            text = got.strip()
            if text:
                return text
            continue
        texts = _texts(r, record)
        if texts:
            return texts[0]
    return None


# ------------------------------------------------------------------------------ value kinds


def client_prefix(text: str, never: Sequence[str]) -> str:
    """The ClientInfoString prefix a client string teaches: its client type (``Client=OWA;``,
    ``Client=MSExchangeRPC``); when that prefix would also admit a never-allow client string
    (``Client=REST;`` admits ``Client=REST;Client=RESTSystem;;``), the type and the product of the
    next segment (``Client=REST;MacOutlook/``). A prefix that still admits one is returned as it
    is: the review marks it (it is never auto-allowed)."""
    segs = text.strip().split(";")
    first = segs[0] if len(segs) == 1 else segs[0] + ";"
    if len(segs) < 2 or not _admits(first, never):
        return first
    second = segs[1]
    second = second[: second.index("/") + 1] if "/" in second else second + ";"
    return first + second


def _admits(prefix: str, never: Sequence[str]) -> bool:
    low = prefix.lower()
    return any(s.lower().startswith(low) for s in never)


def normalise(kind: str, text: str, never: Sequence[str]) -> str | None:
    """The list value a field value teaches, or None when it teaches nothing."""
    t = text.strip()
    if not t:
        return None
    if kind == "app_id":
        return t.lower()
    if kind == "upn":
        return t.lower() if "@" in t else None
    if kind == "domain":
        local, at, domain = t.rpartition("@")
        domain = domain.strip().lower()
        if not at or not local or "." not in domain or " " in domain:
            return None
        return "@" + domain
    return client_prefix(t, never)


# ------------------------------------------------------------------------------ the engine


@dataclass
class _Compiled:
    learner: Learner
    source: Source
    value: tuple[Reader, ...]
    user: tuple[Reader, ...]
    ip: tuple[Reader, ...]
    client: tuple[Reader, ...]
    when: Reader


class LearnEngine:
    """A hunt engine that learns instead of alerting (see the module docstring)."""

    def __init__(self, learners: Mapping[str, Learner], seed: Mapping[str, list[str]],
                 iocs: CampaignIocs, never: NeverAllow, window: Window | None = None) -> None:
        ruleset, by_rule = selection_ruleset(dict(learners))
        self.engine = Engine.build(ruleset, dict(seed))
        tax = self.engine.taxonomy
        self.iocs, self.never = iocs, never
        self.lists = {name: ListStats(learner) for name, learner in learners.items()}
        self._compiled: dict[int, _Compiled] = {}
        for rule in self.engine.rules:
            learner, source = by_rule[id(rule.loaded.rule)]
            spec = rule.logsource

            def readers(names: Sequence[str], spec: Any = spec) -> tuple[Reader, ...]:
                return tuple(make_reader(n, spec, tax) for n in names)

            self._compiled[id(rule)] = _Compiled(
                learner, source, readers(source.value), readers(source.user), readers(source.ip),
                readers(CLIENT_STRING_FIELDS), rule.timestamp_reader)
        self._ip_memo: dict[str, bool] = {}
        self.window = window
        self.outside = 0  # teaching records outside the window (not learned)
        self.undated = 0  # teaching records without a usable time while a window is set (not learned)

    def classify(self, record: Mapping[str, Any]) -> Any:
        return self.engine.classify(record)

    def _ioc_ip(self, text: str) -> bool:
        got = self._ip_memo.get(text)
        if got is None:
            if len(self._ip_memo) >= IP_MEMO_SIZE:
                self._ip_memo.clear()
            got = self._ip_memo[text] = self.iocs.ip_matches(text)
        return got

    def process(self, record: Mapping[str, Any], ref: Any, logsource: Any = None) -> Sequence[Any]:
        matched = self.engine.matching_rules(record, logsource)
        if not matched:
            return []
        never = self.never.client_strings
        when: datetime | None = None
        dated = False
        if self.window is not None:
            ts = matched[0].timestamp_reader(record)  # every rule of a log source reads the same field
            when, dated = parse_utc(ts if isinstance(ts, str) else None), True
            if when is None:
                self.undated += 1
                return []
            if not self.window.holds(when):
                self.outside += 1
                return []
        bad_ips: dict[tuple[str, ...], list[str]] = {}
        users: dict[tuple[str, ...], str | None] = {}
        strings: set[str] | None = None
        day = ""
        for rule in matched:
            c = self._compiled[id(rule)]
            stats = self.lists[c.learner.name]
            stats.records += 1
            raw = _first(c.value, record)
            value = None if raw is None else normalise(c.learner.kind, raw, never)
            if value is None:
                stats.without_value += 1
                continue
            key = c.source.user
            if key in users:
                user = users[key]
            else:
                raw_user = _first(c.user, record)
                user = users[key] = raw_user.lower() if raw_user else None
            if not dated:  # every rule of a log source reads the same time field
                ts = c.when(record)
                when, dated = parse_utc(ts if isinstance(ts, str) else None), True
            if not day and when is not None:
                day = when.date().isoformat()
            vs = stats.values.get(value)
            if vs is None:
                vs = stats.values[value] = ValueStats()
            vs.add(user, when, day, c.source.index, ref)
            bad = bad_ips.get(c.source.ip)
            if bad is None:
                bad = [ip for r in c.ip for ip in _texts(r, record) if self._ioc_ip(ip)]
                bad_ips[c.source.ip] = bad
            if bad:
                vs.ioc_ip_records += 1
                vs.ioc_ips.update(bad)
            if strings is None:
                strings = set()
                for r in c.client:
                    for text in _texts(r, record):
                        hit = self.iocs.string_in(text)
                        if hit is not None:
                            strings.add(hit)
            vs.ioc_strings.update(strings)
        return []

    def finish(self) -> Sequence[Any]:
        return []


class _NoHits:
    """The hit sink of a learning run: a learning engine never produces hits."""

    def single(self, hit: Any, record: Any) -> None:  # pragma: no cover - LearnEngine returns no hits
        raise AssertionError("a learning run produced a hit")

    def correlation(self, hit: Any) -> None:  # pragma: no cover
        raise AssertionError("a learning run produced a correlation hit")

    def close(self) -> None:
        pass


def learn(engine: LearnEngine, events: Sequence[str | Path], *,
          on_reject: Callable[[Rejected], None] | None = None,
          on_unusable: Callable[[EventReadError], None] | None = None) -> HuntStats:
    """Read every export under ``events`` into ``engine``; the hunt's statistics of the read."""
    from ..readers.exports import SourceShapes, explain_unrecognised

    return run_hunt(engine, events, _NoHits(), lambda src, index: (src, index),
                    on_reject=on_reject, on_unusable=on_unusable, convert=SourceShapes(),
                    explain=explain_unrecognised)
