"""``python -m stormpack.querycheck sentinel|defender`` prints the KQL checker's exported schema."""

from __future__ import annotations

from .schema import main

raise SystemExit(main())
