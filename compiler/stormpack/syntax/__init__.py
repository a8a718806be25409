"""Query-language syntax objects (issue 16): every name, literal, operator and recurring
expression stormpack writes in KQL (:data:`KQL`) or SPL (:data:`SPL`) is spelled here, and only
here (tests/test_syntax.py keeps quoting and escaping from reappearing elsewhere)."""

from __future__ import annotations

from typing import Literal

from .base import Step
from .kql import KQL, KqlSyntax
from .spl import SPL, SplSyntax

QuerySyntax = KqlSyntax | SplSyntax


def for_backend(backend: Literal["kusto", "splunk"]) -> QuerySyntax:
    """The syntax object of a target's backend (data/targets/<target>.yml ``backend:``)."""
    return KQL if backend == "kusto" else SPL


__all__ = ["KQL", "SPL", "KqlSyntax", "QuerySyntax", "SplSyntax", "Step", "for_backend"]
