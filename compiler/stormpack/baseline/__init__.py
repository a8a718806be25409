"""`stormpack baseline`: learn a tenant's lists (the pack's placeholders) from its own exports.

:func:`run_baseline` reads the exports with the hunt's readers (:mod:`.learn`), decides per value
whether it is allowed or goes to review (:mod:`.review`), and :mod:`.output` writes the values
directory and the report. What each list learns from is data (``data/baseline_learners.yml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import EventReadError
from ..readers import Rejected
from .knowledge import campaign_iocs, first_party_apps, never_allow
from .learn import LearnEngine, learn
from .output import MAX_REJECTIONS, BaselineResult, ListResult, write_report, write_values
from .review import DEFAULT_MIN_DAYS, DEFAULT_MIN_USERS, Thresholds, decide
from .spec import default_learners

__all__ = ["DEFAULT_MIN_DAYS", "DEFAULT_MIN_USERS", "BaselineResult", "Thresholds", "run_baseline",
           "write_report", "write_values"]


def run_baseline(events: Sequence[str | Path], seed: Mapping[str, list[str]], rules_dir: Path,
                 thresholds: Thresholds | None = None, *,
                 on_reject: Callable[[Rejected], None] | None = None,
                 on_unusable: Callable[[EventReadError], None] | None = None) -> BaselineResult:
    """Learn every list of the learner data from ``events``. ``seed``: the values the learner
    selections' placeholders are resolved with, and what a list keeps when nothing learned for
    it passes review; ``rules_dir``: the pack whose IOC rules give the campaign IOCs."""
    thresholds = thresholds or Thresholds()
    learners = default_learners()
    never = never_allow()
    iocs = campaign_iocs(rules_dir)
    engine = LearnEngine(learners, seed, iocs, never)
    rejections: list[Rejected] = []

    def reject(item: Rejected) -> None:
        if len(rejections) < MAX_REJECTIONS:
            rejections.append(item)
        if on_reject is not None:
            on_reject(item)

    stats = learn(engine, events, on_reject=reject, on_unusable=on_unusable)
    fp = first_party_apps()
    lists: dict[str, ListResult] = {}
    for name, ls in engine.lists.items():
        decisions = decide(ls, thresholds, fp, never, iocs)
        allowed = [d.value for d in decisions if d.allowed]
        lists[name] = ListResult(ls, decisions, allowed or list(seed.get(name, [])), not allowed)
    return BaselineResult(lists, stats, thresholds, [str(e) for e in events], rejections)
