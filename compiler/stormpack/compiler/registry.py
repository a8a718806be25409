"""The target registry: which targets exist and what each one is, read from data/targets/*.yml.

A target is one file ``data/targets/<name>.yml``; its header says what every other module needs
to know about it:

* ``language`` (``kql`` or ``spl``): the query language of its compiled queries (which executor
  runs them, which checker parses them);
* ``extension``: the file extension of ``build/<target>/<rule>.<extension>`` and the golden files;
* ``order``: its position in every list of targets (reports, catalogue, CLI choices);
* ``capabilities``: what the build writes for it besides the queries (:data:`Capability`).

Every list of targets in the package is derived from here (``tests/test_target_registry.py``
checks that each module's set equals this one and that this one equals the data files). The
rest of a target file (log sources, tables, fields) is read by :mod:`.targets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args

from ..errors import TaxonomyError, UnmappedLogsourceError
from ..yamlio import load_yaml_text

Language = Literal["kql", "spl"]
#: ``artifacts``: deployable product artifacts (Sentinel analytics rules, Defender XDR custom
#: detections, a Splunk app) and a column in the catalogue; ``watchlists`` / ``lookups``: tenant
#: lists are deployed as Sentinel watchlists / Splunk lookups and the queries read them there
#: instead of inlining the values (:mod:`stormpack.artifacts.lists`); ``exports``: rows exported
#: from the product's tables (portal / API exports) are read back as records by the hunt
#: (:mod:`stormpack.shapes.inverse`).
Capability = Literal["artifacts", "watchlists", "lookups", "exports"]
_LANGUAGES: frozenset[str] = frozenset(get_args(Language))
_CAPABILITIES: frozenset[str] = frozenset(get_args(Capability))
DATA_DIR = "data/targets"


@dataclass(frozen=True)
class TargetInfo:
    name: str
    title: str
    language: Language
    extension: str
    order: int
    capabilities: frozenset[Capability]

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def target_names_on_disk() -> list[str]:
    """The stem of every ``data/targets/*.yml`` file (unordered: the registry orders them)."""
    folder = resources.files("stormpack").joinpath(DATA_DIR)
    return sorted(p.name[: -len(".yml")] for p in folder.iterdir() if p.name.endswith(".yml"))


@cache
def target_data(name: str) -> Mapping[str, Any]:
    """The parsed ``data/targets/<name>.yml`` (read once per process)."""
    path = f"{DATA_DIR}/{name}.yml"
    text = resources.files("stormpack").joinpath(path).read_text(encoding="utf-8")
    data = load_yaml_text(text, f"stormpack/{path}")
    if not isinstance(data, dict):
        raise TaxonomyError(f"stormpack/{path}: a target file is a mapping")
    return data


def _info(name: str, data: Mapping[str, Any]) -> TargetInfo:
    where = f"stormpack/{DATA_DIR}/{name}.yml"
    if data.get("target") != name:
        raise TaxonomyError(f"{where}: 'target: {data.get('target')}' differs from the file name")
    language = data.get("language")
    if language not in _LANGUAGES:
        raise TaxonomyError(f"{where}: language must be one of {sorted(_LANGUAGES)}, not {language!r}")
    caps = data.get("capabilities") or []
    unknown = [c for c in caps if c not in _CAPABILITIES] if isinstance(caps, list) else [caps]
    if unknown:
        raise TaxonomyError(f"{where}: capabilities must be a list of {', '.join(sorted(_CAPABILITIES))}, "
                            f"not {unknown!r}")
    extension, order = data.get("extension"), data.get("order")
    if not isinstance(extension, str) or not extension.isalnum():
        raise TaxonomyError(f"{where}: extension must be a plain file extension, not {extension!r}")
    if not isinstance(order, int) or isinstance(order, bool):
        raise TaxonomyError(f"{where}: order must be an integer, not {order!r}")
    return TargetInfo(name=name, title=str(data.get("title", name)), language=language,
                      extension=extension, order=order, capabilities=frozenset(caps))


@cache
def registry() -> Mapping[str, TargetInfo]:
    """Target name -> :class:`TargetInfo`, in the targets' ``order``."""
    infos = [_info(n, target_data(n)) for n in target_names_on_disk()]
    orders = [i.order for i in infos]
    if len(set(orders)) != len(orders):
        raise TaxonomyError(f"stormpack/{DATA_DIR}: two targets share an order ({sorted(orders)})")
    return {i.name: i for i in sorted(infos, key=lambda i: i.order)}


def target_info(name: str) -> TargetInfo:
    info = registry().get(name)
    if info is None:
        raise UnmappedLogsourceError(f"unknown target '{name}' (known: {', '.join(TARGETS)})", target=name)
    return info


def targets_with(capability: Capability) -> tuple[str, ...]:
    """The targets that have ``capability``, in order."""
    return tuple(n for n, i in registry().items() if i.can(capability))


def targets_in(language: Language) -> tuple[str, ...]:
    """The targets whose queries are written in ``language``, in order."""
    return tuple(n for n, i in registry().items() if i.language == language)


TARGETS: tuple[str, ...] = tuple(registry())
EXTENSIONS: Mapping[str, str] = {n: i.extension for n, i in registry().items()}
#: the products the build writes deployable artifacts for (the catalogue's columns)
ARTIFACT_TARGETS: tuple[str, ...] = targets_with("artifacts")
