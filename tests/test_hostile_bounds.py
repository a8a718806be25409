"""Resource bounds (issue 6, part 3): a rule with a catastrophic regular expression cannot hang a
hunt, because the matcher runs every `|re` on RE2 (linear time, no backtracking).

No timing assert: the input is sized so that a backtracking engine would need more steps than
atoms in the universe (`^(a+)+$` on 20 000 `a` and a `b`: about 2**20000 paths), and the hunt
runs in a real process under a generous timeout. Finishing at all is the proof. Memory under a
2 GB input is measured by bench/memory_flat.py (table in bench/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hostile_support import HuntRun

REPO = Path(__file__).resolve().parent.parent
CATASTROPHIC = {  # field -> pattern that backtracks exponentially on the "evil" text below
    "ObjectId": "^(a+)+$",
    "UserId": "^(x+x+)+y$",
    "ClientInfoString": "^(a|aa)+$",
}
EVIL = {"ObjectId": "a" * 20_000 + "b", "UserId": "x" * 20_000, "ClientInfoString": "a" * 20_000 + "!"}
GOOD = {"ObjectId": "a" * 20_000, "UserId": "x" * 20_000 + "y", "ClientInfoString": "a" * 20_000}


def _rule(path: Path, n: int, field: str, pattern: str) -> None:
    path.write_text(json.dumps({  # JSON is YAML: no quoting surprises for the pattern
        "title": f"Catastrophic regex {n}", "id": f"0c0a7a57-0000-4000-8000-00000000000{n}",
        "status": "test", "logsource": {"product": "m365", "service": "audit"},
        "detection": {"sel": {f"{field}|re": pattern}, "condition": "sel"}, "level": "low",
    }), encoding="utf-8")


def _hunt(rules: Path, events: Path) -> HuntRun:
    proc = subprocess.run(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(rules),
         "--values", str(REPO / "fixtures" / "values"), "--events", str(events), "--format", "jsonl"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return HuntRun(proc.returncode, proc.stdout, proc.stderr)


def test_catastrophic_regexes_cannot_hang_a_hunt(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for n, (field, pattern) in enumerate(CATASTROPHIC.items(), start=1):
        _rule(rules / f"r{n}.yml", n, field, pattern)
    base = {"CreationTime": "2023-06-14T02:41:07", "RecordType": 1, "Operation": "Op", "Workload": "Exchange"}
    events = tmp_path / "events.jsonl"
    with open(events, "w", encoding="utf-8") as f:
        for _ in range(50):
            f.write(json.dumps({**base, **EVIL}) + "\n")
        f.write(json.dumps({**base, **GOOD}) + "\n")
    run = _hunt(rules, events)
    assert run.exit_code == 0, run.stderr
    counts = run.counts()
    assert (counts.read, counts.evaluated, counts.matched) == (51, 51, 1)
    hits = run.hits()
    assert sorted(h["rule_title"] for h in hits) == sorted(f"Catastrophic regex {n}" for n in (1, 2, 3))
    assert {h["event_index"] for h in hits} == {50}


def test_backtracking_only_regex_features_are_refused_clearly(tmp_path: Path) -> None:
    """Backreferences and lookaround have no linear-time implementation: RE2 refuses them, and
    so does the hunt, naming the rule file, instead of falling back to a backtracking engine."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"CreationTime": "2023-06-14T02:41:07", "RecordType": 1}) + "\n",
                      encoding="utf-8")
    for n, pattern in enumerate([r"^(a+)\1$", r"(?=a)a", r"(?<!x)y"], start=1):
        rule = tmp_path / f"backtracking{n}.yml"
        _rule(rule, n, "ObjectId", pattern)
        run = _hunt(rule, events)
        assert run.exit_code == 2, run.stderr
        assert f"error: {rule}" in run.stderr and "RE2" in run.stderr, run.stderr
