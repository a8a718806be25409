"""Loading Sigma rule files into pySigma objects, with errors that name file and line.

Two pySigma 1.5.1 traps are handled here, once, for every consumer:

* pySigma's processing pipelines mutate rules in place, so a rule converted for one target is
  not fit for the next. :func:`load_ruleset` always parses fresh objects; call it once per
  target and output format (it is cheap).
* ``SigmaCollection.resolve_rule_references`` orders rules with ``sorted()``, a partial order that
  can put a correlation before the rules it references ("Conversion result not available"). We
  resolve references ourselves and order rules topologically: referenced rules first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sigma.modifiers as _sigma_modifiers
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from . import firstseen
from .errors import Location, RuleLoadError, ValuesError
from .paths import expand_paths
from .yamlio import YamlError, load_yaml_file, read_text_file

RULE_SUFFIXES = (".yml", ".yaml")

# Sigma spec v2 names `utf16le` as an alias of `wide`; pySigma 1.5.1 lacks the alias and would
# reject such a rule. Register it once here, where every consumer loads rules.
_sigma_modifiers.modifier_mapping.setdefault("utf16le", _sigma_modifiers.SigmaWideModifier)
AnyRule = SigmaRule | SigmaCorrelationRule


@dataclass
class LoadedRule:
    """One parsed rule and where it came from."""

    rule: AnyRule
    path: Path
    text: str

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def title(self) -> str:
        return str(self.rule.title)

    @property
    def id(self) -> str:
        return str(self.rule.id) if self.rule.id is not None else ""

    @property
    def is_correlation(self) -> bool:
        return isinstance(self.rule, SigmaCorrelationRule)

    def line_of(self, needle: str) -> int | None:
        return find_line(self.text, needle)

    def location(self, needle: str | None = None) -> Location:
        return Location(self.path, self.line_of(needle) if needle else None)


@dataclass
class RuleSet:
    """Rules in dependency order (every correlation after the rules it references)."""

    rules: list[LoadedRule]
    collection: SigmaCollection = field(repr=False)

    def __iter__(self) -> Iterator[LoadedRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def by_id(self, rule_id: str) -> LoadedRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def for_rule(self, rule: Any) -> LoadedRule:
        for r in self.rules:
            if r.rule is rule:
                return r
        raise KeyError(getattr(rule, "title", rule))

    def referenced_by(self, corr: LoadedRule) -> list[LoadedRule]:
        """The rules a correlation references, as LoadedRules."""
        assert isinstance(corr.rule, SigmaCorrelationRule)
        return [self.for_rule(ref.rule) for ref in corr.rule.rules or []]


def find_line(text: str, needle: str) -> int | None:
    """1-based line of the first occurrence of ``needle`` (as a YAML key or value) in text."""
    if not needle:
        return None
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    return None


def resolve_rule_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and directories (recursively, *.yml / *.yaml) into a sorted file list."""
    return expand_paths(paths, what="rule", error=RuleLoadError, keep=lambda f, _: f.suffix in RULE_SUFFIXES,
                        none_kept="directory holds no rule files (*.yml, *.yaml)", is_input=Path.is_file)


_MODIFIER_RE = re.compile(r"'([^']+)'")


def _sigma_error(exc: SigmaError, path: Path, text: str) -> RuleLoadError:
    msg = str(exc)
    # pySigma appends " in <path>" to messages that carry a source; drop it, we say it ourselves.
    suffix = f" in {path}"
    if msg.endswith(suffix):
        msg = msg[: -len(suffix)]
    line = None
    for quoted in _MODIFIER_RE.findall(msg):
        line = find_line(text, quoted)
        if line:
            break
    return RuleLoadError(f"invalid Sigma: {msg}", Location(path, line))


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _regex_keys_without_text(node: Any) -> Iterator[str]:
    """Detection keys with the `re` modifier whose value (or a list element) is not text."""
    if isinstance(node, list):
        for item in node:
            yield from _regex_keys_without_text(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and "re" in key.split("|")[1:]:
                values = value if isinstance(value, list) else [value]
                if not all(isinstance(v, str) for v in values):
                    yield key
            elif isinstance(value, dict | list):
                yield from _regex_keys_without_text(value)


def _check_shapes(doc: dict[Any, Any], path: Path, text: str) -> None:
    """Shapes pySigma 1.5.1 accepts but later trips over with a TypeError in the matcher or a
    backend (found by tests/test_hostile_loaders.py): a condition, a `|re` value or a `fields`
    entry that is not text; and a title with a line break or other control character."""
    title = doc.get("title")
    if isinstance(title, str) and _CONTROL.search(title):
        # titles become one-line names downstream (Splunk .conf stanza headers, alert names):
        # a line break there would let a rule write its own configuration keys
        raise RuleLoadError("the title must be one line of text without control characters",
                            Location(path, find_line(text, "title:")))
    det = doc.get("detection")
    if isinstance(det, dict) and "condition" in det:
        cond = det["condition"]
        conds = cond if isinstance(cond, list) else [cond]
        if not conds or not all(isinstance(c, str) for c in conds):
            raise RuleLoadError("the detection condition must be text (or a list of text)",
                                Location(path, find_line(text, "condition:")))
    for key in _regex_keys_without_text(det):
        raise RuleLoadError(f"'{key}': a regular expression must be text",
                            Location(path, find_line(text, f"{key}:")))
    fields = doc.get("fields")
    if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
        raise RuleLoadError("fields must be a list of field names",
                            Location(path, find_line(text, "fields:")))


def _parse_file(path: Path) -> tuple[list[AnyRule], str]:
    try:
        text = read_text_file(path)
        docs = load_yaml_file(path, multi=True)
    except YamlError as exc:
        raise RuleLoadError(exc.message, exc.location) from None
    docs = [d for d in docs if d is not None]
    if not docs:
        raise RuleLoadError("file holds no YAML document", Location(path, 1))
    for d in docs:
        if not isinstance(d, dict):
            raise RuleLoadError(
                f"a Sigma rule must be a YAML mapping, not {type(d).__name__}", Location(path, 1)
            )
        _check_shapes(d, path, text)
    docs, first_seen = firstseen.prepare(docs, path, text)
    try:
        coll = SigmaCollection.from_dicts(
            docs, collect_errors=True, source=SigmaRuleLocation(path), resolve_references=False
        )
    except SigmaError as exc:
        raise _sigma_error(exc, path, text) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # pySigma on wrong types
        raise RuleLoadError(f"invalid Sigma: {type(exc).__name__}: {exc}", Location(path)) from None
    errors: list[SigmaError] = list(coll.errors)
    for r in coll.rules:
        errors.extend(e for e in r.errors if e not in errors)
    if errors:
        raise _sigma_error(errors[0], path, text)
    if len(coll.rules) == len(first_seen):
        for r, spec in zip(coll.rules, first_seen, strict=True):
            firstseen.mark(r, spec)
    elif any(first_seen):
        raise RuleLoadError(f"{firstseen.TYPE}: pySigma read {len(coll.rules)} rules from "
                            f"{len(first_seen)} documents", Location(path))
    return list(coll.rules), text


def _toposort(loaded: list[LoadedRule]) -> list[LoadedRule]:
    by_obj = {id(lr.rule): lr for lr in loaded}
    out: list[LoadedRule] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(lr: LoadedRule) -> None:
        key = id(lr.rule)
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise RuleLoadError(f"correlation rule '{lr.title}' references itself in a cycle", lr.location())
        state[key] = 1
        if isinstance(lr.rule, SigmaCorrelationRule):
            for ref in lr.rule.rules or []:
                dep = by_obj.get(id(ref.rule))
                if dep is not None:
                    visit(dep)
        state[key] = 2
        out.append(lr)

    for lr in loaded:
        visit(lr)
    return out


def load_ruleset(paths: Sequence[str | Path]) -> RuleSet:
    """Parse every rule file under ``paths`` into fresh pySigma objects, referenced rules first.

    Raises :class:`RuleLoadError` naming the file (and line when it can be found) on the first
    file that is not valid YAML or not valid Sigma, and on a dangling correlation reference.
    """
    loaded: list[LoadedRule] = []
    for path in resolve_rule_paths(paths):
        rules, text = _parse_file(path)
        loaded.extend(LoadedRule(rule=r, path=path, text=text) for r in rules)
    ids: dict[str, LoadedRule] = {}
    for lr in loaded:
        if lr.id and lr.id in ids:
            other = ids[lr.id]
            raise RuleLoadError(
                f"duplicate rule id {lr.id} (also in {other.path})", lr.location(lr.id)
            )
        ids[lr.id] = lr
    coll = SigmaCollection(init_rules=[lr.rule for lr in loaded], resolve_references=False)
    for lr in loaded:
        if isinstance(lr.rule, SigmaCorrelationRule):
            try:
                lr.rule.resolve_rule_references(coll)
            except SigmaError as exc:
                raise _sigma_error(exc, lr.path, lr.text) from None
    ordered = _toposort(loaded)
    coll.rules = [lr.rule for lr in ordered]
    return RuleSet(rules=ordered, collection=coll)


def iter_detection_items(rule: SigmaRule) -> Iterable[tuple[str, SigmaDetectionItem]]:
    """("<detection name>", item) for every detection item of a rule, nested detections walked
    (the one walk over a rule's detections: the compiler, the tenant lists, the conventions)."""

    def walk(det: Any, name: str) -> Iterable[tuple[str, SigmaDetectionItem]]:
        if isinstance(det, SigmaDetectionItem):
            yield name, det
        elif isinstance(det, SigmaDetection):
            for item in det.detection_items:
                yield from walk(item, name)

    for name, det in rule.detection.detections.items():
        yield from walk(det, name)


def iter_detection_fields(rule: SigmaRule) -> Iterable[tuple[str, str]]:
    """(field, "<detection name>") for every field-bound detection item of a rule."""
    for name, item in iter_detection_items(rule):
        if item.field is not None:
            yield item.field, name


# ---------------------------------------------------------------------------------- values
def load_values(path: str | Path | None) -> dict[str, list[str]]:
    """Read a values file, or every *.yml file of a values directory, into one mapping.

    A values file is a YAML mapping of placeholder name -> list of strings. Placeholders are
    written ``'%name%'`` under the ``|expand`` modifier in rules. A name defined in two files of a
    directory is an error. No path means "no values": a rule that needs one then fails to
    compile or match, loudly, instead of silently matching nothing.
    """
    if path is None:
        return {}
    p = Path(path)
    if p.is_dir():
        merged: dict[str, list[str]] = {}
        origin: dict[str, Path] = {}
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in RULE_SUFFIXES)
        for f in files:
            for name, vals in _load_values_file(f).items():
                if name in merged:
                    text = read_text_file(f)
                    raise ValuesError(
                        f"placeholder '{name}' is also defined in {origin[name]}",
                        Location(f, find_line(text, f"{name}:")),
                    )
                merged[name] = vals
                origin[name] = f
        return merged
    if not p.is_file():
        raise ValuesError("no such values file or directory", Location(p))
    return _load_values_file(p)


def _load_values_file(p: Path) -> dict[str, list[str]]:
    try:
        data = load_yaml_file(p)
    except YamlError as exc:
        raise ValuesError(exc.message, exc.location) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError("a values file must be a mapping of placeholder name to a list", Location(p, 1))
    out: dict[str, list[str]] = {}
    text = read_text_file(p)
    for name, vals in data.items():
        loc = Location(p, find_line(text, f"{name}:"))
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValuesError(f"bad placeholder name {name!r}", loc)
        if isinstance(vals, (str, int)):
            vals = [vals]
        if not isinstance(vals, list) or not vals:
            raise ValuesError(f"placeholder '{name}' must have a non-empty list of values", loc)
        items = []
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise ValuesError(f"placeholder '{name}': value {v!r} is not a string", loc)
            items.append(str(v))
        out[name] = items
    return out


# ---------------------------------------------------------------------------------- base rules
@dataclass(frozen=True)
class BaseRuleFiles:
    """Rule files added so that every correlation among the given files finds its base rules."""

    roots: list[Path]  # the rule sets searched (see :func:`rule_set_root`); empty when none was
    added: list[Path]

    def note(self) -> str:
        """One line saying which files were added, for stderr (empty when none were)."""
        if not self.added:
            return ""
        names = ", ".join(p.as_posix() for p in self.added)
        where = ", ".join(str(r) for r in self.roots)
        return f"note: loaded the correlation base rules from the rule set {where}: {names}"


def rule_set_root(path: Path) -> Path:
    """The rule set a file belongs to: the nearest folder called ``rules`` above it, else the
    folder holding the file."""
    resolved = path.resolve()
    for parent in resolved.parents:
        if parent.name == "rules":
            return parent
    return resolved.parent


def _names_and_refs(path: Path) -> tuple[set[str], set[str]]:
    """(names and ids a file defines, names and ids its correlations reference); unreadable or
    malformed files define nothing here (loading them reports why, if they are needed)."""
    try:
        docs = load_yaml_file(path, multi=True)
    except YamlError:
        return set(), set()
    defined: set[str] = set()
    refs: set[str] = set()
    for d in docs:
        if not isinstance(d, dict):
            continue
        defined.update(str(d[k]) for k in ("id", "name") if isinstance(d.get(k), str))
        corr = d.get("correlation")
        if isinstance(corr, dict) and isinstance(corr.get("rules"), list):
            refs.update(str(r) for r in corr["rules"] if isinstance(r, str))
    return defined, refs


def find_base_rules(paths: Sequence[str | Path]) -> BaseRuleFiles:
    """The files of the rule set(s) the given files belong to that define rules their
    correlations reference and that are not already among them (transitively: a base rule may
    itself be a correlation). Nothing is added when every reference is already satisfied; a
    reference found nowhere is left to :func:`load_ruleset`, which names it."""
    files = resolve_rule_paths(paths)
    defined: set[str] = set()
    wanted: set[str] = set()
    for f in files:
        d, r = _names_and_refs(f)
        defined |= d
        wanted |= r
    missing = wanted - defined
    if not missing:
        return BaseRuleFiles(roots=[], added=[])
    roots = sorted({rule_set_root(f) for f in files})
    given = {f.resolve() for f in files}
    cwd = Path.cwd().resolve()
    index: list[tuple[Path, set[str], set[str]]] = []
    seen: set[Path] = set()
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in RULE_SUFFIXES):
            key = f.resolve()
            if key in given or key in seen:
                continue
            seen.add(key)
            shown = f.relative_to(cwd) if f.is_relative_to(cwd) else f
            index.append((shown, *_names_and_refs(f)))
    added: list[Path] = []
    while missing:
        found = [(f, d, r) for f, d, r in index if f not in added and d & missing]
        if not found:
            break
        for f, d, r in found:
            added.append(f)
            defined |= d
            missing |= r
        missing -= defined
    return BaseRuleFiles(roots=roots if added else [], added=added)
