"""Every command's argument grammar, for COMMAND DOCS' ``arguments``.

Ownership: this module owns the grammar facts of each command in the command
table (argument names, types, tokens, flags, display texts, key-spec indexes,
the versions that added or deprecated them, and the command-level doc flags).
``introspect.command_docs`` emits them; a unit test keeps this table and the
command table in step, entry for entry.  Valkey's documentation prose (the
``history`` entries and the per-argument ``summary`` sentences) is left out.

The table ``_GRAMMAR`` below has one entry per command or ``container|sub``:
the name, then its arguments in order, then optional ``; attribute`` clauses.
A line that starts with white space continues the entry above it; a line
that starts with ``#`` is a comment.  Arguments are written close to Valkey's
usage lines::

    name:type               a typed argument; type is one of key string integer
                            double unix-time pattern
    TOKEN                   a pure token, named TOKEN in lower case (``NX``)
    name:TOKEN              a pure token with another name (``change:CH``)
    TOKEN name:...          an argument introduced by a token (``COUNT count:integer``)
    name:(a | b | ...)      one of the alternatives (Valkey's ``oneof``)
    name:{a b ...}          a group of arguments given together (``block``)
    [arg]                   optional
    arg...                  multiple: the argument repeats
    [TOKEN arg]...          multiple, token and all (``multiple_token``)

A typed or pure-token argument, a ``)`` or a ``}`` may be followed (without
white space) by attributes, in any order, each at most once::

    <text>      display text, when it is not the name (``addr:string<ip:port>``)
    #N          key-spec index; by default the n-th key argument written
                (from 0) has index n and other arguments have none (Valkey
                also gives one to the ``numfields`` of HPEXPIRE and others)
    @V          since version V
    !V          deprecated since version V

A bare TOKEN binds to the argument right after it; a pure token followed by
a separate argument is written in its named form (``full:FULL count:integer``).

Entry attributes follow the arguments, each after a ``;``:
``; doc_flags F ...`` (``deprecated``, ``syscmd``), ``; deprecated_since V``
and ``; replaced_by TEXT`` (TEXT runs to the next ``;`` or the entry's end).

Entries are parsed once at import into frozen ``Arg`` and ``Doc`` values;
malformed notation raises ``GrammarError`` naming the entry and the spot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

TYPES = frozenset(("key", "string", "integer", "double", "unix-time", "pattern"))
DOC_FLAGS = ("deprecated", "syscmd")  # in the order Valkey lists them


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument as COMMAND DOCS describes it."""

    name: str
    type: str  # a TYPES member, "pure-token", "oneof" or "block"
    display_text: str | None  # None for oneof and block, which have none
    key_spec_index: int = -1  # -1: not a key
    token: str | None = None
    since: str | None = None
    deprecated_since: str | None = None
    flags: tuple[str, ...] = ()  # in Valkey's order: optional, multiple, multiple_token
    arguments: tuple[Arg, ...] = ()  # a oneof's alternatives or a block's members


@dataclass(frozen=True, slots=True)
class Doc:
    """A command's grammar: its arguments and command-level doc attributes."""

    arguments: tuple[Arg, ...] = ()
    doc_flags: tuple[str, ...] = ()
    deprecated_since: str | None = None
    replaced_by: str | None = None


class GrammarError(ValueError):
    """Malformed grammar notation."""


# One lexeme: white space, a bracket or bar, or a word (anything else up to those).
_LEX = re.compile(r"(\s+)|([\[\](){}|])|([^\s\[\](){}|]+)")
_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
_TOKEN = re.compile(r"(?:[A-Z][A-Z0-9_-]*|[*$=~])\Z")
_ENTRY_NAME = re.compile(r"[a-z][a-z0-9_-]*(?:\|[a-z][a-z0-9_-]*)?\Z")
_VERSION = r"\d+(?:\.\d+)*"
_ATTR = re.compile(rf"<([^<>]+)>|#(\d+)|(\.\.\.)|@({_VERSION})|!({_VERSION})")
_KIND_END = re.compile(r"[<#.@!]")  # where a type or token ends and its attributes start


class _Parser:
    """Recursive descent over one entry's arguments (lexemes with white space kept,
    since attributes must touch what they qualify)."""

    def __init__(self, entry: str, text: str) -> None:
        self.entry = entry
        self.lex = [(m.lastindex or 0, m.group(), m.start()) for m in _LEX.finditer(text)]
        self.text = text
        self.i = 0
        self.word = 0  # the lexeme index of the word being read, for errors
        self.keys = 0  # key arguments so far: the default key-spec index

    def fail(self, why: str, word: bool = False) -> GrammarError:
        """An error pointing at the next lexeme, or (``word``) at the word being read."""
        i = self.word if word else self.i
        rest = self.text[self.lex[i][2]:].strip() if i < len(self.lex) else ""
        return GrammarError(f"{self.entry}: {why}, " + (f"at {rest[:30]!r}" if rest else "at the end"))

    def peek(self) -> tuple[int, str]:
        """(kind, text) of the next lexeme, white space skipped; (0, "") at the end."""
        while self.i < len(self.lex) and self.lex[self.i][0] == 1:
            self.i += 1
        return self.lex[self.i][:2] if self.i < len(self.lex) else (0, "")

    def adjacent_word(self) -> str:
        """The word touching the previous lexeme (attributes after ``)``/``}``/``]``), or ""."""
        if self.i < len(self.lex) and self.lex[self.i][0] == 3:
            self.i += 1
            return self.lex[self.i - 1][1]
        return ""

    def sequence(self, closers: str) -> list[Arg]:
        args: list[Arg] = []
        while True:
            kind, text = self.peek()
            if kind == 0 or (kind == 2 and text in closers):
                return args
            args.append(self.argument())

    def argument(self) -> Arg:
        if self.peek() != (2, "["):
            return self.item()
        self.i += 1
        arg = self.item()
        if self.peek() != (2, "]"):
            raise self.fail("expected ']' after an optional argument")
        self.i += 1
        flags = ["optional", *arg.flags]
        after = self.adjacent_word()
        if after:
            if after != "...":
                raise self.fail(f"only '...' may follow ']', not {after!r}")
            if arg.token is None or "multiple" in arg.flags:
                raise self.fail("'[...]...' needs a token argument not already multiple")
            flags += ["multiple", "multiple_token"]
        return replace(arg, flags=tuple(flags))

    def item(self) -> Arg:
        kind, word = self.peek()
        if kind != 3:
            raise self.fail("expected an argument")
        self.word = self.i
        self.i += 1
        if ":" in word:
            return self.body(word, None)
        head = _KIND_END.search(word)
        token = word[: head.start()] if head else word
        if not token:
            raise self.fail(f"{word!r} must touch the argument it qualifies", word=True)
        if not _TOKEN.match(token):
            raise self.fail(f"{token!r} is neither name:type nor an upper-case token", word=True)
        nkind, nword = self.peek()
        if nkind == 3 and ":" in nword:  # TOKEN name:... is one argument
            if head:
                raise self.fail(f"attributes go after the argument that {token} introduces", word=True)
            self.word = self.i
            self.i += 1
            return self.body(nword, token)
        return self.finish(token.lower(), "pure-token", token, word[len(token):], ())

    def body(self, word: str, token: str | None) -> Arg:
        name, _, rest = word.partition(":")
        if not _NAME.match(name):
            raise self.fail(f"bad argument name {name!r}", word=True)
        if rest:
            head = _KIND_END.search(rest)
            what = rest[: head.start()] if head else rest
            attrs = rest[len(what):]
            if what in TYPES:
                return self.finish(name, what, token, attrs, ())
            if not _TOKEN.match(what):
                raise self.fail(f"{what!r} is neither a type ({' '.join(sorted(TYPES))}) nor a token", word=True)
            if token is not None:
                raise self.fail(f"a pure token cannot have a token ({token} {word})", word=True)
            return self.finish(name, "pure-token", what, attrs, ())
        opener = self.lex[self.i][1] if self.i < len(self.lex) else ""
        if opener not in ("(", "{"):
            raise self.fail(f"expected a type, a token, '(' or '{{' after {name}:")
        self.i += 1
        closer = ")" if opener == "(" else "}"
        members = self.alternatives() if opener == "(" else self.sequence("}")
        if not members:
            raise self.fail(f"{name}: an empty group")
        if self.peek() != (2, closer):
            raise self.fail(f"expected {closer!r} to close {name}")
        self.i += 1
        self.word = self.i  # errors in the attributes point at them
        return self.finish(name, "oneof" if opener == "(" else "block", token, self.adjacent_word(), tuple(members))

    def alternatives(self) -> list[Arg]:
        alts = [self.argument()]
        while self.peek() == (2, "|"):
            self.i += 1
            alts.append(self.argument())
        return alts

    def finish(self, name: str, type_: str, token: str | None, attrs: str, members: tuple[Arg, ...]) -> Arg:
        found: dict[int, str] = {}
        pos = 0
        while pos < len(attrs):
            m = _ATTR.match(attrs, pos)
            if m is None:
                raise self.fail(f"{name}: bad attribute {attrs[pos:]!r}", word=True)
            if m.lastindex in found:
                raise self.fail(f"{name}: attribute {m.group()!r} given twice", word=True)
            found[m.lastindex or 0] = m.group(m.lastindex or 0)
            pos = m.end()
        if 1 in found and type_ in ("oneof", "block"):
            raise self.fail(f"{name}: a {type_} has no display text", word=True)
        if 2 in found and type_ in ("oneof", "block"):
            raise self.fail(f"{name}: a {type_} has no key-spec index", word=True)
        key_spec_index = int(found[2]) if 2 in found else -1
        if type_ == "key":
            key_spec_index = key_spec_index if 2 in found else self.keys
            self.keys += 1
        return Arg(
            name=name,
            type=type_,
            display_text=None if type_ in ("oneof", "block") else found.get(1, name),
            key_spec_index=key_spec_index,
            token=token,
            since=found.get(4),
            deprecated_since=found.get(5),
            flags=("multiple",) if 3 in found else (),
            arguments=members,
        )


def parse_entry(entry: str) -> tuple[str, Doc]:
    """One table entry (continuation lines joined) as (command name, Doc)."""
    head, *clauses = entry.split(";")
    name, _, text = head.strip().partition(" ")
    if not _ENTRY_NAME.match(name):
        raise GrammarError(f"bad command name {name!r} in {entry.strip()[:40]!r}")
    parser = _Parser(name, text)
    args = parser.sequence("")
    if parser.i < len(parser.lex):
        raise parser.fail("unexpected text")
    attrs: dict[str, str] = {}
    for clause in clauses:
        key, _, value = clause.strip().partition(" ")
        value = value.strip()
        if key not in ("doc_flags", "deprecated_since", "replaced_by") or not value:
            raise GrammarError(f"{name}: bad clause {clause.strip()!r} (doc_flags, deprecated_since or replaced_by, with a value)")
        if key in attrs:
            raise GrammarError(f"{name}: clause {key} given twice")
        attrs[key] = value
    given = attrs.get("doc_flags", "").split()
    unknown = set(given) - set(DOC_FLAGS)
    if unknown:
        raise GrammarError(f"{name}: unknown doc flag(s) {' '.join(sorted(unknown))}")
    doc_flags = tuple(f for f in DOC_FLAGS if f in given)
    if "deprecated_since" in attrs and not re.fullmatch(_VERSION, attrs["deprecated_since"]):
        raise GrammarError(f"{name}: deprecated_since {attrs['deprecated_since']!r} is not a version")
    return name, Doc(tuple(args), doc_flags, attrs.get("deprecated_since"), attrs.get("replaced_by"))


def parse_table(text: str) -> dict[str, Doc]:
    """Every entry of a grammar table, by command name."""
    entries: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            if not entries:
                raise GrammarError(f"a continuation line before any entry: {line.strip()[:40]!r}")
            entries[-1] += " " + line.strip()
        else:
            entries.append(line)
    table: dict[str, Doc] = {}
    for entry in entries:
        name, doc = parse_entry(entry)
        if name in table:
            raise GrammarError(f"{name}: two entries")
        table[name] = doc
    return table


_GRAMMAR = """
# ---- connection ----
ping            [message:string]
echo            message:string
hello           [arguments:{protover:integer
                    [AUTH auth:{username:string password:string}] [SETNAME clientname:string]}]
auth            [username:string@6.0.0] password:string
select          index:integer
quit
reset

# ---- CLIENT ----
client
client|id
client|setname  connection-name:string
client|getname
client|setinfo  attr:(LIB-NAME libname:string | LIB-VER libver:string)
client|list     [TYPE client-type:(NORMAL|MASTER|REPLICA|PUBSUB)@5.0.0]
                [ID client-id:integer...@6.2.0] [USER username:string@8.1.0]
                [ADDR addr:string<ip:port>@8.1.0] [LADDR laddr:string<ip:port>@8.1.0]
                [SKIPME skipme:(YES|NO)@8.1.0] [MAXAGE maxage:integer@8.1.0]
                [NAME name:string@9.0.0] [IDLE idle:integer@9.0.0] [FLAGS flags:string@9.0.0]
                [LIB-NAME lib-name:string@9.0.0] [LIB-VER lib-ver:string@9.0.0]
                [DB db:integer@9.0.0] [CAPA capa:string@9.0.0] [IP ip:string@9.0.0]
                [NOT-TYPE not-client-type:(NORMAL|MASTER|REPLICA|PUBSUB)@9.0.0]
                [NOT-ID not-client-id:integer...@9.0.0] [NOT-USER not-username:string@9.0.0]
                [NOT-ADDR not-addr:string<ip:port>@9.0.0]
                [NOT-LADDR not-laddr:string<ip:port>@9.0.0] [NOT-NAME not-name:string@9.0.0]
                [NOT-FLAGS not-flags:string@9.0.0] [NOT-LIB-NAME not-lib-name:string@9.0.0]
                [NOT-LIB-VER not-lib-ver:string@9.0.0] [NOT-DB not-db:integer@9.0.0]
                [NOT-CAPA not-capa:string@9.0.0] [NOT-IP not-ip:string@9.0.0]
client|info
client|kill     filter:(
                  old-format:string<ip:port>!2.8.12 |
                  new-format:(
                    [ID client-id:integer...@2.8.12] |
                    [TYPE client-type:(NORMAL|MASTER@3.2.0|PRIMARY@8.0.0|SLAVE|REPLICA@5.0.0|
                      PUBSUB)@2.8.12] |
                    [USER username:string] | [ADDR addr:string<ip:port>] |
                    [LADDR laddr:string<ip:port>@6.2.0] | [SKIPME skipme:(YES|NO)] |
                    [MAXAGE maxage:integer@8.0.0] | [NAME name:string@9.0.0] |
                    [IDLE idle:integer@9.0.0] | [FLAGS flags:string@9.0.0] |
                    [LIB-NAME lib-name:string@9.0.0] | [LIB-VER lib-ver:string@9.0.0] |
                    [DB db:integer@9.0.0] | [CAPA capa:string@9.0.0] | [IP ip:string@9.0.0] |
                    [NOT-TYPE not-client-type:(NORMAL|MASTER|PRIMARY|SLAVE|REPLICA|PUBSUB)@9.0.0] |
                    [NOT-ID not-client-id:integer...@9.0.0] | [NOT-USER not-username:string@9.0.0] |
                    [NOT-ADDR not-addr:string<ip:port>@9.0.0] |
                    [NOT-LADDR not-laddr:string<ip:port>@9.0.0] |
                    [NOT-NAME not-name:string@9.0.0] | [NOT-FLAGS not-flags:string@9.0.0] |
                    [NOT-LIB-NAME not-lib-name:string@9.0.0] |
                    [NOT-LIB-VER not-lib-ver:string@9.0.0] | [NOT-DB not-db:integer@9.0.0] |
                    [NOT-CAPA not-capa:string@9.0.0] | [NOT-IP not-ip:string@9.0.0]
                  )...
                )
client|pause    timeout:integer [mode:(WRITE|ALL)@6.2.0]
client|unpause
client|no-evict enabled:(ON|OFF)
client|no-touch enabled:(ON|OFF)
client|help
client|unblock  client-id:integer [unblock-type:(TIMEOUT|ERROR)]

# ---- COMMAND ----
command
command|count
command|info    [command-name:string...]
command|list    [FILTERBY filterby:(MODULE module-name:string | ACLCAT category:string |
                    PATTERN pattern:pattern)]
command|getkeys command:string [arg:string...]
command|getkeysandflags command:string [arg:string...]
command|docs    [command-name:string...]
command|help

# ---- server ----
info            [section:string...]
config
config|get      parameter:string...
config|set      data:{parameter:string value:string}...
config|resetstat
config|rewrite
config|help
slowlog
slowlog|get     [count:integer]
slowlog|len
slowlog|reset
slowlog|help
latency
latency|latest
latency|history event:string
latency|reset   [event:string...]
latency|doctor
latency|histogram [command:string...]
latency|help
memory
memory|usage    key:key [SAMPLES count:integer]
memory|stats
memory|doctor
memory|help
debug           ; doc_flags syscmd
monitor
role
time
shutdown        [abort-selector:(
                  save-selector-block:{[save-selector:(NOSAVE|SAVE)] [NOW@7.0.0] [FORCE@7.0.0]
                    [SAFE@9.0.0] [FAILOVER@9.0.0]} |
                  ABORT@7.0.0
                )]
bgrewriteaof
bgsave          [operation:(SCHEDULE@3.2.2|CANCEL@8.1.0)]
save
lastsave
wait            numreplicas:integer timeout:integer
waitaof         numlocal:integer numreplicas:integer timeout:integer
dbsize
flushdb         [flush-type:(ASYNC@4.0.0|SYNC@6.2.0)]
flushall        [flush-type:(ASYNC@4.0.0|SYNC@6.2.0)]
swapdb          index1:integer index2:integer

# ---- strings ----
get             key:key
set             key:key value:string
                [condition:(NX@2.6.12 | XX@2.6.12 | IFEQ comparison-value:string@8.1.0)]
                [GET@6.2.0]
                [expiration:(EX seconds:integer@2.6.12 | PX milliseconds:integer@2.6.12 |
                    EXAT unix-time-seconds:unix-time@6.2.0 |
                    PXAT unix-time-milliseconds:unix-time@6.2.0 | KEEPTTL@6.0.0)]
getex           key:key
                [expiration:(EX seconds:integer | PX milliseconds:integer |
                    EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time |
                    PERSIST)]
getdel          key:key
getset          key:key value:string
setnx           key:key value:string
setex           key:key seconds:integer value:string
psetex          key:key milliseconds:integer value:string
mget            key:key...
mset            data:{key:key value:string}...
msetnx          data:{key:key value:string}...
incr            key:key
decr            key:key
incrby          key:key increment:integer
decrby          key:key decrement:integer
incrbyfloat     key:key increment:double
append          key:key value:string
strlen          key:key
getrange        key:key start:integer end:integer
substr          key:key start:integer end:integer
setrange        key:key offset:integer value:string
lcs             key1:key key2:key#0 [LEN] [IDX] [MINMATCHLEN min-match-len:integer] [WITHMATCHLEN]
delifeq         key:key value:string

# ---- keys ----
del             key:key...
unlink          key:key...
exists          key:key...
touch           key:key...
type            key:key
expire          key:key seconds:integer [condition:(NX|XX|GT|LT)@7.0.0]
pexpire         key:key milliseconds:integer [condition:(NX|XX|GT|LT)@7.0.0]
expireat        key:key unix-time-seconds:unix-time [condition:(NX|XX|GT|LT)@7.0.0]
pexpireat       key:key unix-time-milliseconds:unix-time [condition:(NX|XX|GT|LT)@7.0.0]
ttl             key:key
pttl            key:key
expiretime      key:key
pexpiretime     key:key
persist         key:key
rename          key:key newkey:key
renamenx        key:key newkey:key
copy            source:key destination:key [DB destination-db:integer] [REPLACE]
move            key:key db:integer
keys            pattern:pattern
scan            cursor:integer [MATCH pattern:pattern] [COUNT count:integer]
                [TYPE type:string@6.0.0]
randomkey

# ---- OBJECT ----
object
object|encoding key:key
object|idletime key:key
object|freq     key:key
object|refcount key:key
object|help

# ---- hashes ----
hset            key:key data:{field:string value:string}...
hsetnx          key:key field:string value:string
hget            key:key field:string
hmget           key:key field:string...
hmset           key:key data:{field:string value:string}...
hgetall         key:key
hdel            key:key field:string...
hlen            key:key
hstrlen         key:key field:string
hexists         key:key field:string
hkeys           key:key
hvals           key:key
hincrby         key:key field:string increment:integer
hincrbyfloat    key:key field:string increment:double
hrandfield      key:key [options:{count:integer [WITHVALUES]}]
hscan           key:key cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [NOVALUES]
hexpire         key:key seconds:integer [condition:(NX|XX|GT|LT)]
                FIELDS fields:{numfields:integer field:string...}
hpexpire        key:key milliseconds:integer [condition:(NX|XX|GT|LT)@9.0.0]
                FIELDS fields:{numfields:integer#0 field:string...}
hexpireat       key:key unix-time-seconds:integer [condition:(NX|XX|GT|LT)@9.0.0]
                FIELDS fields:{numfields:integer#0 field:string...}
hpexpireat      key:key unix-time-milliseconds:integer [condition:(NX|XX|GT|LT)@9.0.0]
                FIELDS fields:{numfields:integer#0 field:string...}
httl            key:key FIELDS fields:{numfields:integer#0 field:string...}
hpttl           key:key FIELDS fields:{numfields:integer#0 field:string...}
hexpiretime     key:key FIELDS fields:{numfields:integer#0 field:string...}
hpexpiretime    key:key FIELDS fields:{numfields:integer#0 field:string...}
hpersist        key:key FIELDS fields:{numfields:integer#0 field:string...}
hgetdel         key:key FIELDS fields:{numfields:integer#0 field:string...}
hgetex          key:key
                [expiration:(EX seconds:integer | PX milliseconds:integer |
                    EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time |
                    PERSIST)]
                FIELDS fields:{numfields:integer#0 field:string...}
hsetex          key:key [key-condition:(NX|XX)] [fields-condition:(FNX|FXX)]
                [expiration:(EX seconds:integer | PX milliseconds:integer |
                    EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time |
                    KEEPTTL)]
                FIELDS fields:{numfields:integer#0 data:{field:string value:string}...}

# ---- streams ----
xadd            key:key [NOMKSTREAM@6.2.0]
                [trim:{strategy:(MAXLEN|MINID@6.2.0) [operator:(equal:=|approximately:~)]
                    threshold:string [LIMIT count:integer@6.2.0]}]
                id-selector:(auto-id:*|id:string) data:{field:string value:string}...
xlen            key:key
xrange          key:key start:string end:string [COUNT count:integer]
xrevrange       key:key end:string start:string [COUNT count:integer]
xdel            key:key id:string...
xtrim           key:key
                trim:{strategy:(MAXLEN|MINID@6.2.0) [operator:(equal:=|approximately:~)]
                    threshold:string [LIMIT count:integer@6.2.0]}
xread           [COUNT count:integer] [BLOCK milliseconds:integer]
                STREAMS streams:{key:key... id:string...}
xreadgroup      GROUP group-block:{group:string consumer:string} [COUNT count:integer]
                [BLOCK milliseconds:integer] [NOACK] STREAMS streams:{key:key... id:string...}
xgroup
xgroup|create   key:key group:string id-selector:(id:string|new-id:$) [MKSTREAM]
                [ENTRIESREAD entriesread:integer<entries-read>]
xgroup|createconsumer key:key group:string consumer:string
xgroup|delconsumer key:key group:string consumer:string
xgroup|destroy  key:key group:string
xgroup|help
xgroup|setid    key:key group:string id-selector:(id:string|new-id:$)
                [ENTRIESREAD entriesread:integer<entries-read>]
xack            key:key group:string id:string...
xpending        key:key group:string
                [filters:{[IDLE min-idle-time:integer@6.2.0] start:string end:string count:integer
                    [consumer:string]}]
xclaim          key:key group:string consumer:string min-idle-time:string id:string...
                [IDLE ms:integer] [TIME unix-time-milliseconds:unix-time] [RETRYCOUNT count:integer]
                [FORCE] [JUSTID] [LASTID lastid:string]
xautoclaim      key:key group:string consumer:string min-idle-time:string start:string
                [COUNT count:integer] [JUSTID]
xinfo
xinfo|consumers key:key group:string
xinfo|groups    key:key
xinfo|help
xinfo|stream    key:key [full-block:{FULL [COUNT count:integer]}]
xsetid          key:key last-id:string [ENTRIESADDED entries-added:integer@7.0.0]
                [MAXDELETEDID max-deleted-id:string@7.0.0]

# ---- sets ----
sadd            key:key member:string...
srem            key:key member:string...
smembers        key:key
sismember       key:key member:string
smismember      key:key member:string...
scard           key:key
spop            key:key [count:integer@3.2.0]
srandmember     key:key [count:integer@2.6.0]
smove           source:key destination:key member:string
sinter          key:key...
sunion          key:key...
sdiff           key:key...
sinterstore     destination:key key:key...
sunionstore     destination:key key:key...
sdiffstore      destination:key key:key...
sintercard      numkeys:integer key:key... [LIMIT limit:integer]
sscan           key:key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]

# ---- sorted sets ----
zadd            key:key [condition:(NX|XX)@3.0.2] [comparison:(GT|LT)@6.2.0] [change:CH@3.0.2]
                [increment:INCR@3.0.2] data:{score:double member:string}...
zincrby         key:key increment:integer member:string
zscore          key:key member:string
zmscore         key:key member:string...
zcard           key:key
zcount          key:key min:double max:double
zlexcount       key:key min:string max:string
zrange          key:key start:string stop:string [sortby:(BYSCORE|BYLEX)@6.2.0] [REV@6.2.0]
                [LIMIT limit:{offset:integer count:integer}@6.2.0] [WITHSCORES]
zrangestore     dst:key src:key min:string max:string [sortby:(BYSCORE|BYLEX)] [REV]
                [LIMIT limit:{offset:integer count:integer}]
zrevrange       key:key start:integer stop:integer [WITHSCORES]
zrangebyscore   key:key min:double max:double [WITHSCORES@2.0.0]
                [LIMIT limit:{offset:integer count:integer}]
zrevrangebyscore key:key max:double min:double [WITHSCORES]
                [LIMIT limit:{offset:integer count:integer}]
zrangebylex     key:key min:string max:string [LIMIT limit:{offset:integer count:integer}]
zrevrangebylex  key:key max:string min:string [LIMIT limit:{offset:integer count:integer}]
zrank           key:key member:string [WITHSCORE]
zrevrank        key:key member:string [WITHSCORE]
zrem            key:key member:string...
zremrangebyrank key:key start:integer stop:integer
zremrangebyscore key:key min:double max:double
zremrangebylex  key:key min:string max:string
zpopmin         key:key [count:integer]
zpopmax         key:key [count:integer]
zmpop           numkeys:integer key:key... where:(MIN|MAX) [COUNT count:integer]
zrandmember     key:key [options:{count:integer [WITHSCORES]}]
zunion          numkeys:integer key:key... [WEIGHTS weight:integer...]
                [AGGREGATE aggregate:(SUM|MIN|MAX)] [WITHSCORES]
zinter          numkeys:integer key:key... [WEIGHTS weight:integer...]
                [AGGREGATE aggregate:(SUM|MIN|MAX)] [WITHSCORES]
zdiff           numkeys:integer key:key... [WITHSCORES]
zunionstore     destination:key numkeys:integer key:key... [WEIGHTS weight:integer...]
                [AGGREGATE aggregate:(SUM|MIN|MAX)]
zinterstore     destination:key numkeys:integer key:key... [WEIGHTS weight:integer...]
                [AGGREGATE aggregate:(SUM|MIN|MAX)]
zdiffstore      destination:key numkeys:integer key:key...
zintercard      numkeys:integer key:key... [LIMIT limit:integer]
zscan           key:key cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [NOSCORES]
bzpopmin        key:key... timeout:double
bzpopmax        key:key... timeout:double
bzmpop          timeout:double numkeys:integer key:key... where:(MIN|MAX) [COUNT count:integer]

# ---- bitmaps ----
setbit          key:key offset:integer value:integer
getbit          key:key offset:integer
bitcount        key:key
                [range:{start:integer [end-unit-block:{end:integer [unit:(BYTE|BIT)@7.0.0]}]}]
bitpos          key:key bit:integer
                [range:{start:integer [end-unit-block:{end:integer [unit:(BYTE|BIT)@7.0.0]}]}]
bitop           operation:(AND|OR|XOR|NOT) destkey:key key:key...
bitfield        key:key
                [operation:(
                  GET get-block:{encoding:string offset:integer} |
                  write:{[OVERFLOW overflow-block:(WRAP|SAT|FAIL)]
                    write-operation:(
                      SET set-block:{encoding:string offset:integer value:integer} |
                      INCRBY incrby-block:{encoding:string offset:integer increment:integer}
                    )}
                )...]
bitfield_ro     key:key [GET get-block:{encoding:string offset:integer}]...

# ---- HyperLogLog ----
pfadd           key:key [element:string...]
pfcount         key:key...
pfmerge         destkey:key [sourcekey:key...]
pfselftest      ; doc_flags syscmd
pfdebug         subcommand:string key:key ; doc_flags syscmd

# ---- lists ----
lpush           key:key element:string...
rpush           key:key element:string...
lpushx          key:key element:string...
rpushx          key:key element:string...
lpop            key:key [count:integer@6.2.0]
rpop            key:key [count:integer@6.2.0]
llen            key:key
lrange          key:key start:integer stop:integer
lindex          key:key index:integer
lset            key:key index:integer element:string
linsert         key:key where:(BEFORE|AFTER) pivot:string element:string
lrem            key:key count:integer element:string
ltrim           key:key start:integer stop:integer
lpos            key:key element:string [RANK rank:integer] [COUNT num-matches:integer]
                [MAXLEN len:integer]
lmove           source:key destination:key wherefrom:(LEFT|RIGHT) whereto:(LEFT|RIGHT)
rpoplpush       source:key destination:key
lmpop           numkeys:integer key:key... where:(LEFT|RIGHT) [COUNT count:integer]
blpop           key:key... timeout:double
brpop           key:key... timeout:double
blmove          source:key destination:key wherefrom:(LEFT|RIGHT) whereto:(LEFT|RIGHT)
                timeout:double
brpoplpush      source:key destination:key timeout:double
blmpop          timeout:double numkeys:integer key:key... where:(LEFT|RIGHT) [COUNT count:integer]
"""

GRAMMAR: dict[str, Doc] = parse_table(_GRAMMAR)
