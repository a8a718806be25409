"""The compiler: Sigma rules -> Microsoft Sentinel KQL, Defender XDR KQL, Splunk SPL.

Public API: TARGETS, compile_rules(rule_paths, target, values) -> CompileResult (.queries,
.skipped), CompiledQuery. See docs/compiler.md.
"""

from __future__ import annotations

from .engine import CompiledQuery, CompileResult, compile_rules
from .targets import TARGETS

EXTENSIONS: dict[str, str] = {"sentinel": "kql", "defender": "kql", "splunk": "spl"}

__all__ = ["TARGETS", "EXTENSIONS", "CompiledQuery", "CompileResult", "compile_rules"]
