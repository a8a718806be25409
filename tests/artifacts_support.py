"""Helpers of the artifact tests (tests/test_artifacts_*.py): the test pack of tests/data/artifacts
and a rule of it built with one more custom attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from stormpack.artifacts.pack import build_pack
from stormpack.errors import ArtifactError

TEST_RULES = Path(__file__).parent / "data" / "artifacts" / "rules"
TEST_VALUES = Path(__file__).parent / "data" / "artifacts" / "values"
ATTRIBUTE_RULE = "azure_signin_test_python_user_agent.yml"


def attribute_refusal(tmp_path: Path, attribute: str) -> tuple[str, str]:
    """The test rule ATTRIBUTE_RULE with the line ``attribute`` appended, built alone, must fail:
    the ArtifactError's text, and ``path:line`` of the appended line."""
    rules = tmp_path / "rules"
    rules.mkdir()
    src = (TEST_RULES / ATTRIBUTE_RULE).read_text(encoding="utf-8")
    path = rules / ATTRIBUTE_RULE
    path.write_text(f"{src}{attribute}\n", encoding="utf-8")
    with pytest.raises(ArtifactError) as exc:
        build_pack([rules], TEST_VALUES, tmp_path / "build")
    return str(exc.value), f"{path}:{len(src.splitlines()) + 1}"
