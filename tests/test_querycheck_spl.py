"""SPL structure lint, SPL quoted-string decoding and search-term splitting, against Splunk's
documented rules (Search Manual "Backslashes", Search Reference "search: Quotes and escaping
characters", "Wildcards")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stormpack.errors import StormpackError
from stormpack.querycheck import (
    SearchValue,
    SplSyntaxError,
    decode_spl_quoted,
    encode_spl_quoted,
    lint_spl,
    split_commands,
    split_search_terms,
)
from stormpack.querycheck.spl import GENERATING_COMMANDS, KNOWN_COMMANDS

# --------------------------------------------------------------------------------------------
# lint: accepted shapes

VALID = [
    'index=o365 sourcetype="o365:management:activity" Operation="MailItemsAccessed" | stats count by UserId',
    "search index=o365 Operation=New-InboxRule",
    '`o365_management_activity` Operation IN ("New-InboxRule", "Set-InboxRule") | `my_filter`',
    "| tstats count from datamodel=Authentication where Authentication.action=failure by _time",
    "| multisearch [search index=a Operation=x] [search index=b category=SignInLogs]",
    '| inputlookup storm0558_ips.csv | rename ip AS ClientIPAddress',
    '| makeresults | eval x="a|b" | where x!="c"',
    'index=o365 [| inputlookup storm0558_ips.csv | fields ClientIPAddress] | table _time ClientIPAddress',
    'index=o365 [search index=aad | fields user] | STATS count BY user',  # command names: any case
    'index=o365 ClientInfoString="Client=REST;Client=RESTSystem;;" Parameters{}.Name="ForwardTo"',
    'index=o365 UserId="a\\"b\\\\" | where \'Parameters{}.Value\'="x"',
    'index=o365 x=1 | bin _time span=1h | stats dc(ClientIPAddress) AS n by _time, UserId | where n > 3',
    'index=o365 x="(not a paren" y="[not a bracket" z="`not a macro" w="|not a pipe" | table x',
    'index=o365 escaped\\|pipe | table x',
    'index=o365 | regex ClientInfoString="^Client=REST\\\\*$"',
]


@pytest.mark.parametrize("query", VALID)
def test_valid_searches_pass(query: str) -> None:
    assert lint_spl(query) == []


# --------------------------------------------------------------------------------------------
# lint: each bad shape, with the message and the position it must report

INVALID = [
    # (query, message fragment, text at the reported position)
    ('index=o365 Operation="MailItemsAccessed', "unterminated double quote", '"MailItemsAccessed'),
    ('index=o365 UserId="a\\"', "unterminated double quote", '"a\\"'),
    ("index=o365 | stats count by (UserId", "'(' is never closed", "(UserId"),
    ("index=o365 (a OR b))", "')' closes nothing", ")"),
    ("index=o365 (a OR b] ", "']' closes '('", "]"),
    ("index=o365 (a | stats count", "'(' is not closed before the pipe", "(a"),
    ("index=o365 [search x", "'[' is never closed", "[search"),
    ("index=o365 `macro", "unterminated macro backtick", "`macro"),
    ('| rex field=Parameters "(?<m>x)" | search m=*', "starts with '| rex'", "rex"),
    ('| eval a=1', "starts with '| eval'", "eval"),
    ('| bin _time span=1h', "starts with '| bin'", "bin"),
    ('| stats count', "starts with '| stats'", "stats"),
    ("index=o365 | frobnicate x", "unknown SPL command 'frobnicate'", "frobnicate"),
    ("index=o365 || table x", "empty command", "| table"),
    ("index=o365 | table x |", "empty command", ""),
    ("", "empty search", ""),
    ("   ", "empty search", ""),
    ("index=o365 | where 'bad=1", "unterminated single-quoted field name", "'bad"),
    ("index=o365 [rex field=x y]", "subsearch starts with 'rex'", "rex"),
    ("index=o365 [| eval a=1]", "starts with '| eval'", "eval"),
    ("index=o365 [search a | frob] | table a", "unknown SPL command 'frob'", "frob"),
    ("index=o365 [search a [search b | nope]]", "unknown SPL command 'nope'", "nope"),
]


@pytest.mark.parametrize(("query", "message", "points_at"), INVALID)
def test_bad_shapes_are_rejected(query: str, message: str, points_at: str) -> None:
    problems = lint_spl(query)
    matching = [p for p in problems if message in p]
    assert matching, problems
    position = int(re.findall(r"char (\d+): ", matching[0])[-1])
    assert query[position - 1 :].startswith(points_at)


def test_known_command_lists_are_consistent() -> None:
    assert GENERATING_COMMANDS <= KNOWN_COMMANDS
    assert {"rex", "eval", "bin", "stats", "where", "table"} <= KNOWN_COMMANDS - GENERATING_COMMANDS
    assert {"search", "tstats", "multisearch", "inputlookup", "makeresults"} <= GENERATING_COMMANDS


def test_split_commands() -> None:
    query = 'index=o365 x="a|b" [search y | z] | stats count by x | where count > 1'
    commands = split_commands(query)
    assert [c.name for c in commands] == [None, "stats", "where"]
    assert commands[0].text == 'index=o365 x="a|b" [search y | z]'
    assert [query[c.start : c.start + len(c.text)] for c in commands] == [c.text for c in commands]
    assert commands[1].args == "count by x"
    with pytest.raises(SplSyntaxError, match="unterminated"):
        split_commands('x="')


# --------------------------------------------------------------------------------------------
# decoding quoted strings: the documented rules


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ('"plain"', "plain"),
        ('""', ""),
        ('"a\\"b"', 'a"b'),  # \" is a literal quote
        ('"c:\\\\temp"', "c:\\temp"),  # \\ is a literal backslash
        ('"x\\|y"', "x|y"),  # \| is a literal pipe
        ('"x|y"', "x|y"),  # a pipe inside quotes needs no escape
        ('"\\s"', "\\s"),  # not an escape sequence: passed on unchanged
        ('"\\\\s"', "\\s"),  # \\ then s
        ('"\\*"', "\\*"),  # a backslash cannot escape the asterisk
        ('"\\n"', "\\n"),  # no C escapes
        ('"é 😀 \u202e"', "é 😀 \u202e"),
        ('"line\nbreak"', "line\nbreak"),
    ],
)
def test_decode_follows_splunk_rules(token: str, value: str) -> None:
    assert decode_spl_quoted(token) == value


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ('"abc', "unterminated"),
        ('"abc\\"', "unterminated"),  # the last quote is escaped
        ('"a"b"', "ends the string before the token ends"),
        ("abc", "not a double-quoted"),
        ('"', "not a double-quoted"),
    ],
)
def test_decode_rejects_malformed_tokens(token: str, message: str) -> None:
    with pytest.raises(SplSyntaxError, match=message) as exc:
        decode_spl_quoted(token)
    assert isinstance(exc.value, StormpackError)


@given(st.text())
def test_encode_decode_round_trip(value: str) -> None:
    token = encode_spl_quoted(value)
    assert decode_spl_quoted(token) == value


@given(st.text())
def test_encoded_value_is_one_term_and_lints_clean(value: str) -> None:
    token = encode_spl_quoted(value)
    terms = split_search_terms(f"Operation={token} index=o365")
    assert [(t.kind, t.field, t.op) for t in terms] == [("term", "Operation", "="), ("term", "index", "=")]
    assert terms[0].values == (SearchValue(raw=token, value=value, quoted=True),)
    assert lint_spl(f"index=o365 Operation={token} | table Operation") == []


# --------------------------------------------------------------------------------------------
# search terms and what "*" means there


def test_search_terms_of_a_backend_style_search() -> None:
    text = (
        'sourcetype="o365:management:activity" (Operation="MailItemsAccessed" '
        'ClientInfoString="*Client=REST*" UserId IN ("*a\\"b", "c\\\\d", "x|y")) '
        'OR NOT LogonType!=0 "some phrase" bare\\|word `macro(1)` [search x | y]'
    )
    terms = split_search_terms(text)
    assert [t.kind for t in terms] == [
        "term", "lparen", "term", "term", "term", "rparen", "or", "not", "term", "term", "term", "macro",
        "subsearch",
    ]
    user = terms[4]
    assert (user.field, user.op) == ("UserId", "IN")
    assert user.text == 'UserId IN ("*a\\"b", "c\\\\d", "x|y")'
    assert [v.value for v in user.values] == ['*a"b', "c\\d", "x|y"]
    assert [v.exact for v in user.values] == [None, "c\\d", "x|y"]
    assert (terms[8].field, terms[8].op, terms[8].values[0].value) == ("LogonType", "!=", "0")
    assert (terms[9].field, terms[9].values[0].value) == (None, "some phrase")
    assert terms[10].values[0] == SearchValue(raw="bare\\|word", value="bare|word", quoted=False)
    assert terms[12].text == "[search x | y]"


def test_asterisk_is_always_a_wildcard_in_search_terms() -> None:
    (quoted,) = split_search_terms('f="*Client=REST*"')
    assert quoted.values[0].wildcard and quoted.values[0].exact is None
    assert quoted.values[0].segments == ("", "Client=REST", "")
    # a backslash cannot escape it: the term still holds a wildcard (and a stray backslash)
    (escaped,) = split_search_terms('f="lit\\*star"')
    assert escaped.values[0].value == "lit\\*star"
    assert escaped.values[0].wildcard
    (plain,) = split_search_terms('f="no wildcard"')
    assert plain.values[0].exact == "no wildcard"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a | b", "pipe ends the search command"),
        ('f="open', "unterminated double quote"),
        ("f IN (a, b", "malformed or unclosed IN list"),
        ("f IN (a b)", "malformed IN list"),
        ("a, b", "unexpected ','"),
        ("=x", "no field name"),
        ("[search a", "unbalanced subsearch"),
        ("f=a\"b\"", "mixes quoted and unquoted"),
    ],
)
def test_split_search_terms_rejects_malformed_text(text: str, message: str) -> None:
    with pytest.raises(SplSyntaxError, match=message):
        split_search_terms(text)


# --------------------------------------------------------------------------------------------
# the decoder applied to the upstream Splunk backend's output (groundwork for issue 6's
# property tests): a value survives the backend's escaping exactly, unless it holds a "*"


def _sigma_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _upstream_splunk(value: str) -> str:
    from sigma.backends.splunk import SplunkBackend
    from sigma.collection import SigmaCollection

    rule = {
        "title": "t",
        "logsource": {"product": "m365", "service": "audit"},
        "detection": {"sel": {"Operation": _sigma_escape(value)}, "condition": "sel"},
    }
    (query,) = SplunkBackend().convert(SigmaCollection.from_dicts([rule]))
    return str(query)


@given(st.text(min_size=1).filter(lambda v: "*" not in v))
def test_upstream_splunk_escaping_round_trips_through_the_decoder(value: str) -> None:
    query = _upstream_splunk(value)
    assert lint_spl(query) == []
    (command,) = split_commands(query)
    (term,) = split_search_terms(command.text)
    assert (term.field, term.op) == ("Operation", "=")
    (decoded,) = term.values
    assert decoded.exact == value


def test_upstream_splunk_cannot_express_a_literal_asterisk() -> None:
    (term,) = split_search_terms(split_commands(_upstream_splunk("lit*star"))[0].text)
    (decoded,) = term.values
    assert decoded.raw == '"lit\\*star"'
    assert decoded.wildcard and decoded.exact is None  # widened to a pattern: issue 6 must reroute
