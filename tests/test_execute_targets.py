"""`stormpack test --target`: every fixture case executed on the compiled KQL of Sentinel and
Defender XDR and on the compiled SPL of Splunk agrees with the fixture's expectation and the
matcher (issue #9), plus regressions for the missing-vs-empty name/value parameter bug, executed
on the KQL executor.

Known product differences live in stormpack/execute/execute_differences.yml (each names the
behaviour); a listed difference that no longer occurs fails.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stormpack.cli import cli
from stormpack.compiler import compile_rules
from stormpack.compiler.registry import TARGETS, targets_in
from stormpack.execute import registry
from stormpack.execute.base import Dataset
from stormpack.execute.harness import TargetVerdict, replay_target
from stormpack.execute.kql import KqlExecutor
from stormpack.execute.registry import ExecutorUnavailable, executor_for
from stormpack.fixtures import load_fixture_dir
from stormpack.ruleset import load_values
from stormpack.shapes.derive import derive

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
FIXTURES = ROOT / "fixtures"
KQL_TARGETS = targets_in("kql")
EXECUTED_TARGETS = TARGETS


@pytest.fixture(scope="module", params=EXECUTED_TARGETS)
def verdicts(request: pytest.FixtureRequest) -> tuple[str, list[TargetVerdict]]:
    target = str(request.param)
    return target, replay_target([RULES], FIXTURES, load_values(FIXTURES / "values"), target)


def test_every_case_executes_as_expected_and_as_the_matcher(
    verdicts: tuple[str, list[TargetVerdict]],
) -> None:
    target, vs = verdicts
    failed = [f"{v.stem}: {f}" for v in vs for f in v.failures]
    assert not failed, f"{target}:\n" + "\n".join(failed)
    executed = [v for v in vs if v.note is None]
    # most of the pack runs on each target (a rule that stops compiling shows here)
    assert len(executed) >= 35, [v.summary() for v in vs if v.note is not None]
    assert sum(len(v.cases) for v in executed) >= 100


def test_rules_not_executed_say_why(verdicts: tuple[str, list[TargetVerdict]]) -> None:
    _, vs = verdicts
    for v in vs:
        if v.note is not None:
            assert v.note.startswith("not compiled for") and len(v.note) > 30, v.summary()


def test_cli_target_prints_pass_lines() -> None:
    rule = RULES / "m365" / "audit" / "m365_audit_transport_rule_copies_or_redirects_mail.yml"
    res = CliRunner().invoke(cli, ["test", "--target", "sentinel", "--fixtures", str(FIXTURES), str(rule)])
    assert res.exit_code == 0, res.output
    assert "PASS m365_audit_transport_rule_copies_or_redirects_mail (2 cases)" in res.output


def test_cli_target_splunk_prints_pass_lines() -> None:
    rule = RULES / "m365" / "audit" / "m365_audit_mailbox_delegation_granted_to_another_user.yml"
    res = CliRunner().invoke(cli, ["test", "--target", "splunk", "--fixtures", str(FIXTURES), str(rule)])
    assert res.exit_code == 0, res.output
    assert "PASS m365_audit_mailbox_delegation_granted_to_another_user (2 cases)" in res.output


def test_a_target_whose_executor_module_is_missing_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.EXECUTORS, "splunk",
                        registry.ExecutorSpec("stormpack.execute.no_such_module", "SplExecutor", "spl"))
    with pytest.raises(ExecutorUnavailable, match="SPL executor not available for splunk"):
        executor_for("splunk")


# ------------------------------------------------------------------ the '' / missing regression
def _query(stem: str, target: str) -> str:
    rule = next(RULES.rglob(f"{stem}.yml"))
    res = compile_rules([rule], target, load_values(FIXTURES / "values"))
    assert res.ok, res.errors
    (q,) = res.queries
    return q.query


def _fires(target: str, query: str, record: dict[str, Any]) -> bool:
    from stormpack.compiler.targets import load_target

    spec = load_target(target)
    lt = spec.logsource("m365_audit")
    lt_table = str(lt.table)
    data = Dataset(tables={lt_table: [derive(target, "m365_audit", record).row]},
                   now=datetime(2024, 1, 1, tzinfo=UTC), schemas={lt_table: dict(spec.columns(lt))})
    return bool(KqlExecutor(target).run(query, data))


def _base(stem: str, case: str) -> dict[str, Any]:
    cases = {c.path.name: c for c in load_fixture_dir(FIXTURES / stem)}
    return copy.deepcopy(cases[case].events[0].record)


def _with_params(record: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["Parameters"] = [{"Name": k, "Value": v} for k, v in params.items()]
    return out


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_mailbox_delegation_grant_send_on_behalf_missing_empty_present(target: str) -> None:
    stem = "m365_audit_mailbox_delegation_granted_to_another_user"
    q = _query(stem, target)
    base = _base(stem, "positive_real_full_access_and_send_as.yml")  # Add-MailboxPermission
    grant = {"Identity": "henrietta@contoso.com", "AccessRights": "FullAccess", "User": "lidia@contoso.com"}
    assert _fires(target, q, _with_params(base, grant))  # parameter missing: fires
    assert not _fires(target, q, _with_params(base, {**grant, "GrantSendOnBehalfTo": ""}))  # present, empty
    assert _fires(target, q, _with_params(base, {**grant, "GrantSendOnBehalfTo": "bob@contoso.com"}))


@pytest.mark.parametrize("target", KQL_TARGETS)
def test_transport_rule_with_only_some_parameters_fires(target: str) -> None:
    stem = "m365_audit_transport_rule_copies_or_redirects_mail"
    q = _query(stem, target)
    base = _base(stem, "positive_bcc_and_redirect.yml")
    # the other three parameters missing
    assert _fires(target, q, _with_params(base, {"Name": "r", "BlindCopyTo": "x@evil.example"}))
    assert not _fires(target, q, _with_params(base, {"Name": "r", "BlindCopyTo": "x@evil.example",
                                                     "CopyTo": ""}))  # one present and empty
    assert _fires(target, q, _with_params(base, {
        "Name": "r", "BlindCopyTo": "a@e.example", "CopyTo": "b@e.example",
        "RedirectMessageTo": "c@e.example", "AddToRecipients": "d@e.example"}))
    assert not _fires(target, q, _with_params(base, {"Name": "r"}))  # none set
