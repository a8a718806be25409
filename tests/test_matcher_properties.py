"""Property tests of the matcher's shortcuts against straightforward reference evaluations.

* wildcard values: the matcher turns `*`/`?` patterns into prefix/suffix/substring tests or an
  RE2 full match; the reference is Python's `re` over pySigma's parsed parts;
* the prefilter and the shared per-record lower-casing never change a verdict: every rule the
  engine reports for a record is exactly every rule of its log source whose predicate holds.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from sigma.types import SigmaString, SpecialChars

from stormpack.matcher import Engine, EventRef, TimestampError
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


# --------------------------------------------------------------------------- generated code
GEN_RULES: list[dict[str, Any]] = [
    {"sel": {"Operation": ["New-InboxRule", "Set-InboxRule"], "UserId|endswith": "@a.com"},
     "condition": "sel"},
    {"sel": {"ObjectId|contains|all": ["ab", "c"]}, "f": {"ObjectId": "a*b?c"}, "condition": "sel or f"},
    {"sel": {"ObjectId|cased": "AbC", "UserId|re": "^u[0-9]"}, "condition": "sel"},
    {"sel": {"ClientIP|cidr": "10.0.0.0/8"}, "ip": {"ClientIP": ["198.51.100.1", "2001:db8::1"]},
     "condition": "sel or ip"},
    {"sel": {"RecordType": [50, 1], "LogonType|neq": 0}, "condition": "sel"},
    {"sel": {"UserId": None}, "ex": {"ObjectId|exists": True}, "condition": "sel and ex"},
    {"sel": {"AppAccessContext.ClientAppId": "app", "Parameters.ForwardTo|contains": "@"},
     "condition": "1 of sel*"},
    {"kw": ["abc"], "sel": {"Operation": "x"}, "condition": "kw and not sel"},
    {"sel": {"UserId|fieldref": "ObjectId"}, "condition": "sel"},
    {"sel": {"ObjectId|expand": "%names%"}, "sel2": {"UserId|windash|contains": "-x"},
     "condition": "sel or sel2"},
    {"sel_a": {"Operation": "A"}, "sel_b": {"Operation|startswith": "a"}, "sel_c": {"UserId": "*"},
     "condition": "all of sel_* or not (sel_a or sel_c)"},
    {"sel": {"UserId|startswith": "u"}, "condition": "sel"},
    {"sel": {"ObjectId|endswith": "c"}, "condition": "sel"},
    {"sel": {"ObjectId|contains": "x"}, "condition": "sel"},
    {"sel": {"ObjectId": ["a*c", "x"]}, "condition": "not sel"},
]
GEN_VALUES = {"names": ["abc", "a?c*", "X"]}
TEXT = st.sampled_from(["abc", "ABC", "AbC", "a-c", "aXbYc", "u1", "U1@a.com", "x", "", "-x", "/x",
                        "10.1.2.3:5", "198.51.100.1", "[2001:DB8::1]:443", "New-InboxRule", "A", "a1"])
SCALAR = st.one_of(TEXT, st.sampled_from([None, 0, 1, 50, "50", True, 2.5]))
LEAF = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.just({"k": "abc"}))
GEN_RECORD = st.fixed_dictionaries({}, optional={
    "Operation": LEAF, "UserId": LEAF, "ObjectId": LEAF, "ClientIP": LEAF, "RecordType": LEAF,
    "LogonType": LEAF, "AppAccessContext": st.one_of(st.fixed_dictionaries({"ClientAppId": LEAF}), LEAF),
    "Parameters": st.lists(st.fixed_dictionaries({"Name": st.sampled_from(["ForwardTo", "X"]),
                                                  "Value": LEAF}), max_size=3),
})


@given(GEN_RECORD)
def test_generated_code_agrees_with_the_reference_closures(record: dict[str, Any]) -> None:
    from stormpack.matcher.codegen import generate, reference_predicate
    from stormpack.matcher.conditions import ConditionCompiler
    from stormpack.taxonomy import load_taxonomy

    for i, det in enumerate(GEN_RULES):
        compiled = _GENERATED.get(i)
        if compiled is None:
            from sigma.rule import SigmaRule

            logsource = {"product": "m365", "service": "audit"}
            rule = SigmaRule.from_dict({"title": f"g{i}", "logsource": logsource, "detection": det})
            tax = load_taxonomy()
            cc = ConditionCompiler(tax.logsources["m365_audit"], tax, ValueContext(f"g{i}", GEN_VALUES))
            trees = [c.parse() for c in rule.detection.parsed_condition]
            fast = generate(cc, trees)
            assert fast is not None
            compiled = _GENERATED[i] = (cc, fast, reference_predicate(cc, trees))
        cc, fast, ref = compiled
        cc.generation.n += 1
        got = fast(record)
        cc.generation.n += 1
        assert got is ref(record), (i, record)


_GENERATED: dict[int, Any] = {}


# --------------------------------------------------------------------------- robustness
KEYS = st.sampled_from(["Name", "Value", "NewValue", "Path", "x"]) | st.text(max_size=6)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)
PACK_FIELDS = ["Operation", "RecordType", "CreationTime", "ClientIP", "ClientIPAddress", "UserId", "AppId",
               "ClientInfoString", "LogonType", "Parameters", "OperationProperties", "AppAccessContext",
               "Folders", "category", "time", "properties", "operationName", "ModifiedProperties"]


REAL = {
    "Operation": st.sampled_from(["MailItemsAccessed", "New-InboxRule", "Set-InboxRule", "Set-Mailbox",
                                  "UserLoggedIn", "Add-MailboxPermission", "Set-AdminAuditLogConfig",
                                  "Add service principal credentials.", "Consent to application."]),
    "RecordType": st.sampled_from([1, 2, 3, 8, 15, 50, 275, "50"]),
    "category": st.sampled_from(["SignInLogs", "NonInteractiveUserSignInLogs", "AuditLogs"]),
    "CreationTime": st.sampled_from(["2023-06-14T02:41:07", "2023-06-14T02:41:07.1234567Z", "x", ""]),
    "time": st.sampled_from(["2023-06-14T02:41:07Z", "bad"]),
}


def _field_value(name: str) -> Any:
    return st.one_of(REAL[name], JSON) if name in REAL else JSON


@given(st.lists(st.sampled_from(PACK_FIELDS), max_size=10, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({n: _field_value(n) for n in names})))
def test_the_pack_never_crashes_on_odd_records(record: dict[str, Any]) -> None:
    eng = _pack_engine()
    with contextlib.suppress(TimestampError):  # the documented report of an unusable time field
        eng.process(record, EventRef("fuzz", 0))
    eng.finish()


_PACK: list[Engine] = []


def _pack_engine() -> Engine:
    if not _PACK:
        from stormpack.replay import load_rules_tolerant
        from stormpack.ruleset import load_values

        root = Path(__file__).resolve().parents[1]
        ruleset, _ = load_rules_tolerant([root / "rules"])
        assert ruleset is not None
        _PACK.append(Engine.build(ruleset, load_values(root / "fixtures" / "values"), strict=False))
    return _PACK[0]
