"""Errors of the offline query checkers (KQL parser bridge, schema export, SPL lint).

Defined in :mod:`stormpack.errors` with every other exception; re-exported here under the old names."""

from __future__ import annotations

from ..errors import CheckerFailedError as CheckerFailedError
from ..errors import CheckerUnavailableError as CheckerUnavailableError
from ..errors import QueryCheckError as QueryCheckError
from ..errors import SchemaExportError as SchemaExportError
from ..errors import SplSyntaxError as SplSyntaxError
