"""Nothing lost (issue 6, part 4): a failing `stormpack build` leaves the previous build/ intact,
never half of one; `stormpack hunt --output FILE` never leaves a truncated file that looks
complete. Failures are forced where they hurt: in the middle of writing, at the directory swap,
and by killing the process.

(The build-hook failure and the broken-rule CLI case are in tests/test_compile_build.py, the
unit tests of `atomic_output` in tests/test_hunt.py.)
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hostile_support import hunt_cli
from stormpack.cli import main
from stormpack.compiler import TARGETS, compile_rules
from stormpack.compiler import build as build_mod
from stormpack.errors import StormpackError

_R = TypeVar("_R")

REPO = Path(__file__).resolve().parent.parent
HUNT_RULES = REPO / "tests" / "data" / "hunt" / "rules"
VALUES = REPO / "fixtures" / "values"
RECORD = {
    "CreationTime": "2023-06-14T02:41:07", "RecordType": 1, "Operation": "Set-AdminAuditLogConfig",
    "UserId": "attacker@contoso.onmicrosoft.com", "Workload": "Exchange",
    "Parameters": [{"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"}],
}

RULE = (
    "title: {title}\nid: 2b3c4d5e-0000-4000-8000-00000000000{n}\nstatus: test\n"
    "logsource: {{product: m365, service: audit}}\n"
    "detection:\n  sel:\n    Operation: {op}\n  condition: sel\nlevel: low\n"
)


def _rules(tmp: Path) -> Path:
    d = tmp / "rules"
    d.mkdir()
    for n, op in enumerate(["New-InboxRule", "Set-Mailbox", "Set-AdminAuditLogConfig"], start=1):
        (d / f"r{n}.yml").write_text(RULE.format(title=f"Rule {n}", n=n, op=op), encoding="utf-8")
    return d


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def _run_main(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _disk_full_on_call(real: Callable[[Any], _R], n: int, calls: list[int]) -> Callable[[Any], _R]:
    """``real``, but its ``n``-th call fails as on a full disk; each call is counted in ``calls``."""

    def wrapped(arg: Any) -> _R:
        calls.append(1)
        if len(calls) == n:
            raise _enospc()
        return real(arg)

    return wrapped


# ------------------------------------------------------------------------------------ build/


@pytest.fixture
def previous_build(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A rules folder and a complete build of it made by the CLI."""
    rules = _rules(tmp_path)
    out = tmp_path / "build"
    assert _run_main(["build", "-o", str(out), str(rules)]) == 0
    tree = _tree(out)
    assert any(k.endswith(".kql") for k in tree) and any(k.endswith(".spl") for k in tree)
    return rules, out, tree


def test_disk_full_in_the_middle_of_a_build_keeps_the_previous_build(
    previous_build: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules, out, before = previous_build
    (rules / "r1.yml").write_text(RULE.format(title="Changed", n=1, op="Remove-InboxRule"), encoding="utf-8")
    calls: list[int] = []
    monkeypatch.setattr(build_mod, "query_text", _disk_full_on_call(build_mod.query_text, 2, calls))
    capsys.readouterr()
    assert _run_main(["build", "-o", str(out), str(rules)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: build not written") and "No space left" in err, err
    assert "Traceback" not in err and len(calls) == 2  # it failed mid-write, after one file
    assert _tree(out) == before
    assert _leftovers(out.parent, out.name) == []


def test_failed_swap_puts_the_previous_build_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one non-atomic moment (old build moved aside, new one not yet in place): if moving
    the new one fails, the old one is moved back."""
    rules = _rules(tmp_path)
    results = {t: compile_rules([rules], t, {}) for t in TARGETS}
    out = build_mod.write_build(results, tmp_path / "build")
    before = _tree(out)
    real_rename = Path.rename

    def rename(self: Path, target: Any) -> Any:
        if self.name.startswith(".build.new-"):
            raise _enospc()
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(StormpackError, match="previous one is kept"):
        build_mod.write_build(results, out)
    assert _tree(out) == before
    assert _leftovers(tmp_path, "build") == []


# ------------------------------------------------------------------------------------ hunt --output


def test_hunt_output_failing_mid_write_keeps_the_previous_file(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(RECORD) + "\n" for _ in range(5)), encoding="utf-8")
    target = tmp_path / "hits.jsonl"
    first = hunt_cli(HUNT_RULES, VALUES, events, "--output", str(target))
    assert first.exit_code == 0 and first.counts().hits == 5
    previous = target.read_bytes()
    assert previous.count(b"\n") == 5

    import stormpack.hunt.sinks as hunt_mod  # JsonlSink looks dumps up here

    monkeypatch.setattr(hunt_mod, "dumps", _disk_full_on_call(hunt_mod.dumps, 3, []))
    changed = "".join(json.dumps({**RECORD, "UserId": f"u{i}"}) + "\n" for i in range(5))
    events.write_text(changed, encoding="utf-8")
    run = hunt_cli(HUNT_RULES, VALUES, events, "--output", str(target))
    assert run.exit_code == 2, run
    assert f"error: {target}: output not written: No space left on device" in run.stderr, run.stderr
    assert target.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "hits.jsonl"]


def test_killed_hunt_never_leaves_a_complete_looking_output(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing: FILE does not exist; only a `.FILE.*.partial` is left."""
    events = tmp_path / "events.jsonl"
    line = (json.dumps(RECORD) + "\n").encode()
    with open(events, "wb") as f:
        for _ in range(200):
            f.write(line * 1000)  # 200 000 matching records: long enough to be caught writing
    target = tmp_path / "hits.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stormpack", "hunt", "--rules", str(HUNT_RULES), "--values", str(VALUES),
         "--events", str(events), "--format", "jsonl", "--output", str(target)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 300
        partial: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in tmp_path.glob(".hits.jsonl.*.partial") if p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.05)
        assert partial and proc.poll() is None, "the hunt finished before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    assert [p.name for p in tmp_path.glob(".hits.jsonl.*")] == [partial[0].name]
