"""Which rules are time-bounded (shipped as hunting queries, issue 10 point 5): derived from the
condition, so a rule with one unbounded way to match stays a scheduled rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sigma.rule import SigmaRule

from stormpack.artifacts.timebound import event_time_bound

HEAD = """title: t
id: 11111111-2222-3333-4444-555555555555
logsource: {product: azure, service: signinlogs}
level: high
detection:
  ioc: {properties.ipAddress: 1.2.3.4}
  ioc2: {properties.ipAddress: 5.6.7.8}
  may: {time|startswith: ['2023-05', '2023-06']}
  july: {time|startswith: '2023-07-14'}
  year: {time|startswith: '2022'}
  other: {time|contains: '2023-05'}
"""


def _bound(condition: str) -> tuple[datetime, datetime] | None:
    b = event_time_bound(SigmaRule.from_yaml(HEAD + f"  condition: {condition}\n"), "time")
    return None if b is None else (b.start, b.end)


def d(y: int, m: int, day: int = 1) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


@pytest.mark.parametrize(("condition", "bound"), [
    ("ioc and may", (d(2023, 5), d(2023, 7))),
    ("(ioc and may) or (ioc2 and july)", (d(2023, 5), d(2023, 7, 15))),
    ("ioc and year", (d(2022, 1), d(2023, 1))),
    ("may and july", (d(2023, 7, 14), d(2023, 7, 14))),  # disjoint: empty, still bounded
    ("ioc", None),
    ("(ioc and may) or ioc2", None),  # one branch without a time bound
    ("ioc and not may", None),
    ("ioc and other", None),  # contains is no date prefix
])
def test_bound_follows_the_condition(condition: str, bound: tuple[datetime, datetime] | None) -> None:
    assert _bound(condition) == bound


def test_label() -> None:
    b = event_time_bound(SigmaRule.from_yaml(HEAD + "  condition: ioc and may\n"), "time")
    assert b is not None and b.label() == "2023-05-01 to 2023-06-30"
