"""``stormpack validate``: offline checks of rules, fixtures and conventions (docs/validation.md).

Entry point: :func:`stormpack.validate.runner.validate`. Modules: ``loading`` (per-file parse),
``conventions`` (pack rules), ``fixtures_check``, ``pysigma_checks`` (pySigma + SigmaHQ
validators on vendored data), ``exceptions`` (self-expiring accepted findings), ``gitchanges``
(``--changed-since``), ``report`` (text / JSON / SARIF), ``attack`` (pinned ATT&CK data),
``sigmahq_data`` (vendored SigmaHQ data), ``rulefmt`` (``stormpack fmt``).
"""
