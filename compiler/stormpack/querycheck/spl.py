"""SPL structure lint and SPL string decoding (no Splunk needed).

No offline SPL parser exists (see docs/query-checks.md), so this module implements the parts of
Splunk's documented search-language rules the pack relies on:

* **Commands.** A search is commands separated by ``|``; the first one is the ``search`` command,
  implied when the text does not start with ``|``. A search that starts with ``|`` must start with
  a generating command (``| tstats``, ``| inputlookup``, ``| makeresults``...); a pipe inside
  double quotes, inside ``[...]`` (a subsearch, itself a full search) or escaped as ``\\|`` does not
  split commands. Command names are case-insensitive.
* **Quoted strings.** ``"..."``; backslash escape sequences are expanded inside and outside quotes:
  ``\\"`` is a literal quote, ``\\\\`` a literal backslash, ``\\|`` a literal pipe. A backslash
  before any other character is not an escape sequence and is passed on unchanged (``\\s`` stays
  ``\\s``). :func:`decode_spl_quoted` implements exactly this.
* **Wildcards.** In ``search`` terms ``*`` is always a wildcard, quoted or not, and a backslash
  cannot escape it (Splunk documents that a literal ``*`` cannot be searched for; use ``| regex`` or
  ``| where``). In ``| where`` / ``| eval`` string literals ``*`` is an ordinary character, and in
  ``| regex`` / ``| rex`` the decoded string is a PCRE where ``\\*`` is a literal ``*``.
  :class:`SearchValue` exposes the search-term meaning (``wildcard``, ``exact``, ``segments``).
* **Single quotes** delimit field names in eval expressions (``where``, ``eval``, ``fieldformat``)
  and must be balanced there; in search terms a ``'`` is an ordinary character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..syntax import SPL
from .errors import SplSyntaxError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Built-in SPL commands (Splunk Enterprise Search Reference, "Command quick reference").
KNOWN_COMMANDS: frozenset[str] = _words(
    """
    abstract accum addcoltotals addinfo addtotals analyzefields anomalies anomalousvalue
    anomalydetection append appendcols appendpipe arules associate audit autoregress bin bucket
    bucketdir chart cluster cofilter collect concurrency contingency convert correlate ctable
    datamodel datamodelsimple dbinspect dedup delete delta diff erex eval eventcount eventstats
    extract fieldformat fields fieldsummary filldown fillnull findtypes folderize foreach format
    from fromjson gauge gentimes geom geomfilter geostats head highlight history iconify inputcsv
    inputintelligence inputlookup iplocation join kmeans kv kvform loadjob localize localop lookup
    makecontinuous makemv makeresults map mcatalog mcollect metadata metasearch meventcollect
    mpreview msearch mstats multikv multisearch mvcombine mvexpand nomv outlier outputcsv
    outputlookup outputtext overlap pivot predict rangemap rare redistribute regex reltime rename
    replace require rest return reverse rex rtorder savedsearch script scrub search searchtxn
    selfjoin sendalert sendemail set setfields sichart sirare sistats sitimechart sitop sort spath
    stats strcat streamstats table tags tail timechart timewrap tojson top transaction transpose
    trendline tscollect tstats typeahead typelearner typer union uniq untable walklex where x11
    xmlkv xmlunescape xpath xyseries
    """
)

# Commands that may start a search ("| name ..."): they generate results instead of
# transforming the results of a previous command.
GENERATING_COMMANDS: frozenset[str] = _words(
    """
    search tstats mstats multisearch inputlookup inputcsv makeresults metadata metasearch
    datamodel from rest dbinspect eventcount loadjob savedsearch pivot gentimes union set
    mcatalog mpreview msearch walklex history audit typeahead inputintelligence searchtxn
    """
)

# Commands whose arguments are eval expressions: single quotes delimit field names there.
EVAL_EXPRESSION_COMMANDS: frozenset[str] = frozenset({"where", "eval", "fieldformat"})

# The escape sequences Splunk expands (backslash + this character -> this character).
ESCAPABLE = frozenset('"\\|')

_COMMAND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_OPERATORS = ("!=", "<=", ">=", "==", "=", "<", ">")
_OPENERS = {"(": ")", "[": "]"}
_CLOSERS = {")": "(", "]": "["}


# --------------------------------------------------------------------------------------------
# quoted strings


def decode_spl_quoted(token: str) -> str:
    """The string a command receives for the double-quoted SPL token ``token`` (quotes included).

    ``\\"`` -> ``"``, ``\\\\`` -> ``\\``, ``\\|`` -> ``|``; any other backslash is kept as is.
    Raises :class:`SplSyntaxError` if ``token`` is not exactly one complete quoted string."""
    if len(token) < 2 or not token.startswith('"'):
        raise SplSyntaxError(f"not a double-quoted SPL string: {token!r}")
    out: list[str] = []
    i = 1
    n = len(token)
    while i < n:
        ch = token[i]
        if ch == "\\" and i + 1 < n and token[i + 1] in ESCAPABLE:
            out.append(token[i + 1])
            i += 2
            continue
        if ch == '"':
            if i != n - 1:
                raise SplSyntaxError(
                    f"unescaped '\"' at position {i + 1} ends the string before the token ends: {token!r}"
                )
            return "".join(out)
        out.append(ch)
        i += 1
    raise SplSyntaxError(f"unterminated SPL string (no closing '\"'): {token!r}")


def _decode_unquoted(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ESCAPABLE:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def encode_spl_quoted(value: str) -> str:
    """The double-quoted SPL token that :func:`decode_spl_quoted` turns back into ``value``
    (:meth:`stormpack.syntax.SplSyntax.string`)."""
    return SPL.string(value)


def _skip_quoted(text: str, start: int) -> int:
    """Index just after the double-quoted string opening at ``start`` (-1 if unterminated)."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in ESCAPABLE:
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    return -1


# --------------------------------------------------------------------------------------------
# commands


@dataclass(frozen=True)
class SplCommand:
    """One command of a search. ``name`` is the lower-cased command name, or None for the
    implied ``search`` at the start; ``start`` is the offset of ``text`` in the query."""

    name: str | None
    text: str
    args: str
    start: int
    explicit: bool  # written after a "|"


@dataclass(frozen=True)
class _Scan:
    commands: list[SplCommand]
    subsearches: list[tuple[int, int]]  # (start, end) of the text inside each top-level [...]
    errors: list[str]


def _make_command(query: str, start: int, end: int, explicit: bool) -> SplCommand:
    raw = query[start:end]
    lead = len(raw) - len(raw.lstrip())
    text = raw.strip()
    if not explicit:
        return SplCommand(name=None, text=text, args=text, start=start + lead, explicit=False)
    word = text.split(None, 1)[0] if text else ""
    args = text[len(word) :].strip()
    name = word if word.startswith("`") else word.lower()
    return SplCommand(name=name, text=text, args=args, start=start + lead, explicit=True)


def _scan(query: str) -> _Scan:
    """Split ``query`` at top-level pipes and check quotes, backticks and brackets."""
    errors: list[str] = []
    commands: list[SplCommand] = []
    subsearches: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    cmd_start = 0
    explicit = False
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch == "\\" and i + 1 < n and query[i + 1] in ESCAPABLE:
            i += 2
            continue
        if ch == '"':
            end = _skip_quoted(query, i)
            if end < 0:
                errors.append(f"char {i + 1}: unterminated double quote")
                i = n
                break
            i = end
            continue
        if ch == "`":
            end = query.find("`", i + 1)
            if end < 0:
                errors.append(f"char {i + 1}: unterminated macro backtick")
                i = n
                break
            i = end + 1
            continue
        if ch in _OPENERS:
            stack.append((ch, i))
        elif ch in _CLOSERS:
            if not stack:
                errors.append(f"char {i + 1}: '{ch}' closes nothing")
            elif stack[-1][0] != _CLOSERS[ch]:
                opener, pos = stack.pop()
                errors.append(f"char {i + 1}: '{ch}' closes '{opener}' opened at char {pos + 1}")
            else:
                opener, pos = stack.pop()
                if opener == "[" and not any(o == "[" for o, _ in stack):
                    subsearches.append((pos + 1, i))
        elif ch == "|" and not any(o == "[" for o, _ in stack):
            for opener, pos in stack:
                errors.append(f"char {pos + 1}: '{opener}' is not closed before the pipe at char {i + 1}")
            stack.clear()
            commands.append(_make_command(query, cmd_start, i, explicit))
            cmd_start = i + 1
            explicit = True
        i += 1
    for opener, pos in stack:
        errors.append(f"char {pos + 1}: '{opener}' is never closed")
    commands.append(_make_command(query, cmd_start, n, explicit))
    return _Scan(commands, subsearches, errors)


def split_commands(query: str) -> list[SplCommand]:
    """The top-level commands of ``query`` (the first one is the implied search, possibly empty).

    Raises :class:`SplSyntaxError` when quotes or brackets are unbalanced."""
    scan = _scan(query)
    if scan.errors:
        raise SplSyntaxError("; ".join(scan.errors))
    return scan.commands


def _single_quote_errors(cmd: SplCommand) -> list[str]:
    text = cmd.args
    base = cmd.start + (len(cmd.text) - len(cmd.args))
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in ESCAPABLE:
            i += 2
            continue
        if ch == '"':
            i = _skip_quoted(text, i)
            if i < 0:
                return []  # already reported by the scanner
            continue
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                return [f"char {base + i + 1}: unterminated single-quoted field name in '{cmd.name}'"]
            i = end + 1
            continue
        i += 1
    return []


def _lint(query: str, offset: int, subsearch: bool) -> list[str]:
    scan = _scan(query)
    errors = [_shift(e, offset) for e in scan.errors]
    if scan.errors:
        return errors
    commands = scan.commands
    first = commands[0]
    if not query.strip():
        return [f"char {offset + 1}: empty search"]
    if first.text:
        word = first.text.split(None, 1)[0].lower()
        if subsearch and word in KNOWN_COMMANDS and word not in GENERATING_COMMANDS:
            errors.append(
                f"char {offset + first.start + 1}: subsearch starts with '{word}', which is not a "
                f"generating command"
            )
    else:
        if len(commands) > 1 and commands[1].name and not commands[1].name.startswith("`"):
            second = commands[1]
            if second.name not in GENERATING_COMMANDS and second.text:
                errors.append(
                    f"char {offset + second.start + 1}: search starts with '| {second.name}', which is not "
                    f"a generating command; start with search terms or a generating command "
                    f"(| tstats, | multisearch, | inputlookup, | makeresults, ...)"
                )
    for idx, cmd in enumerate(commands):
        if idx == 0 and not cmd.explicit:
            continue
        if not cmd.text:
            errors.append(f"char {offset + cmd.start + 1}: empty command (nothing between pipes)")
            continue
        assert cmd.name is not None
        if cmd.name.startswith("`"):
            continue  # a macro used as a command: it expands to something we cannot see
        if not _COMMAND_NAME.fullmatch(cmd.name) or cmd.name not in KNOWN_COMMANDS:
            errors.append(f"char {offset + cmd.start + 1}: unknown SPL command '{cmd.name}'")
            continue
        if cmd.name in EVAL_EXPRESSION_COMMANDS:
            errors.extend(_shift(e, offset) for e in _single_quote_errors(cmd))
    for start, end in scan.subsearches:
        inner = _lint(query[start:end], offset + start, subsearch=True)
        errors.extend(f"in subsearch at char {offset + start}: {e}" for e in inner)
    return errors


def _shift(message: str, offset: int) -> str:
    m = re.match(r"char (\d+): ", message)
    if not m or offset == 0:
        return message
    return f"char {int(m.group(1)) + offset}: {message[m.end():]}"


def lint_spl(query: str) -> list[str]:
    """Structural problems of the SPL search ``query`` (empty list = none found).

    Checks balanced double quotes (with backslash escapes), macro backticks, brackets and
    parentheses; that the search starts with search terms or a generating command; that every
    ``| command`` is a known SPL command; single quotes in eval expressions; and every ``[...]``
    subsearch recursively. Positions are 1-based character offsets into ``query``."""
    return _lint(query, 0, subsearch=False)


# --------------------------------------------------------------------------------------------
# search terms

TermKind = Literal["term", "and", "or", "not", "lparen", "rparen", "macro", "subsearch"]


@dataclass(frozen=True)
class SearchValue:
    """A value of a search term: ``raw`` as written, ``value`` as the search command receives it
    (escape sequences expanded, quotes removed)."""

    raw: str
    value: str
    quoted: bool

    @property
    def wildcard(self) -> bool:
        """True when the value is a pattern: in search terms every ``*`` is a wildcard."""
        return "*" in self.value

    @property
    def exact(self) -> str | None:
        """The exact text this value matches (case-insensitively), or None for a pattern."""
        return None if self.wildcard else self.value

    @property
    def segments(self) -> tuple[str, ...]:
        """The literal parts between wildcards (``"*a*b"`` -> ``("", "a", "b")``)."""
        return tuple(self.value.split("*"))


@dataclass(frozen=True)
class SearchTerm:
    """One token of a search command: a term (``field op value``, ``field IN (values)`` or a bare
    keyword/phrase with ``field`` None), a boolean operator, a parenthesis, a macro or a subsearch."""

    kind: TermKind
    text: str
    field: str | None = None
    op: str | None = None
    values: tuple[SearchValue, ...] = ()


def _value(raw: str, where: str) -> SearchValue:
    if raw.startswith('"'):
        return SearchValue(raw=raw, value=decode_spl_quoted(raw), quoted=True)
    if '"' in raw.replace('\\"', ""):
        raise SplSyntaxError(f"{where}: a value mixes quoted and unquoted text: {raw!r}")
    return SearchValue(raw=raw, value=_decode_unquoted(raw), quoted=False)


def _lex(text: str) -> list[tuple[str, str, int]]:
    """Lexemes of a search command body: (kind, text, start) with kind in word ( ) , macro subsearch."""
    out: list[tuple[str, str, int]] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            out.append((ch, ch, i))
            i += 1
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise SplSyntaxError(f"char {i + 1}: unterminated macro backtick")
            out.append(("macro", text[i : end + 1], i))
            i = end + 1
        elif ch == "[":
            scan = _scan(text[i:])
            if scan.errors or not scan.subsearches or scan.subsearches[0][0] != 1:
                raise SplSyntaxError(f"char {i + 1}: unbalanced subsearch bracket")
            end = i + scan.subsearches[0][1]
            out.append(("subsearch", text[i : end + 1], i))
            i = end + 1
        elif ch == "]":
            raise SplSyntaxError(f"char {i + 1}: ']' closes nothing")
        elif ch == "|":
            raise SplSyntaxError(f"char {i + 1}: an unescaped pipe ends the search command")
        else:
            start = i
            while i < n:
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in ESCAPABLE:
                    i += 2
                    continue
                if c == '"':
                    end = _skip_quoted(text, i)
                    if end < 0:
                        raise SplSyntaxError(f"char {i + 1}: unterminated double quote")
                    i = end
                    continue
                if c.isspace() or c in "(),[]|`":
                    break
                i += 1
            out.append(("word", text[start:i], start))
    return out


def _split_operator(word: str) -> tuple[str, str, str] | None:
    """(field, op, value) for ``field op value`` outside quotes, else None."""
    i = 0
    while i < len(word):
        c = word[i]
        if c == "\\" and i + 1 < len(word) and word[i + 1] in ESCAPABLE:
            i += 2
            continue
        if c == '"':
            end = _skip_quoted(word, i)
            i = len(word) if end < 0 else end
            continue
        for op in _OPERATORS:
            if word.startswith(op, i):
                return word[:i], op, word[i + len(op) :]
        i += 1
    return None


def split_search_terms(text: str) -> list[SearchTerm]:
    """Tokenise the body of one ``search`` command (no top-level pipe) into :class:`SearchTerm`s.

    ``AND``/``OR``/``NOT`` (upper case, as Splunk requires) are boolean operators; a word followed
    by ``IN`` and a parenthesised list is one term with several values. Raises
    :class:`SplSyntaxError` on unbalanced quotes or brackets or a stray comma."""
    lexemes = _lex(text)
    terms: list[SearchTerm] = []
    i = 0
    while i < len(lexemes):
        kind, lex, _ = lexemes[i]
        if kind == "(":
            terms.append(SearchTerm("lparen", lex))
        elif kind == ")":
            terms.append(SearchTerm("rparen", lex))
        elif kind == ",":
            raise SplSyntaxError(f"unexpected ',' outside an IN list in {text!r}")
        elif kind == "macro":
            terms.append(SearchTerm("macro", lex))
        elif kind == "subsearch":
            terms.append(SearchTerm("subsearch", lex))
        elif lex in ("AND", "OR", "NOT"):
            terms.append(SearchTerm("and" if lex == "AND" else "or" if lex == "OR" else "not", lex))
        elif (
            i + 2 < len(lexemes)
            and lexemes[i + 1][0] == "word"
            and lexemes[i + 1][1].upper() == "IN"
            and lexemes[i + 2][0] == "("
            and not lex.startswith('"')
        ):
            values: list[SearchValue] = []
            j = i + 3
            expect_value = True
            while j < len(lexemes) and lexemes[j][0] != ")":
                k, v, _ = lexemes[j]
                if expect_value and k == "word":
                    values.append(_value(v, f"IN list of '{lex}'"))
                elif not expect_value and k == ",":
                    pass
                else:
                    raise SplSyntaxError(f"malformed IN list of '{lex}' near {v!r}")
                expect_value = not expect_value
                j += 1
            if j >= len(lexemes) or not values or expect_value:
                raise SplSyntaxError(f"malformed or unclosed IN list of '{lex}'")
            raw = text[lexemes[i][2] : lexemes[j][2] + 1]
            terms.append(SearchTerm("term", raw, field=_decode_unquoted(lex), op="IN", values=tuple(values)))
            i = j
        else:
            split = None if lex.startswith('"') else _split_operator(lex)
            if split is None:
                terms.append(SearchTerm("term", lex, values=(_value(lex, "keyword"),)))
            else:
                field, op, raw_value = split
                if not field:
                    raise SplSyntaxError(f"term {lex!r} has an operator but no field name")
                terms.append(
                    SearchTerm("term", lex, field=_decode_unquoted(field), op=op,
                               values=(_value(raw_value, f"field '{field}'"),))
                )
        i += 1
    return terms
