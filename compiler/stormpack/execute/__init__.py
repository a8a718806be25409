"""Execute compiled queries on target-shaped records (issue #9).

* :mod:`.base` - the contract every executor meets: a :class:`~.base.Dataset` in, rows out.
* ``kql/`` - KQL (Sentinel, Defender) evaluated over Microsoft's Kusto.Language syntax tree.
* ``spl/`` - the SPL subset stormpack emits (Splunk).
"""

from .base import Dataset, Executor, Row, UnsupportedConstruct

__all__ = ["Dataset", "Executor", "Row", "UnsupportedConstruct"]
