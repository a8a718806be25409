"""The hunt's byte-level prefilter (stormpack.prefilter, stormpack.matcher.literals) never changes
a verdict: a line it skips is valid JSON that the full path would count as evaluated, with no
rule of the pack (reporting or feeding a correlation) matching it. Checked on the real fixture
records and generated records, each spelled in many JSON ways: letters in other cases or as
\\uXXXX escapes, escaped slashes, non-ASCII look-alikes (U+212A KELVIN SIGN lower-cases to 'k'),
integers as floats, numeric strings, underscores and values float() rounds; on corrupted lines;
and end to end (hunt output and counts with and without it, --jobs 2 included)."""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hunt_support import fixture_records, pack_engine
from stormpack import hunt, hunt_parallel, prefilter
from stormpack.hunt import HuntStats, JsonlSink, run_hunt
from stormpack.matcher import Engine, EventRef
from stormpack.matcher.engine import CompiledRule
from stormpack.matcher.literals import cidr_literals, could_be_float_text, number_literals, safe_piece
from stormpack.prefilter import LinePrefilter, choose_literals, for_engine
from stormpack.readers.depth import MAX_DEPTH, too_deep
from stormpack.readers.exports import SourceShapes, explain_unrecognised
from stormpack.ruleset import load_ruleset, load_values

REPO = Path(__file__).resolve().parent.parent


def _gen_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_ual", REPO / "bench" / "gen_ual.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def engine() -> Engine:
    return pack_engine(unbounded_disorder=True)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    gen = _gen_module()
    heavy, real = gen.Gen(), gen.Realistic()
    out = fixture_records()
    out += [heavy.record() for _ in range(150)] + [real.record() for _ in range(150)]
    return out


@pytest.fixture(scope="module")
def prefilters(engine: Engine, records: list[dict[str, Any]]) -> list[LinePrefilter]:
    """The pack's prefilter with literals chosen statically and on a sample, and one prefilter
    per (rule, alternative): every alternative must be exact on its own."""
    alts = engine.literal_alternatives()
    assert alts is not None  # every rule of the pack has required literals
    sample = [orjson.dumps(r) for r in records[-300:]]
    static = for_engine(engine, SourceShapes())
    sampled = for_engine(engine, SourceShapes(), sample)
    assert static is not None and sampled is not None
    return [static, sampled]


@pytest.fixture(scope="module")
def per_alternative(engine: Engine) -> list[tuple[CompiledRule, LinePrefilter]]:
    keys = SourceShapes.trigger_keys()
    out = []
    for rule in engine.rules:
        for strings, numeric in rule.literals:
            out.append((rule, LinePrefilter(strings, numeric, keys, engine.taxonomy)))
    return out


# ------------------------------------------------------------------ spelling records in JSON

KELVIN, DOTTED_I = "\u212a", "\u0130"


class Speller:
    """Writes a record as JSON text, spelling each part in one of its many equivalent (or,
    for case and look-alikes, differently matching) ways."""

    def __init__(self, rnd: random.Random, p: float) -> None:
        self.r = rnd
        self.p = p

    def text(self, value: Any) -> str:
        r = self.r
        if isinstance(value, dict):
            return "{" + ",".join(self.string(k, key=True) + ":" + self.text(v)
                                  for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ",".join(self.text(v) for v in value) + "]"
        if isinstance(value, bool) or value is None:
            return orjson.dumps(value).decode()
        if isinstance(value, int) and r.random() < self.p:
            return r.choice([f"{value}.0", f"{value / 100}e2", f'"{value}"', f'" {value} "',
                             f'"+{value}"', f'"0{value}"', f'"{str(value)[:1]}_{str(value)[1:]}"'
                             if value >= 10 else f'"{value}"', f'"{value - 1}.9999999999999999999"',
                             f"{value - 1}.9999999999999999999", f'"\\t{value}"'])
        if isinstance(value, str):
            return self.string(value)
        return orjson.dumps(value).decode()

    def string(self, s: str, key: bool = False) -> str:
        r, p = self.r, self.p
        out = ['"']
        for ch in s:
            x = r.random()
            if not key and ch.isalpha() and ch.isascii() and x < p:
                ch = ch.swapcase()
            elif not key and ch in "kK" and x < 2 * p:
                ch = KELVIN
            elif not key and ch == "i" and x < 2 * p:
                ch = DOTTED_I
            y = r.random()
            if ch == '"' or ch == "\\" or ord(ch) < 0x20:
                out.append(orjson.dumps(ch).decode()[1:-1])
            elif ch == "/" and y < 0.5:
                out.append("\\/")
            elif y < p:
                code = f"{ord(ch):04x}" if ord(ch) < 0x10000 else None
                out.append(orjson.dumps(ch).decode()[1:-1] if code is None else
                           "\\u" + (code.upper() if r.random() < 0.5 else code))
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)


def full_path(engine: Engine, line: bytes) -> tuple[str, list[CompiledRule]]:
    """What the reader and the hunt do with one line without the prefilter: the outcome and
    the rules (reporting or feeding) that match it."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ("rejected" if line.strip() else "blank"), []
    if not isinstance(rec, dict) or "AuditData" in rec or "records" in rec:
        return "unwrapped", []
    brackets = line.count(b"{") + line.count(b"[")
    if brackets > MAX_DEPTH and too_deep(rec, brackets):
        return "rejected", []
    rec, shape = SourceShapes()(rec)
    if shape is not None:
        return "converted", []
    spec = engine.classify(rec)
    if spec is None:
        return "unrecognised", []
    return "evaluated", engine.matching_rules(rec, spec)


def check_line(engine: Engine, line: bytes, pfs: list[LinePrefilter],
               per_alt: list[tuple[CompiledRule, LinePrefilter]]) -> tuple[int, int]:
    outcome, matched = full_path(engine, line)
    for pf in pfs:
        if pf(line):
            assert outcome == "evaluated" and not matched, (line, outcome, matched)
    for rule, pf in per_alt:
        if rule in matched:
            assert not pf(line), (rule.title, pf.literals, line)
    return len(matched), outcome == "evaluated" and not matched


# ------------------------------------------------------------------ the properties


@given(st.data())
def test_a_skipped_line_is_never_a_match_however_it_is_spelled(
    engine: Engine, records: list[dict[str, Any]], prefilters: list[LinePrefilter],
    per_alternative: list[tuple[CompiledRule, LinePrefilter]], data: st.DataObject,
) -> None:
    rec = data.draw(st.sampled_from(records))
    p = data.draw(st.sampled_from([0.0, 0.02, 0.1, 0.5]))
    seed = data.draw(st.integers(0, 2**32))
    line = Speller(random.Random(seed), p).text(rec).encode("utf-8", "surrogatepass")
    check_line(engine, line, prefilters, per_alternative)


def _kelvin(value: Any) -> Any:
    """Every k / K in the record's string values as KELVIN SIGN (lower case: "k")."""
    if isinstance(value, dict):
        return {k: _kelvin(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kelvin(v) for v in value]
    if isinstance(value, str):
        return value.replace("k", KELVIN).replace("K", KELVIN)
    return value


def test_every_real_and_generated_record_as_written(
    engine: Engine, records: list[dict[str, Any]], prefilters: list[LinePrefilter],
    per_alternative: list[tuple[CompiledRule, LinePrefilter]],
) -> None:
    matched = skipped = 0
    for rec in records:
        for line in (orjson.dumps(rec), Speller(random.Random(7), 0.05).text(rec).encode(),
                     orjson.dumps(_kelvin(rec)), Speller(random.Random(8), 1.0).text(rec).encode()):
            m, s = check_line(engine, line, prefilters, per_alternative)
            matched += bool(m)
            skipped += prefilters[1](line)
    assert matched > 300  # the positive fixtures match, spelled either way
    assert skipped > 100  # and the prefilter does skip (the benign generated records)


@given(st.data())
def test_a_corrupted_line_is_never_skipped_unless_orjson_reads_it(
    engine: Engine, records: list[dict[str, Any]], prefilters: list[LinePrefilter], data: st.DataObject,
) -> None:
    rec = data.draw(st.sampled_from(records[-300:]))  # generated: mostly skippable as written
    line = bytearray(orjson.dumps(rec))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(line) - 1))
        what = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b'{}[]",:\\\x00\x01\xff\xc3 0e.-') + [0xED, 0xA0]))
        if what == "flip":
            line[pos] = byte
        elif what == "cut":
            del line[pos:]
        elif what == "insert":
            line.insert(pos, byte)
        else:
            del line[pos]
        if not line:
            line = bytearray(b"{")
    check_line(engine, bytes(line), prefilters, [])


@pytest.mark.parametrize("line", [
    b'\xef\xbb\xbf{"Operation":"FileAccessed","Workload":"SharePoint"}',  # BOM: orjson rejects
    b'{"Operation":"FileAccessed","Workload":"SharePoint","n":123456789012345678901234567890}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint","n":1e400}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint","s":"\xed\xa0\x80"}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint","s":"\\ud800"}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint"} {}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint","d":' + b"[" * 120 + b"]" * 120 + b"}",
    b'{"Operation":"FileAccessed","Workload":"SharePoint","AuditData":"{}"}',
    b'{"records":[{"Operation":"FileAccessed","Workload":"SharePoint"}]}',
    b'{"Operation":"FileAccessed","Workload":"SharePoint","Type":"OfficeActivity"}',
    b'{"category":"Other","category":"SignInLogs","properties":{}}',  # orjson: the last wins
    b'{"Operation":"FileAccessed"}',  # not recognised: no RecordType/CreationTime/Workload
    b'  {"Operation":"FileAccessed","Workload":"SharePoint"}',
])
def test_lines_the_full_path_treats_otherwise_are_not_skipped(
    engine: Engine, prefilters: list[LinePrefilter], line: bytes
) -> None:
    outcome, matched = full_path(engine, line)
    for pf in prefilters:
        assert not pf(line), (line, outcome)


def test_spellings_that_hide_a_literal_are_parsed(
    engine: Engine, prefilters: list[LinePrefilter],
    per_alternative: list[tuple[CompiledRule, LinePrefilter]],
) -> None:
    """The positive record of the OWA token rule (RecordType 275) and of a sign-in rule, spelled
    so that the plain literal is missing; each still matches, so none may be skipped."""
    base = {"CreationTime": "2023-06-20T10:00:00", "Operation": "FileAccessed", "Workload": "X",
            "UserId": "u@contoso.com"}
    owa = engine.rule("m365_audit_owa_resource_token_issued")
    for spelling in ("275", "275.0", "2.75e2", "27.5e1", '"275"', '" 275 "', '"+275"', '"0275"',
                     '"2_75"', "274.99999999999999999", '"274.99999999999999999"', '"\\t275"',
                     '"\\u0032\\u0037\\u0035"', '"\\u2003275"'):
        line = orjson.dumps(base)[:-1] + b',"RecordType":' + spelling.encode() + b"}"
        outcome, matched = full_path(engine, line)
        assert outcome == "evaluated" and owa in matched, spelling
        for pf in prefilters:
            assert not pf(line), spelling
    # a literal with KELVIN SIGN for K: the matcher lower-cases it to "k"
    ua = engine.rule("m365_audit_storm_0558_user_agent_in_m365_activity")
    for rec in fixture_records():
        line = orjson.dumps(rec)
        if b"AppleWebKit" in line and ua in full_path(engine, line)[1]:
            line = line.replace(b"AppleWebKit", "AppleWeb\u212ait".encode())
            assert ua in full_path(engine, line)[1]
            check_line(engine, line, prefilters, per_alternative)  # every alternative of ua too
            break
    else:
        raise AssertionError("no positive user-agent fixture")
    # a literal spelled with escapes or in another case
    for op in ("MoveToDeletedItems", "MOVETODELETEDITEMS", "\\u004doveToDeletedItems",
               "MoveToDeletedIte\\u006ds"):
        line = (b'{"CreationTime":"2023-06-20T10:00:00","Workload":"Exchange","Operation":"'
                + op.encode() + b'","ClientInfoString":"Client=OWA"}')
        outcome, matched = full_path(engine, line)
        assert outcome == "evaluated" and matched, op
        for pf in prefilters:
            assert not pf(line), op


def test_literal_building_blocks() -> None:
    import ipaddress

    assert safe_piece("mozilla/5.0 (windows") == "5.0 (windows"
    assert safe_piece('a"bc\\def') == "def" and safe_piece("caf\u00e9 bar") == " bar"
    assert could_be_float_text("275") and could_be_float_text("1.5e+16") and could_be_float_text("inf")
    assert not could_be_float_text("2023-05") and not could_be_float_text("51.89.156.153")
    assert not could_be_float_text("send")
    assert cidr_literals(ipaddress.ip_network("185.38.142.0/24")) == frozenset({"185.38.142."})
    assert cidr_literals(ipaddress.ip_network("51.89.156.153/32")) == frozenset({"51.89.156.153"})
    assert cidr_literals(ipaddress.ip_network("10.64.0.0/10")) == frozenset(
        f"10.{n}." for n in range(64, 128))
    assert cidr_literals(ipaddress.ip_network("10.0.0.128/31")) == frozenset(
        f"10.0.0.{n}" for n in (128, 129))
    assert cidr_literals(ipaddress.ip_network("2001:db8::/32")) is None
    assert cidr_literals(ipaddress.ip_network("0.0.0.0/0")) is None
    lits = number_literals(275)
    assert lits is not None and {'"275', ":275", "t275", ":2.75", ":27.5", "0275"} <= lits
    assert number_literals(0) is None and number_literals(10**8) is None
    alts = [[(frozenset({"bb"}), False), (frozenset({"a"}), False)]]  # most selective first
    assert choose_literals(alts, []) == (frozenset({"bb"}), False)  # without a sample: the first
    sample = [b"bb bb", b"bb", b"a"]
    assert choose_literals(alts, sample) == (frozenset({"a"}), False)  # the set fewer lines hold
    # the union counts: a second rule already parses the "bb" lines, so the first costs nothing
    both = [alts[0], [(frozenset({"bb"}), False)]]
    assert choose_literals(both, sample) == (frozenset({"bb"}), False)


def test_the_prefilter_needs_every_rule_to_have_literals(engine: Engine) -> None:
    rules = load_ruleset([REPO / "rules" / "m365" / "audit"])
    eng = Engine.build(rules, load_values(REPO / "fixtures" / "values"))
    assert for_engine(eng, SourceShapes()) is not None
    eng.rules[0].literals = []  # as for a rule of only NOT / regex / null tests
    assert eng.literal_alternatives() is None and for_engine(eng, SourceShapes()) is None
    assert for_engine(engine, object()) is None  # a conversion step that names no trigger keys
    # a sample it would hardly skip (every line matches a rule): not worth scanning for
    hits = [line for line in map(orjson.dumps, fixture_records()) if full_path(engine, line)[1]]
    assert len(hits) > 100 and for_engine(engine, SourceShapes(), hits) is None


# ------------------------------------------------------------------ end to end


def _hunt(engine: Engine, path: Path, *, prefilter: bool, jobs: int = 1) -> tuple[HuntStats, list[bytes]]:
    engine.reset()
    out = io.BytesIO()
    stats = run_hunt(engine, [path], JsonlSink(out), EventRef, convert=SourceShapes(),
                     explain=explain_unrecognised, jobs=jobs, parallel_min_bytes=0, prefilter=prefilter)
    return stats, sorted(out.getvalue().splitlines())


def _counts(s: HuntStats) -> tuple[Any, ...]:
    return (s.read, s.evaluated, s.unrecognised, s.rejected, s.matched, s.hits, s.correlation_hits,
            s.warning_count, dict(s.unrecognised_by_source), dict(s.unrecognised_why),
            dict(s.converted), [(r.index, r.line, r.message) for r in s.rejections])


def test_hunt_output_and_counts_are_the_same_with_and_without_it(
    engine: Engine, records: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(13)
    lines = []
    for i, rec in enumerate(records * 3):
        lines.append(Speller(rnd, rnd.choice([0.0, 0.0, 0.03, 0.2])).text(rec).encode())
        if i % 97 == 0:
            lines.append(b'{"Operation": "FileAccessed", "Workload": ')  # broken
        if i % 131 == 0:
            lines.append(b'{"Operation":"FileAccessed"}')  # unrecognised
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(prefilter, "MIN_SKIP_SHARE", 0.0)  # exactness, whatever the sample's share
    monkeypatch.setattr(hunt.loop, "PREFILTER_MIN_BYTES", 0)  # and however small the input
    full, out_full = _hunt(engine, path, prefilter=False)
    fast, out_fast = _hunt(engine, path, prefilter=True)
    assert full.skipped == 0 and fast.skipped > 100
    assert full.rejected > 5 and full.unrecognised > 5 and full.hits > 300 and full.correlation_hits > 0
    assert _counts(fast) == _counts(full)
    assert out_fast == out_full
    monkeypatch.setattr(hunt_parallel, "CHUNK_BYTES", 40_000)
    par, out_par = _hunt(engine, path, prefilter=True, jobs=2)
    assert _counts(par) == _counts(full) and par.skipped == fast.skipped
    assert out_par == out_full


def test_a_purview_csv_export_gives_the_same_hunt_with_and_without_it(
    engine: Engine, records: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search-UnifiedAuditLog / Purview CSV: the prefilter decides each row from its AuditData."""
    import csv

    rnd = random.Random(5)
    path = tmp_path / "purview.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["CreationDate", "UserIds", "Operations", "AuditData"])
        for i, rec in enumerate(records):
            audit = Speller(rnd, rnd.choice([0.0, 0.05])).text(rec)
            if i % 53 == 0:
                audit = audit[:-5]  # broken AuditData: still reported
            w.writerow(["2023-06-20T10:00:00", "u@contoso.com", str(rec.get("Operation")), audit])
    monkeypatch.setattr(hunt.loop, "PREFILTER_MIN_BYTES", 0)
    full, out_full = _hunt(engine, path, prefilter=False)
    fast, out_fast = _hunt(engine, path, prefilter=True)
    assert full.rejected > 3 and full.hits > 100 and fast.skipped > 20  # literals: no sample (CSV)
    assert _counts(fast) == _counts(full)
    assert out_fast == out_full
