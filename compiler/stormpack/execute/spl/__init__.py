"""SPL executor: the search language subset stormpack emits, evaluated over Splunk-shaped events.

* :func:`executor` - the :class:`~..base.Executor` for target ``splunk``.
* :func:`splunk_events` - fixture records as the Splunk add-ons store and extract them.
* :func:`splunk_dataset` - a :class:`~..base.Dataset` with a built app's macros and lookups.
"""

from __future__ import annotations

from .app import SavedSearch, parse_conf, saved_searches, splunk_dataset
from .commands import SplExecutor
from .events import json_fields, splunk_event, splunk_events


def executor() -> SplExecutor:
    """The SPL executor (target ``splunk``)."""
    return SplExecutor()


__all__ = ["SavedSearch", "SplExecutor", "executor", "json_fields", "parse_conf", "saved_searches",
           "splunk_dataset", "splunk_event", "splunk_events"]
