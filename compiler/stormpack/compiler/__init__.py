"""The compiler: Sigma rules -> Microsoft Sentinel KQL, Defender XDR KQL, Splunk SPL.

Public API: TARGETS, compile_rules(rule_paths, target, values) -> CompileResult (.queries,
.skipped), CompiledQuery. See docs/compiler.md.

The compile engine (and with it pySigma's backends) is imported on first use, so that the
hunt, which only needs the target data (:mod:`.targets`), starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import EXTENSIONS, TARGETS

if TYPE_CHECKING:
    from .engine import CompiledQuery, CompileResult, compile_rules

__all__ = ["TARGETS", "EXTENSIONS", "CompiledQuery", "CompileResult", "compile_rules"]

_LAZY = frozenset({"CompiledQuery", "CompileResult", "compile_rules"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
