"""COMMAND, COMMAND INFO/DOCS/LIST/COUNT/GETKEYS, generated from the command table.

Ownership: pure functions from ``table`` (and, for COMMAND DOCS' arguments,
``grammar``) to reply values; no state.
"""

from __future__ import annotations

from typing import Any

from shardserver import errors
from shardserver.commands.grammar import GRAMMAR, Arg, Doc
from shardserver.commands.table import TABLE, Command, KeySpec, all_commands
from shardserver.errors import CommandError
from shardserver.glob import compile_glob
from shardserver.resp import PairsReply, SetReply, Simple


def _key_spec(ks: KeySpec) -> dict[bytes, Any]:
    last = ks.last if ks.last < 0 else ks.last - ks.first
    spec: dict[bytes, Any] = {}
    if ks.notes:
        spec[b"notes"] = ks.notes.encode()
    spec[b"flags"] = SetReply([Simple(f) for f in ks.flags])
    if ks.keyword:
        spec[b"begin_search"] = {b"type": b"keyword", b"spec": {b"keyword": ks.keyword.encode(), b"startfrom": ks.keyword_from}}
    else:
        spec[b"begin_search"] = {b"type": b"index", b"spec": {b"index": ks.first}}
    if ks.keynum is not None:
        keynumidx, firstkey, keystep = ks.keynum
        spec[b"find_keys"] = {b"type": b"keynum", b"spec": {b"keynumidx": keynumidx, b"firstkey": firstkey, b"keystep": keystep}}
    else:
        spec[b"find_keys"] = {b"type": b"range", b"spec": {b"lastkey": last, b"keystep": ks.step, b"limit": ks.limit}}
    return spec


def _key_specs(cmd: Command) -> SetReply:
    return SetReply([_key_spec(ks) for ks in cmd.key_specs])


def command_info(cmd: Command) -> list[Any]:
    """One entry of COMMAND / COMMAND INFO (Valkey's ten-field layout)."""
    ks = cmd.keys
    first, last, step = (ks.first, ks.last, ks.step) if ks and not ks.keyword else (0, 0, 0)
    return [
        cmd.fullname.encode(),
        cmd.arity,
        SetReply([Simple(f) for f in cmd.flags]),
        first,
        last,
        step,
        SetReply([Simple(c) for c in cmd.acl_categories]),
        SetReply([t.encode() for t in cmd.tips]),  # Valkey sends tips as bulk strings
        _key_specs(cmd),
        [command_info(sub) for sub in cmd.subcommands.values()],
    ]


def _argument(arg: Arg) -> dict[bytes, Any]:
    """One argument's map, fields in Valkey's order (no per-argument summary: prose)."""
    out: dict[bytes, Any] = {b"name": arg.name.encode(), b"type": arg.type.encode()}
    if arg.display_text is not None:
        out[b"display_text"] = arg.display_text.encode()
    if arg.key_spec_index >= 0:
        out[b"key_spec_index"] = arg.key_spec_index
    if arg.token is not None:
        out[b"token"] = arg.token.encode()
    if arg.since is not None:
        out[b"since"] = arg.since.encode()
    if arg.deprecated_since is not None:
        out[b"deprecated_since"] = arg.deprecated_since.encode()
    if arg.flags:
        out[b"flags"] = SetReply([Simple(f) for f in arg.flags])
    if arg.arguments:
        out[b"arguments"] = [_argument(a) for a in arg.arguments]
    return out


_NO_GRAMMAR = Doc()


def command_docs(cmd: Command) -> dict[bytes, Any]:
    """One COMMAND DOCS entry, fields in Valkey's order, without its ``history`` (prose)."""
    doc: dict[bytes, Any] = {
        b"summary": cmd.summary.encode(),
        b"since": cmd.since.encode(),
        b"group": cmd.group.encode(),
    }
    if cmd.complexity:  # XREAD has none
        doc[b"complexity"] = cmd.complexity.encode()
    # a command missing from the grammar fails a unit test; served, it shows no arguments
    grammar = GRAMMAR.get(cmd.fullname, _NO_GRAMMAR)
    if grammar.doc_flags:
        doc[b"doc_flags"] = SetReply([Simple(f) for f in grammar.doc_flags])
    if grammar.deprecated_since is not None:
        doc[b"deprecated_since"] = grammar.deprecated_since.encode()
    if grammar.replaced_by is not None:
        doc[b"replaced_by"] = grammar.replaced_by.encode()
    if grammar.arguments:
        doc[b"arguments"] = [_argument(a) for a in grammar.arguments]
    if cmd.subcommands:
        doc[b"subcommands"] = {sub.fullname.encode(): command_docs(sub) for sub in cmd.subcommands.values()}
    return doc


def find(name: bytes) -> Command | None:
    """A command or ``container|sub`` by name, case-insensitively."""
    text = name.decode("latin-1").lower()
    if "|" in text:
        parent, _, sub = text.partition("|")
        container = TABLE.get(parent)
        return container.subcommands.get(sub) if container else None
    return TABLE.get(text)


def reply_command(argv: list[bytes]) -> Any:
    if len(argv) == 1:
        return [command_info(c) for c in TABLE.values()]
    raise CommandError(errors.unknown_subcommand(argv[1], "command"))


def reply_info(names: list[bytes]) -> Any:
    if not names:
        return [command_info(c) for c in TABLE.values()]
    out: list[Any] = []
    for name in names:
        cmd = find(name)
        out.append(command_info(cmd) if cmd else None)
    return out


def reply_docs(names: list[bytes]) -> Any:
    if not names:
        return {c.name.encode(): command_docs(c) for c in TABLE.values()}
    out = PairsReply()  # a name asked twice is answered twice, as Valkey does
    for name in names:
        cmd = find(name)
        if cmd is not None:
            out.append((cmd.fullname.encode(), command_docs(cmd)))
    return out


def reply_list(args: list[bytes]) -> Any:
    if not args:  # every command and subcommand, as Valkey lists them
        return [c.fullname.encode() for c in all_commands()]
    if len(args) != 3 or args[0].lower() != b"filterby":
        raise CommandError(errors.SYNTAX)
    kind, value = args[1].lower(), args[2]
    cmds = [c for c in all_commands()]
    if kind == b"pattern":
        match = compile_glob(value, nocase=True)
        return [c.fullname.encode() for c in cmds if match(c.fullname.encode())]
    if kind == b"aclcat":
        cat = "@" + value.decode("latin-1").lower()
        return [c.fullname.encode() for c in cmds if cat in c.acl_categories]
    if kind == b"module":
        return []
    raise CommandError(errors.SYNTAX)


_INVALID_ARGS = "ERR Invalid arguments specified for command"


def _positions(ks: KeySpec, args: list[bytes]) -> list[int]:
    """A spec's keys for GETKEYS, as Valkey's getKeysUsingKeySpecs finds them: a key
    count must be a positive integer that fits, and a spec whose first or last key
    falls outside the arguments (or ends before it starts) makes the whole call invalid
    (then ``_fallback_positions`` may still find keys)."""
    n = len(args)
    if ks.keynum is not None:
        start, count = ks.key_count(args)
        step = ks.keynum[2]
        if count <= 0 or start + (count - 1) * step >= n:
            raise CommandError(_INVALID_ARGS)
        return list(range(start, start + count * step, step))
    span = ks.span(args)
    if span is None:  # no keyword: this spec has no keys
        return []
    first, last = span
    if first >= n or last >= n or last < first:
        raise CommandError(_INVALID_ARGS)
    return list(range(first, last + 1, ks.step))


# Commands whose key count Valkey's own getkeys function (genericGetKeys) reads when
# the key specs fail: (store key, key count, first key) argument positions.
_GENERIC_GETKEYS = {
    "zunion": (0, 1, 2), "zinter": (0, 1, 2), "zdiff": (0, 1, 2),
    "zunionstore": (1, 2, 3), "zinterstore": (1, 2, 3), "zdiffstore": (1, 2, 3),
    "zintercard": (0, 1, 2), "sintercard": (0, 1, 2),
    "lmpop": (0, 1, 2), "zmpop": (0, 1, 2), "blmpop": (0, 2, 3), "bzmpop": (0, 2, 3),
}  # fmt: skip


def c_atoi(data: bytes) -> int:
    """C's atoi as glibc runs it: (int) strtol(s, NULL, 10) -- leading white space, a sign,
    digits up to the first other byte; out of range clamps to a long, then wraps to 32 bits."""
    text = data.lstrip(b" \t\n\v\f\r")
    sign = -1 if text[:1] == b"-" else 1
    if text[:1] in (b"-", b"+"):
        text = text[1:]
    end = 0
    while end < len(text) and 48 <= text[end] <= 57:
        end += 1
    value = sign * int(text[:end]) if end else 0
    value = max(min(value, 2**63 - 1), -(2**63))
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _fallback_positions(name: str, args: list[bytes]) -> list[int]:
    """Where the key specs fail, the keys Valkey's genericGetKeys finds: the count read with
    atoi ("1e3" or " 1" are 1 there), the keys after it, then the destination; none (so an
    invalid call) when the count is below 1 or more than the arguments hold."""
    store, count_at, first = _GENERIC_GETKEYS[name]
    count = c_atoi(args[count_at]) if count_at < len(args) else 0
    if count < 1 or count > len(args) - first:
        return []
    return list(range(first, first + count)) + ([store] if store else [])


def _bitfield_reads_only(args: list[bytes]) -> bool:
    """Valkey's bitfieldGetKeys: read-only unless a SET or INCRBY with its arguments
    comes, or anything it cannot read (then it assumes a write) before one."""
    i, n = 2, len(args)
    while i < n:
        word, rest = args[i].lower(), n - i - 1
        if word == b"get" and rest >= 2:
            i += 3
        elif word == b"overflow" and rest >= 1:
            i += 2
        else:  # SET / INCRBY with their arguments, or a syntax error
            return False
    return True


def getkeys(args: list[bytes], with_flags: bool) -> Any:
    """COMMAND GETKEYS[ANDFLAGS]: lookup, then 'has keys', then arity, as Valkey checks."""
    if not args:
        raise CommandError(errors.wrong_arity("command|getkeys"))
    cmd = find(args[0])
    if cmd is not None and cmd.subcommands and len(args) > 1:
        cmd = cmd.subcommands.get(args[1].decode("latin-1").lower())
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    if not cmd.key_specs:
        raise CommandError("ERR The command has no key arguments")
    n = len(args)
    if not cmd.accepts(n):
        raise CommandError("ERR Invalid number of arguments specified for command")
    found: list[tuple[int, tuple[str, ...]]] = []
    try:
        for ks in cmd.key_specs:
            flags = ks.flags
            if "variable_flags" in flags and cmd.fullname == "set":
                # Valkey's setGetKeys: only SET ... GET reads the old value.
                has_get = any(a.lower() == b"get" for a in args[3:])
                flags = ("RW", "access", "update") if has_get else ("OW", "update")
            elif "variable_flags" in flags and cmd.fullname == "bitfield":
                flags = ("RO", "access") if _bitfield_reads_only(args) else ("RW", "access", "update")
            found.extend((p, flags) for p in _positions(ks, args))
    except CommandError:
        if cmd.fullname not in _GENERIC_GETKEYS:
            raise
        found = [(p, ()) for p in _fallback_positions(cmd.fullname, args)]  # no flags, as Valkey's
    if not found:
        raise CommandError(_INVALID_ARGS)
    if with_flags:
        return [[args[p], SetReply([Simple(f) for f in flags])] for p, flags in found]
    return [args[p] for p, _ in found]


HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full command.",
    "HELP",
    "    Print this help.",
]
