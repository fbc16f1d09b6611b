"""The argument grammar (COMMAND DOCS' ``arguments``): its notation and its agreement
with the command table."""

from __future__ import annotations

import re

import pytest

from shardserver.commands.grammar import GRAMMAR, Arg, GrammarError, parse_entry, parse_table
from shardserver.commands.introspect import command_docs
from shardserver.commands.table import Command, all_commands

COMMANDS = all_commands()
LEAVES = [c for c in COMMANDS if not c.subcommands]  # containers have no arguments of their own
MANY = 10**9  # "any number of words"


def _ids(cmds: list[Command]) -> list[str]:
    return [c.fullname for c in cmds]


def test_every_command_has_a_grammar_entry_and_every_entry_a_command() -> None:
    names = {c.fullname for c in COMMANDS}
    assert sorted(names - set(GRAMMAR)) == [], "commands without a grammar entry"
    assert sorted(set(GRAMMAR) - names) == [], "grammar entries for commands the table lacks"


def _words(arg: Arg, chosen: bool = False) -> tuple[int, int]:
    """(fewest, most) words ``arg`` takes; ``chosen``: an alternative of a oneof, which
    counts as given even when it is flagged optional (CLIENT KILL's filters)."""
    if arg.type == "oneof":
        counts = [_words(a, chosen=True) for a in arg.arguments]
        low, high = min(c[0] for c in counts), max(c[1] for c in counts)
    elif arg.type == "block":
        counts = [_words(a) for a in arg.arguments]
        low, high = sum(c[0] for c in counts), sum(c[1] for c in counts)
    else:  # a typed argument or a pure token: one word
        low = high = 1
    if arg.token is not None and arg.type != "pure-token":
        low, high = low + 1, high + 1
    if "multiple" in arg.flags:
        high = MANY
    if "optional" in arg.flags and not chosen:
        low = 0
    return low, min(high, MANY)


# Commands whose arity the grammar cannot give, and why.
ARITY_EXCEPTIONS = {
    "debug": "Valkey documents no arguments for DEBUG; its subcommands are not table entries",
}


@pytest.mark.parametrize("cmd", LEAVES, ids=_ids(LEAVES))
def test_required_arguments_match_the_arity(cmd: Command) -> None:
    """Arity N: exactly N-1 words after the name (no optional or repeated argument);
    arity -N: at least N-1, so the required arguments take N-1 words.  A subcommand's
    name is two words."""
    counts = [_words(a) for a in GRAMMAR[cmd.fullname].arguments]
    name_words = 2 if cmd.container else 1
    low = name_words + sum(c[0] for c in counts)
    high = min(MANY, name_words + sum(c[1] for c in counts))
    fits = (low, high) == (cmd.arity, cmd.arity) if cmd.arity > 0 else low == -cmd.arity
    if cmd.fullname in ARITY_EXCEPTIONS:
        assert not fits, f"{cmd.fullname}: the grammar now gives the arity; drop its exception"
        return
    assert fits, f"{cmd.fullname}: arity {cmd.arity}, the grammar takes {low}..{'any' if high == MANY else high} words"


def _key_spec_indexes(args: tuple[Arg, ...]) -> set[int]:
    found: set[int] = set()
    for a in args:
        if a.key_spec_index >= 0:
            found.add(a.key_spec_index)
        found |= _key_spec_indexes(a.arguments)
    return found


@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids(COMMANDS))
def test_key_arguments_name_exactly_the_key_specs(cmd: Command) -> None:
    assert _key_spec_indexes(GRAMMAR[cmd.fullname].arguments) == set(range(len(cmd.key_specs)))


def test_notation() -> None:
    name, doc = parse_entry(
        "demo key:key [NX] [IFEQ value:string<v:1>@8.1.0] [change:CH] data:{field:string value:string}... "
        "dst:key#0 [GET get:{a:string b:integer}]... old:string!2.8.12 "
        "where:(LEFT|RIGHT@6.2.0 | [ID id:integer...]) ; doc_flags syscmd deprecated ; replaced_by `X` with `Y`"
    )
    assert name == "demo"
    key, nx, ifeq, ch, data, dst, get, old, where = doc.arguments
    assert key == Arg("key", "key", "key", key_spec_index=0)
    assert nx == Arg("nx", "pure-token", "nx", token="NX", flags=("optional",))
    assert ifeq == Arg("value", "string", "v:1", token="IFEQ", since="8.1.0", flags=("optional",))
    assert ch == Arg("change", "pure-token", "change", token="CH", flags=("optional",))
    assert data.type == "block" and data.display_text is None and data.flags == ("multiple",)
    assert [a.name for a in data.arguments] == ["field", "value"]
    assert dst.key_spec_index == 0
    assert get.token == "GET" and get.flags == ("optional", "multiple", "multiple_token")
    assert old.deprecated_since == "2.8.12" and old.since is None
    assert where.type == "oneof" and where.flags == () and where.arguments[1].since == "6.2.0"
    assert where.arguments[2] == Arg("id", "integer", "id", token="ID", flags=("optional", "multiple"))
    assert doc.doc_flags == ("deprecated", "syscmd")  # Valkey's order, whatever the entry's
    assert doc.replaced_by == "`X` with `Y`" and doc.deprecated_since is None
    # the n-th key argument written has key-spec index n unless it says otherwise
    assert [a.key_spec_index for a in parse_entry("k a:key b:string c:key d:key#0 e:key")[1].arguments] == [0, -1, 1, 0, 3]
    # a bare token binds to the argument after it; its named form stands alone
    bound, = parse_entry("k COUNT count:integer")[1].arguments
    assert bound.token == "COUNT" and bound.name == "count"
    alone, count = parse_entry("k full:FULL count:integer")[1].arguments
    assert alone.type == "pure-token" and count.token is None


def test_table_layout() -> None:
    table = parse_table(
        """
# a comment
one  a:string
       [b:integer]
two
"""
    )
    assert list(table) == ["one", "two"]
    assert [a.name for a in table["one"].arguments] == ["a", "b"] and table["two"].arguments == ()


@pytest.mark.parametrize(
    "entry, message",
    [
        ("k key", "neither name:type nor an upper-case token"),
        ("k a:str", "neither a type"),
        ("k a:string b", "neither name:type nor an upper-case token"),
        ("k [a:string", "expected ']'"),
        ("k a:string]", "expected an argument"),
        ("k a:(X|Y", "expected ')' to close a"),
        ("k a:(X|Y}", "expected ')' to close a"),
        ("k a:{}", "empty group"),
        ("k a:()", "expected an argument"),
        ("k a: (X|Y)", "expected a type, a token"),
        ("k A:string", "bad argument name"),
        ("k a:string@", "bad attribute"),
        ("k a:string@1.x", "bad attribute"),
        ("k a:string@1.0@2.0", "given twice"),
        ("k a:string ...", "must touch the argument"),
        ("k [a:string]x", "only '...' may follow ']'"),
        ("k [a:string]...", "needs a token argument"),
        ("k a:(X|Y)<t>", "has no display text"),
        ("k a:{b:string}#1", "has no key-spec index"),
        ("k X@1.0 a:string", "attributes go after the argument"),
        ("k X y:Z", "a pure token cannot have a token"),
        ("k a:string ; doc_flags nosuch", "unknown doc flag"),
        ("k a:string ; deprecated_since soon", "is not a version"),
        ("k a:string ; replaced", "bad clause"),
        ("k ; doc_flags syscmd ; doc_flags syscmd", "given twice"),
        ("K a:string", "bad command name"),
    ],
)
def test_malformed_notation_is_rejected(entry: str, message: str) -> None:
    with pytest.raises(GrammarError, match=re.escape(message)):
        parse_entry(entry)


def test_table_rejects_a_duplicate_entry_and_a_stray_continuation() -> None:
    with pytest.raises(GrammarError, match="two entries"):
        parse_table("a x:string\na y:string\n")
    with pytest.raises(GrammarError, match="continuation line before any entry"):
        parse_table("  x:string\n")


def test_command_docs_fields_in_valkey_order() -> None:
    """SET's entry: the command fields, then each argument's, in the order Valkey sends
    them; no ``history`` and no argument ``summary`` (documentation prose)."""
    by_name = {c.fullname: c for c in COMMANDS}
    doc = command_docs(by_name["set"])
    assert list(doc) == [b"summary", b"since", b"group", b"complexity", b"arguments"]
    key, value, condition = doc[b"arguments"][:3]
    assert list(key) == [b"name", b"type", b"display_text", b"key_spec_index"]
    assert list(condition) == [b"name", b"type", b"flags", b"arguments"]
    ifeq = condition[b"arguments"][2]
    assert list(ifeq) == [b"name", b"type", b"display_text", b"token", b"since"]
    assert ifeq[b"token"] == b"IFEQ" and ifeq[b"since"] == b"8.1.0"
    debug = command_docs(by_name["debug"])
    assert list(debug) == [b"summary", b"since", b"group", b"complexity", b"doc_flags"]
    assert debug[b"doc_flags"] == ["syscmd"]


def test_command_docs_deprecation_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """No command of ours is deprecated in Valkey 9; the fields still come where Valkey
    puts them (after ``complexity``, before ``arguments``) when an entry has them."""
    import shardserver.commands.introspect as introspect

    _, doc = parse_entry("getset key:key value:string ; replaced_by `SET` with the `!GET` argument ; doc_flags deprecated ; deprecated_since 6.2.0")
    monkeypatch.setitem(introspect.GRAMMAR, "getset", doc)
    reply = command_docs(next(c for c in COMMANDS if c.fullname == "getset"))
    assert list(reply) == [b"summary", b"since", b"group", b"complexity", b"doc_flags", b"deprecated_since", b"replaced_by", b"arguments"]
    assert reply[b"doc_flags"] == ["deprecated"] and reply[b"deprecated_since"] == b"6.2.0"
    assert reply[b"replaced_by"] == b"`SET` with the `!GET` argument"
