"""`stormpack baseline`: learn a tenant's lists (the pack's placeholders) from its own exports.

:func:`run_baseline` reads the exports with the hunt's readers (:mod:`.learn`), decides per value
whether it is allowed or goes to review (:mod:`.review`), and :mod:`.output` writes the values
directory and the report. What each list learns from is data (``data/baseline_learners.yml``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import EventReadError
from ..readers import Rejected
from .knowledge import campaign_iocs, first_party_apps, never_allow
from .learn import LearnEngine, Window, learn
from .output import MAX_REJECTIONS, BaselineResult, ListResult, write_report, write_values
from .review import DEFAULT_MIN_DAYS, DEFAULT_MIN_USERS, Thresholds, decide
from .spec import Learner, default_learners

__all__ = ["DEFAULT_MIN_DAYS", "DEFAULT_MIN_USERS", "BaselineResult", "Thresholds", "Window", "run_baseline",
           "write_report", "write_values"]


#: Paired lists learn from each other (the ids seen with a family's prefixes, the prefixes seen
#: with its ids): learning is repeated with the allowed values added to the seed until nothing
#: changes, at most this many reads of the exports.
MAX_PASSES = 3
_PLACEHOLDER = re.compile(r"%(\w+)%")


def _selection_lists(learners: Mapping[str, Learner]) -> set[str]:
    """The lists the learners' selections read (their placeholders)."""
    return {name for ln in learners.values() for src in ln.sources
            for name in _PLACEHOLDER.findall(str(src.select))}


def run_baseline(events: Sequence[str | Path], seed: Mapping[str, list[str]], rules_dir: Path,
                 thresholds: Thresholds | None = None, *, window: Window | None = None,
                 on_reject: Callable[[Rejected], None] | None = None,
                 on_unusable: Callable[[EventReadError], None] | None = None) -> BaselineResult:
    """Learn every list of the learner data from ``events``. ``seed``: the values the learner
    selections' placeholders are resolved with first (then with what was learned, see
    MAX_PASSES), and what a list keeps when nothing learned for it passes review; ``rules_dir``:
    the pack whose IOC rules give the campaign IOCs. Rejections and unusable files are reported
    once (from the first read)."""
    thresholds = thresholds or Thresholds()
    learners = default_learners()
    never = never_allow()
    iocs = campaign_iocs(rules_dir)
    fp = first_party_apps()
    feedback = _selection_lists(learners)
    rejections: list[Rejected] = []

    def reject(item: Rejected) -> None:
        if len(rejections) < MAX_REJECTIONS:
            rejections.append(item)
        if on_reject is not None:
            on_reject(item)

    current = {k: list(v) for k, v in seed.items()}
    # later reads re-learn only the lists whose selections read other lists (the others do not
    # depend on the seed)
    dependent = {n: ln for n, ln in learners.items() if _selection_lists({n: ln})}
    engine = LearnEngine(learners, current, iocs, never, window)
    stats = learn(engine, events, on_reject=reject, on_unusable=on_unusable)
    final = dict(engine.lists)
    outside, undated = engine.outside, engine.undated
    decided = {name: decide(ls, thresholds, fp, never, iocs) for name, ls in final.items()}
    passes = 1
    while passes < MAX_PASSES:
        grown = {k: list(v) for k, v in current.items()}
        for name in feedback:
            for d in decided.get(name, []):
                if d.allowed and d.value not in grown.setdefault(name, []):
                    grown[name].append(d.value)
        if grown == current:
            break
        current = grown
        passes += 1
        again = LearnEngine(dependent, current, iocs, never, window)
        learn(again, events)
        for name, ls in again.lists.items():
            final[name] = ls
            decided[name] = decide(ls, thresholds, fp, never, iocs)
    lists: dict[str, ListResult] = {}
    for name, ls in final.items():
        allowed = [d.value for d in decided[name] if d.allowed]
        lists[name] = ListResult(ls, decided[name], allowed or list(seed.get(name, [])), not allowed)
    return BaselineResult(lists, stats, thresholds, [str(e) for e in events], rejections, passes,
                          window, outside, undated)
