"""Which executor runs which target's compiled queries (data, not code paths).

A query language maps to the module holding its executor class and the class name, and every
target of the registry to the executor of its language; the module is
imported on first use, so a target whose executor is not installed fails with a clear message
naming it instead of breaking the other targets.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from ..compiler.registry import Language, registry
from ..errors import ExecutorUnavailable as ExecutorUnavailable
from .base import Executor


@dataclass(frozen=True)
class ExecutorSpec:
    module: str
    cls: str
    shape: str  # how a fixture record becomes a dataset row: "kql" (derive the table row) or "spl"


#: one executor per query language; a target gets the one of its language (the target registry)
BY_LANGUAGE: Mapping[Language, ExecutorSpec] = {
    "kql": ExecutorSpec("stormpack.execute.kql", "KqlExecutor", "kql"),
    "spl": ExecutorSpec("stormpack.execute.spl", "SplExecutor", "spl"),
}
EXECUTORS: Mapping[str, ExecutorSpec] = {t: BY_LANGUAGE[info.language] for t, info in registry().items()}


def executor_for(target: str) -> Executor:
    spec = EXECUTORS.get(target)
    if spec is None:
        raise ExecutorUnavailable(f"no executor for target '{target}' (known: {', '.join(EXECUTORS)})")
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        raise ExecutorUnavailable(
            f"{spec.shape.upper()} executor not available for {target}: module {spec.module} "
            f"is missing ({exc})") from None
    cls = getattr(module, spec.cls, None)
    if cls is None:
        raise ExecutorUnavailable(f"executor not available: {spec.module} has no {spec.cls}")
    ex: Executor = cls(target)
    return ex
