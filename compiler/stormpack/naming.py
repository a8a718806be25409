"""Names derived from rules: the title slug of rule file names, and the output name every compiled
query and artifact file of a rule is written under (the compiler's ``build/<target>/<name>.<ext>``
and the artifacts' ``sentinel/<name>.yaml``, ``defender/<name>.json``, Splunk stanzas)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ruleset import LoadedRule


def slug(text: str) -> str:
    """``Mail Read By Unknown App`` -> ``mail_read_by_unknown_app``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def output_name(rule: LoadedRule, rules: Iterable[LoadedRule]) -> str:
    """The file stem, or ``<file stem>__<title slug>`` when the file holds several of ``rules``
    (a correlation with its base rule), so that no two outputs collide."""
    siblings = sum(1 for other in rules if other.path == rule.path)
    return rule.stem if siblings == 1 else f"{rule.stem}__{slug(rule.title)}"
