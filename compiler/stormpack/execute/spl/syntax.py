"""Lexical structure of SPL: macro expansion, the pipeline split and the two token languages
(the search command's terms, and eval/where expressions).

https://docs.splunk.com/Documentation/Splunk/latest/Search/Aboutsearchlanguagesyntax
https://docs.splunk.com/Documentation/Splunk/latest/Knowledge/Usesearchmacros
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..base import UnsupportedConstruct


@dataclass(frozen=True)
class Token:
    kind: str  # STR (double-quoted) | FIELD (single-quoted) | NUM | WORD | OP | LP | RP | COMMA
    text: str


def _scan_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the quoted string starting at ``text[i]`` (backslash escapes honoured)."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    raise UnsupportedConstruct(f"unterminated {quote} string in SPL: {text[i:i + 40]!r}")


def split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes, parentheses and square brackets (subsearches)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = _scan_quoted(text, i, c)
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


_MACRO = re.compile(r"`([^`]*)`")


def expand_macros(text: str, macros: Mapping[str, str], depth: int = 0) -> str:
    """Replace every `` `name` `` / `` `name(a, b)` `` by its macros.conf definition (stanza
    ``name`` or ``name(2)``); arguments replace ``$1$``, ``$2$`` ... in order (the names of the
    stanza's ``args`` are turned into positions when the app is loaded, see :mod:`.app`).
    Nested macros expand too. https://docs.splunk.com/Documentation/Splunk/latest/Knowledge/Definesearchmacros"""
    if depth > 20:
        raise UnsupportedConstruct("macro expansion nested deeper than 20 levels (a macro calls itself?)")

    def one(m: re.Match[str]) -> str:
        call = m.group(1).strip()
        args: list[str] = []
        name = call
        if call.endswith(")") and "(" in call:
            name = call[: call.index("(")].strip()
            inner = call[call.index("(") + 1: -1]
            args = [a.strip() for a in split_top(inner, ",")] if inner.strip() else []
        key = f"{name}({len(args)})" if args else name
        if key not in macros:
            raise UnsupportedConstruct(f"macro `{call}`: no stanza [{key}] in the dataset's macros")
        body = macros[key]
        for n, a in enumerate(args, 1):
            if "=" in a and not a.startswith('"'):
                raise UnsupportedConstruct(f"macro `{call}`: named macro arguments")
            body = body.replace(f"${n}$", a)
        return expand_macros(body, macros, depth + 1)

    return _MACRO.sub(one, text)


def split_pipeline(text: str) -> list[str]:
    """The commands of a search, split on ``|`` outside double quotes, macros and subsearch
    brackets: the SPL lint's splitter (:func:`stormpack.querycheck.spl.split_commands`), so the
    lint and the executor read a pipeline the same way."""
    from ...querycheck.spl import split_commands

    return [c.text for c in split_commands(text)]


def _scan_bracket(text: str, i: int) -> int:
    """Index just past the ``[ ... ]`` subsearch starting at ``text[i]``."""
    depth = 0
    j = i
    while j < len(text):
        c = text[j]
        if c in "\"'":
            j = _scan_quoted(text, j, c)
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise UnsupportedConstruct(f"unbalanced [ in SPL: {text[i:i + 40]!r}")


_SEARCH_OPS = ("!=", "<=", ">=", "=", "<", ">")


def search_tokens(text: str) -> list[Token]:
    """Tokens of the search command: quoted strings, parentheses, commas, comparison operators
    and words (anything else up to whitespace: ``Parameters{}.Name``, ``*@*``, ``-70m@m``)."""
    out: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            j = _scan_quoted(text, i, '"')
            out.append(Token("STR", text[i:j]))
            i = j
        elif c == "(":
            out.append(Token("LP", c))
            i += 1
        elif c == ")":
            out.append(Token("RP", c))
            i += 1
        elif c == ",":
            out.append(Token("COMMA", c))
            i += 1
        elif c == "[":
            j = _scan_bracket(text, i)
            out.append(Token("SUB", text[i + 1: j - 1]))
            i = j
        elif c == "]":
            raise UnsupportedConstruct(f"search: ']' without '[' in {text!r}")
        else:
            op = next((o for o in _SEARCH_OPS if text.startswith(o, i)), None)
            if op is not None:
                out.append(Token("OP", op))
                i += len(op)
                continue
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()",=<>[]' \
                    and not text.startswith("!=", j):
                j += 1
            out.append(Token("WORD", text[i:j]))
            i = j
    return out


_EVAL_OPS = ("==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", ".")
_NUM = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def eval_tokens(text: str) -> list[Token]:
    """Tokens of eval/where expressions: ``"text"``, ``'field name'``, numbers, identifiers
    (field or function names, ``AND``/``OR``/``NOT``/``LIKE``), operators, ``( ) ,``.
    https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/Eval"""
    out: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            j = _scan_quoted(text, i, c)
            out.append(Token("STR" if c == '"' else "FIELD", text[i:j]))
            i = j
        elif c in "(),":
            out.append(Token({"(": "LP", ")": "RP", ",": "COMMA"}[c], c))
            i += 1
        elif (m := _NUM.match(text, i)) is not None and not (out and out[-1].kind in ("WORD", "FIELD")):
            out.append(Token("NUM", m.group(0)))
            i = m.end()
        elif (m := _IDENT.match(text, i)) is not None:
            out.append(Token("WORD", m.group(0)))
            i = m.end()
        else:
            op = next((o for o in _EVAL_OPS if text.startswith(o, i)), None)
            if op is None:
                raise UnsupportedConstruct(f"eval expression: unexpected character {c!r} in {text!r}")
            out.append(Token("OP", op))
            i += len(op)
    return out
