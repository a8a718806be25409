"""The rule authors' CI workflow and pre-commit hooks call stormpack commands and options that
exist, and the workflow has the steps the project promises (SARIF upload, JUnit, artifacts)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from stormpack.cli import cli

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "rules.yml"
PRECOMMIT = REPO / ".pre-commit-config.yaml"


def _workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return data


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _workflow()["jobs"]["rules"]["steps"]
    return steps


def _stormpack_calls() -> list[list[str]]:
    calls = [str(s["run"]) for s in _steps() if "run" in s]
    for repo in yaml.safe_load(PRECOMMIT.read_text(encoding="utf-8"))["repos"]:
        calls += [h["entry"] for h in repo["hooks"]]
    out = []
    for call in calls:
        for line in call.splitlines():
            words = shlex.split(line)
            if words and words[0].endswith("/stormpack"):
                out.append(words[1:])
    return out


def test_workflow_and_hooks_call_stormpack() -> None:
    used = {words[0] for words in _stormpack_calls()}
    assert {"validate", "fmt", "test", "coverage"} <= used


@pytest.mark.parametrize("words", _stormpack_calls(), ids=lambda w: " ".join(w))
def test_every_option_exists(words: list[str]) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, words[0])
    assert command is not None, f"no stormpack command {words[0]}"
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    used = {w.split("=")[0] for w in words[1:] if w.startswith("--")}
    assert used <= options, f"unknown options {used - options} for stormpack {words[0]}"


def test_workflow_uploads_sarif_junit_and_artifacts() -> None:
    uses = {str(s.get("uses", "")).split("@")[0]: s for s in _steps()}
    sarif = uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"]
    validate = next(s for s in _steps() if "stormpack validate" in str(s.get("run", "")))
    assert "--format sarif" in validate["run"] and sarif in validate["run"]
    junit_paths = uses["mikepenz/action-junit-report"]["with"]["report_paths"]
    replay = next(s for s in _steps() if "stormpack test" in str(s.get("run", "")))
    assert "--junit build/reports/" in replay["run"] and junit_paths == "build/reports/*.xml"
    assert uses["actions/upload-artifact"]["with"]["path"] == "build/"
    assert any(str(s.get("run", "")).strip() == "make build" for s in _steps())
    perms = _workflow()["jobs"]["rules"]["permissions"]
    assert perms["security-events"] == "write"
