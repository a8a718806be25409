"""Property tests of the matcher's shortcuts against straightforward reference evaluations.

* wildcard values: the matcher turns `*`/`?` patterns into prefix/suffix/substring tests or an
  RE2 full match; the reference is Python's `re` over pySigma's parsed parts;
* the prefilter and the shared per-record lower-casing never change a verdict: every rule the
  engine reports for a record is exactly every rule of its log source whose predicate holds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from sigma.types import SigmaString, SpecialChars

from stormpack.matcher import Engine, EventRef
from stormpack.matcher.values import ValueContext, compile_value
from stormpack.ruleset import load_ruleset

CTX = ValueContext("property", {})


def reference_wildcard(pattern: str, subject: str) -> bool:
    parts = SigmaString(pattern).s
    rx = "".join(".*" if p is SpecialChars.WILDCARD_MULTI else "." if p is SpecialChars.WILDCARD_SINGLE
                 else re.escape(str(p)) for p in parts)
    return re.fullmatch(rx, subject, re.IGNORECASE | re.DOTALL) is not None


@given(st.text(alphabet="aAb*?\\", max_size=8), st.text(alphabet="aAb*?\\\n", max_size=10))
def test_wildcard_values_agree_with_a_regex_reference(pattern: str, subject: str) -> None:
    pred = compile_value(SigmaString(pattern), ip=False, ctx=CTX)
    assert pred(subject) is reference_wildcard(pattern, subject)


RULES: list[dict[str, Any]] = [
    {"sel": {"Operation": ["New-InboxRule", "Set-InboxRule"]}, "condition": "sel"},
    {"sel": {"Operation": "New-InboxRule", "UserId|endswith": "@a.com"}, "condition": "sel"},
    {"sel": {"RecordType": 50}, "condition": "sel"},
    {"ioc": [{"ClientIP": ["198.51.100.1", "2001:db8::1"]}, {"ClientIPAddress": "198.51.100.1"}],
     "condition": "ioc"},
    {"sel": {"Operation": "MailItemsAccessed"}, "f": {"LogonType": 0}, "condition": "sel and not f"},
    {"a": {"Operation": "Set-Mailbox"}, "b": {"RecordType": 1}, "condition": "a or b"},
    {"sel": {"UserId": None}, "condition": "sel"},
]

VALUES = {
    "Operation": st.sampled_from(["New-InboxRule", "NEW-INBOXRULE", "set-inboxrule", "Set-Mailbox",
                                  "MailItemsAccessed", "x", "", None, 5, ["New-InboxRule"]]),
    "RecordType": st.sampled_from([50, "50", " 50", 50.0, 1, "1", True, "x", None, [50]]),
    "ClientIP": st.sampled_from(["198.51.100.1", "198.51.100.1:443", "[2001:DB8::1]:443",
                                 "::ffff:198.51.100.1", "198.51.100.10", None, ["198.51.100.1"]]),
    "ClientIPAddress": st.sampled_from(["198.51.100.1", "10.0.0.1", 7]),
    "UserId": st.sampled_from(["u@a.com", "U@A.COM", "u@b.com", None, ""]),
    "LogonType": st.sampled_from([0, "0", 1, None]),
}


@given(st.fixed_dictionaries({}, optional=VALUES))
def test_prefilter_never_changes_a_verdict(tmp_path_factory: Any, record: dict[str, Any]) -> None:
    eng = _engine(tmp_path_factory.getbasetemp())
    rec = {"CreationTime": "2023-06-14T02:41:07", "Workload": "Exchange", **record}
    rec.setdefault("Operation", "x")  # a UAL record needs the key to be classified (any value type)
    got = [h.rule.stem for h in eng.process(rec, EventRef("p", 0))]
    want = [r.loaded.stem for r in eng.rules if r.matches(rec)]
    assert got == want


_ENGINES: dict[Path, Engine] = {}


def _engine(base: Path) -> Engine:
    if base not in _ENGINES:
        folder = base / "property_rules"
        folder.mkdir(exist_ok=True)
        for i, det in enumerate(RULES):
            doc = {"title": f"property rule {i}", "id": f"6f4c1c8e-0000-4000-8000-0000000001{i:02d}",
                   "status": "test", "logsource": {"product": "m365", "service": "audit"},
                   "detection": det, "level": "low"}
            (folder / f"r{i:02d}.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        _ENGINES[base] = Engine.build(load_ruleset([folder]), {})
    return _ENGINES[base]


# --------------------------------------------------------------------------- sliding windows
CORR_DOCS: list[dict[str, Any]] = [
    {"title": "base a", "name": "base_a", "status": "test", "level": "low",
     "logsource": {"product": "m365", "service": "audit"},
     "detection": {"sel": {"Operation": "A"}, "condition": "sel"}},
    {"title": "base b", "name": "base_b", "status": "test", "level": "low",
     "logsource": {"product": "m365", "service": "audit"},
     "detection": {"sel": {"Operation": "B"}, "condition": "sel"}},
    {"title": "count", "status": "test", "level": "high",
     "correlation": {"type": "event_count", "rules": ["base_a"], "group-by": ["UserId"],
                     "timespan": "10m", "condition": {"gte": 3}}},
    {"title": "distinct", "status": "test", "level": "high",
     "correlation": {"type": "value_count", "rules": ["base_a"], "group-by": ["UserId"],
                     "timespan": "10m", "condition": {"gte": 2, "field": "ClientIPAddress"}}},
    {"title": "both", "status": "test", "level": "high",
     "correlation": {"type": "temporal", "rules": ["base_a", "base_b"], "group-by": ["UserId"],
                     "timespan": "10m"}},
]


def reference_windows(events: list[tuple[int, int, str, str, str]], metric: Any, threshold: int
                      ) -> list[list[int]]:
    """Brute force: per group, windows [t, t + 600 s) anchored at each event in time order; the
    first that reaches the threshold fires and the scan resumes after it."""
    out = []
    for user in sorted({e[2] for e in events}):
        evs = sorted((e for e in events if e[2] == user), key=lambda e: (e[0], e[1]))
        i = 0
        while i < len(evs):
            window = [e for e in evs[i:] if e[0] < evs[i][0] + 600]
            if metric(window) >= threshold:
                out.append(sorted(e[1] for e in window))
                i += len(window)
            else:
                i += 1
    return sorted(out)


EVENTS = st.lists(
    st.tuples(st.integers(0, 40).map(lambda m: m * 60),  # whole minutes: window edges are hit often
              st.sampled_from(["A", "B", "C"]), st.sampled_from(["u1", "U1", "u2"]),
              st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3"])),
    max_size=25,
)


@given(EVENTS)
def test_sliding_windows_agree_with_a_brute_force_reference(tmp_path_factory: Any,
                                                           raw: list[tuple[int, str, str, str]]) -> None:
    base = tmp_path_factory.getbasetemp() / "corr_property"
    if base not in _ENGINES:
        base.mkdir(exist_ok=True)
        (base / "corr.yml").write_text(yaml.safe_dump_all(CORR_DOCS), encoding="utf-8")
        _ENGINES[base] = Engine.build(load_ruleset([base]), {})
    eng = _ENGINES[base]
    from datetime import datetime, timedelta

    t0 = datetime(2023, 6, 14, 10, 30)
    for i, (sec, op, user, ip) in enumerate(raw):
        rec = {"CreationTime": (t0 + timedelta(seconds=sec)).isoformat(), "Operation": op,
               "RecordType": 50, "UserId": user, "ClientIPAddress": ip}
        eng.process(rec, EventRef("p", i))
    got: dict[str, list[list[int]]] = {"count": [], "distinct": [], "both": []}
    for h in eng.finish():
        got[h.rule.title].append(sorted(r.index for r in h.refs))
    kept = [(sec, i, user.lower(), op, ip) for i, (sec, op, user, ip) in enumerate(raw)]
    a_events = [e for e in kept if e[3] == "A"]
    ab_events = [e for e in kept if e[3] in ("A", "B")]
    assert sorted(got["count"]) == reference_windows(a_events, len, 3)
    assert sorted(got["distinct"]) == reference_windows(a_events, lambda w: len({e[4] for e in w}), 2)
    assert sorted(got["both"]) == reference_windows(ab_events, lambda w: len({e[3] for e in w}), 2)
