"""Record shapes per target: the record as each target stores it, and back.

* :func:`~.derive.derive` - a source record (raw UAL record, Entra diagnostic-settings record)
  as a target stores it: an ``OfficeActivity`` / ``SigninLogs`` / ``AuditLogs`` row, a
  ``CloudAppEvents`` / ``EntraIdSignInEvents`` row, a Splunk event as ``spath`` extracts it.
* :func:`~.agreement.target_rule` - a rule mapped by a target's shipped pipeline, evaluated on
  derived records with the matcher's predicates (tests/test_agreement.py, docs/agreement.md).

Everything is driven by data/targets/<target>.yml (:mod:`.forms`); there is no second mapping.
"""

from .derive import Derived, derive, splunk_event

__all__ = ["Derived", "derive", "splunk_event"]
