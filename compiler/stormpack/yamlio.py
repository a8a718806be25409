"""Strict YAML reading: duplicate keys, aliases and non-UTF-8 input are errors with file and line.

PyYAML silently keeps the last of two duplicate keys, which would let a rule hide a detection
item; alias expansion allows "billion laughs" documents. Rules, fixtures and values are read
through here so both are reported instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Location
from .errors import YamlError as YamlError

MAX_YAML_BYTES = 5 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping key is not a scalar", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                f"while reading a mapping (first '{key}' at line {seen[key] + 1})",
                node.start_mark,
                f"duplicate key '{key}'",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _NoAliasComposer(_StrictLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in rule, fixture or values files",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _error(exc: yaml.YAMLError, source: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
    return YamlError(msg, Location(source, line))


_CLoader: Any = getattr(yaml, "CSafeLoader", None)

if _CLoader is not None:
    class _StrictCLoader(_CLoader):  # type: ignore[misc]
        """libyaml's parser with the strict constructor (duplicate keys are errors)."""

    _StrictCLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _has_alias(root: yaml.Node) -> bool:
    """An alias composes to the very node object of its anchor: a node met twice is one."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return False


_SLOW = object()


def _load_fast(text: str, allow_aliases: bool, multi: bool) -> Any:
    """The document(s) parsed by libyaml (about 5x faster than the Python parser), or _SLOW when
    the text needs the Python loader: it has an alias where aliases are refused, or any error
    (which the Python loader then reports with its exact message and line)."""
    if _CLoader is None:
        return _SLOW
    loader = _StrictCLoader(text)
    try:
        if multi:
            nodes = []
            while loader.check_node():
                nodes.append(loader.get_node())
        else:
            node = loader.get_single_node()
            nodes = [node] if node is not None else []
        if not allow_aliases and any(_has_alias(n) for n in nodes):
            return _SLOW
        docs = [loader.construct_document(n) for n in nodes]
    except (yaml.YAMLError, RecursionError):
        return _SLOW
    finally:
        loader.dispose()
    if multi:
        return docs
    return docs[0] if docs else None


def load_yaml_text(text: str, source: str, *, allow_aliases: bool = True, multi: bool = False) -> Any:
    """Parse YAML text strictly. ``multi`` returns a list of documents.

    libyaml parses when it is available; the Python loader gives the error of a malformed text
    and refuses aliases with the line of their use."""
    fast = _load_fast(text, allow_aliases, multi)
    if fast is not _SLOW:
        return fast
    loader_cls = _StrictLoader if allow_aliases else _NoAliasComposer
    try:
        if multi:
            return list(yaml.load_all(text, Loader=loader_cls))  # noqa: S506 - safe loader subclass
        return yaml.load(text, Loader=loader_cls)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        raise _error(exc, source) from None
    except RecursionError:
        raise YamlError("malformed YAML: nesting too deep", Location(source)) from None


def read_text_file(path: Path, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """Read a UTF-8 text file, reporting size and encoding problems with the file name."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}", Location(path)) from None
    if size > max_bytes:
        raise YamlError(f"file is {size} bytes, larger than the {max_bytes}-byte limit", Location(path))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", Location(path, line)) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise YamlError("file contains a NUL byte (binary file?)", Location(path, line))
    return text


def load_yaml_file(path: Path, *, allow_aliases: bool = False, multi: bool = False) -> Any:
    return load_yaml_text(read_text_file(path), str(path), allow_aliases=allow_aliases, multi=multi)
