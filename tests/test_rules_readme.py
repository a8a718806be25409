"""rules/README.md (the campaign-phase map) stays true: every rule listed once, with its level."""

from __future__ import annotations

import re
from pathlib import Path

from stormpack.ruleset import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| \[(?P<title>[^\]]+)\]\((?P<path>[^)]+)\) \| [^|]+ \| (?P<level>\w+) \|")


def test_phase_map_lists_every_rule_once_with_its_title_and_level() -> None:
    rows = [m for line in (ROOT / "rules" / "README.md").read_text().splitlines() if (m := ROW.match(line))]
    listed = [m["path"] for m in rows]
    assert len(listed) == len(set(listed)), "a rule is listed twice"
    pack = {str(lr.path.relative_to(ROOT / "rules")): lr for lr in load_ruleset([ROOT / "rules"])}
    assert set(listed) == set(pack), (
        f"missing from rules/README.md: {sorted(set(pack) - set(listed))}; "
        f"listed but not a rule: {sorted(set(listed) - set(pack))}"
    )
    for m in rows:
        lr = pack[m["path"]]
        assert m["title"] == lr.title
        assert lr.rule.level is not None and m["level"] == lr.rule.level.name.lower()
