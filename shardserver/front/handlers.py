"""Commands the front answers: connection, server and cross-shard commands.

Ownership: these handlers own connection state and cross-shard orchestration;
they never read or write data themselves — data comes from shards through
``Front.call`` (internal runs).  Handlers return a reply value, or a coroutine
whose result is the reply (the connection's reply slot is reserved at once, so
order is kept), or raise ``CommandError``.

Registries: ``HANDLERS`` (route FRONT), ``CROSS`` (SINGLE commands whose keys
span shards), ``AGGREGATE`` (route ALL).  A test checks them against the table.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shardserver import REDIS_VERSION, VALKEY_VERSION, __version__, errors, log
from shardserver.commands import introspect
from shardserver.config import ConfigError
from shardserver.errors import CommandError
from shardserver.numbers import parse_c_int, strict_int
from shardserver.resp import OK, PONG, ErrorReply, Raw, Simple, Verbatim
from shardserver.slots import key_slot

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front

Handler = Callable[["Front", "ClientConnection", list[bytes]], Any]
HANDLERS: dict[str, Handler] = {}
CROSS: dict[str, Handler] = {}
AGGREGATE: dict[str, Handler] = {}


def _register(registry: dict[str, Handler], *names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for name in names:
            registry[name] = fn
        return fn

    return deco


def front(*names: str) -> Callable[[Handler], Handler]:
    return _register(HANDLERS, *names)


def cross(*names: str) -> Callable[[Handler], Handler]:
    return _register(CROSS, *names)


def aggregate(*names: str) -> Callable[[Handler], Handler]:
    return _register(AGGREGATE, *names)


def _raise_first_error(values: list[Any]) -> None:
    for v in values:
        if isinstance(v, ErrorReply):
            raise CommandError(v.text)


# ---------------------------------------------------------------- connection


@front("ping")
def ping(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    return PONG if len(argv) == 1 else argv[1]


@front("echo")
def echo(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return argv[1]


def _valid_name(name: bytes) -> bool:
    # Valkey checks the name as a C string: a NUL ends the check.
    return all(33 <= c <= 126 for c in name.split(b"\0", 1)[0])


def _check_password(fr: Front, user: bytes | None, password: bytes) -> None:
    if user is not None and user != b"default":
        raise CommandError(errors.WRONGPASS)
    if fr.requirepass and password.decode("utf-8", "surrogateescape") != fr.requirepass:
        raise CommandError(errors.WRONGPASS)


@front("auth")
def auth(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2 and not fr.requirepass:
        raise CommandError(errors.AUTH_NOT_CONFIGURED)
    user = argv[1] if len(argv) == 3 else None
    _check_password(fr, user, argv[-1])
    conn.authenticated = True
    return OK


def hello_map(fr: Front, conn: ClientConnection) -> dict[bytes, Any]:
    return {
        b"server": b"valkey",
        b"version": VALKEY_VERSION.encode(),
        b"proto": 3 if conn.resp3 else 2,
        b"id": conn.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


@front("hello")
def hello(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    proto = None
    if len(argv) >= 2:
        v = strict_int(argv[1])
        if v is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if v < 2 or v > 3:
            raise CommandError(errors.NOPROTO)
        proto = v
    j = 2
    user: bytes | None = None
    password: bytes | None = None
    name: bytes | None = None
    while j < len(argv):
        opt = argv[j].lower()
        left = len(argv) - j - 1
        if opt == b"auth" and left >= 2:
            user, password = argv[j + 1], argv[j + 2]
            j += 3
        elif opt == b"setname" and left >= 1:
            name = argv[j + 1]
            j += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[j].decode('utf-8', 'surrogateescape')}'")
    if password is not None:
        _check_password(fr, user, password)
        conn.authenticated = True
    if not conn.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    if name is not None:
        if not _valid_name(name) and name:
            raise CommandError(errors.CLIENT_NAME)
        conn.name = name
    if proto is not None:
        conn.resp3 = proto == 3
    return hello_map(fr, conn)


@front("select")
def select(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    index = parse_c_int(argv[1])
    if index < 0 or index >= fr.databases:
        raise CommandError(errors.DB_RANGE)
    conn.db = index
    return OK


@front("quit")
def quit_(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    conn.close_after_flush = True
    conn.closing = True
    return OK


@front("reset")
def reset(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    fr.blocking.drop(conn)
    conn.db = 0
    conn.resp3 = False
    conn.name = b""
    conn.authenticated = not fr.requirepass
    return Simple("RESET")


# ---------------------------------------------------------------- CLIENT


@front("client|id")
def client_id(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return conn.id


@front("client|setname")
def client_setname(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if not _valid_name(argv[2]):
        raise CommandError(errors.CLIENT_NAME)
    conn.name = argv[2]
    return OK


@front("client|getname")
def client_getname(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return conn.name or None


@front("client|setinfo")
def client_setinfo(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    attr = argv[2].lower()
    value = argv[3]
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'surrogateescape')}'")
    if not _valid_name(value):
        raise CommandError(f"ERR {attr.decode()} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        conn.lib_name = value
    else:
        conn.lib_ver = value
    return OK


def _client_type_ok(kind: bytes) -> bool:
    return kind.lower() in (b"normal", b"master", b"replica", b"slave", b"pubsub")


_CLIENT_FLAG_CHARS = frozenset(b"bcdeirtuxABEIMNOPRSTU")
_CLIENT_CAPA_CHARS = frozenset(b"r")
ClientFilter = Callable[["ClientConnection"], bool]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _positive_filter(value: bytes, name: str) -> int:
    n = strict_int(value)
    if n is None:
        raise CommandError(f"ERR {name} is not an integer or out of range")
    if n <= 0:
        raise CommandError(f"ERR {name} should be greater than 0")
    return n


def _host_of(addr: str) -> str:
    host = addr.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def parse_client_filters(fr: Front, argv: list[bytes], start: int) -> tuple[list[ClientFilter], bool | None]:
    """Valkey 9's CLIENT LIST / CLIENT KILL filters: (predicates, skipme or None).

    Every filter takes one value except ID / NOT-ID, which take the integers
    that follow (none is allowed).  Values are checked as they are read, so the first bad one
    decides the error, as in Valkey.
    """
    filters: list[ClientFilter] = []
    skipme: bool | None = None
    j, n = start, len(argv)
    while j < n:
        opt = argv[j].lower()
        neg = opt.startswith(b"not-")
        name = opt[4:] if neg else opt
        if name == b"id":
            ids: set[int] = set()
            j += 1
            while j < n:
                v = strict_int(argv[j])
                if v is None:
                    break
                if v < 1:
                    raise CommandError("ERR client-id should be greater than 0")
                ids.add(v)
                j += 1
            # no integer after it is no error: ID then matches no client, NOT-ID every one
            filters.append(lambda c, i=frozenset(ids), ng=neg: (c.id in i) != ng)
            continue
        if j + 1 >= n:
            raise CommandError(errors.SYNTAX)
        value = argv[j + 1]
        text = _text(value)
        pred: ClientFilter
        if name == b"type":
            if not _client_type_ok(value):
                raise CommandError(f"ERR Unknown client type '{text}'")
            kind = value.lower()
            pred = lambda c, k=kind: k == b"normal"  # noqa: E731  (every client is normal)
        elif name == b"user":
            if value != b"default":
                raise CommandError(f"ERR No such user '{text}'")
            pred = lambda c: True  # noqa: E731  (every client is the default user)
        elif name in (b"addr", b"laddr"):
            attr = name.decode()
            pred = lambda c, a=text, at=attr: getattr(c, at) == a  # noqa: E731
        elif name == b"ip":
            pred = lambda c, a=text: _host_of(c.addr) == a  # noqa: E731
        elif name == b"name":
            pred = lambda c, v=value: c.name == v  # noqa: E731
        elif name == b"lib-name":
            pred = lambda c, v=value: c.lib_name == v  # noqa: E731
        elif name == b"lib-ver":
            pred = lambda c, v=value: c.lib_ver == v  # noqa: E731
        elif name == b"flags":
            if not set(value) <= _CLIENT_FLAG_CHARS:
                where = "the NOT-FLAGS filter" if neg else "the provided filter"
                raise CommandError(f"ERR Unknown flags found in {where}: {text}")
            pred = lambda c, v=set(value): v <= set(b"N")  # noqa: E731  (flags=N for every client)
        elif name == b"capa":
            if not set(value) <= _CLIENT_CAPA_CHARS:
                where = "the NOT-CAPA filter" if neg else "the provided filter"
                raise CommandError(f"ERR Unknown capa found in {where}: {text}")
            pred = lambda c, v=set(value): not v  # noqa: E731  (no client has capabilities)
        elif name == b"db":
            label = opt.decode().upper()
            db = strict_int(value)
            if db is None or not -(2**31) <= db < 2**31:
                raise CommandError(f"ERR {label} is not an integer or out of range")
            if not 0 <= db < fr.databases:
                raise CommandError(f"ERR {label} number should be between 0 and {fr.databases - 1}")
            pred = lambda c, d=db: c.db == d  # noqa: E731
        elif name == b"maxage" and not neg:
            age = _positive_filter(value, "maxage")
            pred = lambda c, a=age: time.monotonic() - c.created >= a  # noqa: E731
        elif name == b"idle" and not neg:
            idle = _positive_filter(value, "idle")
            pred = lambda c, a=idle: time.monotonic() - c.last_active >= a  # noqa: E731
        elif name == b"skipme" and not neg:
            low = value.lower()
            if low not in (b"yes", b"no"):
                raise CommandError(errors.SYNTAX)
            skipme = low == b"yes"
            j += 2
            continue
        else:
            raise CommandError(errors.SYNTAX)
        filters.append((lambda c, p=pred: not p(c)) if neg else pred)
        j += 2
    return filters, skipme


@front("client|list")
def client_list(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) == 3:  # a lone word is no filter, whichever it is (Valkey: syntax error)
        raise CommandError(errors.SYNTAX)
    filters, skipme = parse_client_filters(fr, argv, 2)
    clients = [c for c in fr.clients.values() if not (skipme and c is conn) and all(f(c) for f in filters)]
    return Verbatim("".join(c.describe() + "\n" for c in sorted(clients, key=lambda c: c.id)))


@front("client|info")
def client_info(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return Verbatim(conn.describe() + "\n")


@front("client|pause")
def client_pause(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    timeout = strict_int(argv[2])
    if timeout is None:
        raise CommandError("ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    mode = b"all"
    if len(argv) == 4:
        mode = argv[3].lower()
    if len(argv) > 4 or mode not in (b"all", b"write"):
        raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    fr.pause(timeout / 1000.0, mode.decode())
    return OK


@front("client|unpause")
def client_unpause(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    fr.unpause()
    return OK


def _on_off(value: bytes) -> bool:
    low = value.lower()
    if low not in (b"on", b"off"):
        raise CommandError(errors.SYNTAX)
    return low == b"on"


@front("client|no-evict")
def client_no_evict(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    # There is no eviction (no maxmemory) yet, so the flag changes nothing but CLIENT LIST's 'e'.
    conn.no_evict = _on_off(argv[2])
    return OK


@front("client|no-touch")
def client_no_touch(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    conn.no_touch = _on_off(argv[2])
    return OK


@front("client|kill")
def client_kill(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) == 3:  # old form: CLIENT KILL addr:port
        addr = argv[2].decode("utf-8", "surrogateescape")
        for c in list(fr.clients.values()):
            if c.addr == addr:
                _kill(c, conn)
                return OK
        raise CommandError(errors.NO_SUCH_CLIENT)
    filters, skipme = parse_client_filters(fr, argv, 2)
    if skipme is None:
        skipme = True
    killed = 0
    for c in list(fr.clients.values()):
        if skipme and c is conn:
            continue
        if all(f(c) for f in filters):
            _kill(c, conn)
            killed += 1
    return killed


def _kill(target: ClientConnection, me: ClientConnection) -> None:
    if target is me:
        me.close_after_flush = True
        me.closing = True
    else:
        target.close_now()


CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "HELP",
    "    Print this help.",
]


@front("client|help")
def client_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return [Simple(line) for line in CLIENT_HELP]


@front("object|help")
def object_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return [
        Simple(line)
        for line in [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ]
    ]


# ---------------------------------------------------------------- COMMAND


@front("command")
def command(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.reply_command(argv)


@front("command|count")
def command_count(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return len(introspect.TABLE)


@front("command|info")
def command_info(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.reply_info(argv[2:])


@front("command|docs")
def command_docs(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.reply_docs(argv[2:])


@front("command|list")
def command_list(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.reply_list(argv[2:])


@front("command|getkeys")
def command_getkeys(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.getkeys(argv[2:], with_flags=False)


@front("command|getkeysandflags")
def command_getkeysandflags(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return introspect.getkeys(argv[2:], with_flags=True)


@front("command|help")
def command_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return [Simple(line) for line in introspect.HELP]


# ---------------------------------------------------------------- server


@front("time")
def time_(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


@front("role")
def role(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    """Always a primary with no replicas (shardserver does not replicate)."""
    return [b"master", 0, []]


@front("shutdown")
def shutdown(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    """As Valkey: SAVE, or (by default) a snapshot when save points are set and the AOF
    is off, then exit; a failed save is an error and nothing stops, unless FORCE.
    The shards are told they need not save again when SIGTERM ends them."""
    mode = "default"
    force = False
    for opt in argv[1:]:
        o = opt.lower()
        if o in (b"nosave", b"save"):
            mode = o.decode()
        elif o == b"force":
            force = True
        elif o == b"now":
            continue
        elif o == b"abort":
            raise CommandError("ERR No shutdown in progress.")
        else:
            raise CommandError(errors.SYNTAX)
    saving = mode == "save" or (mode == "default" and fr.config.snapshot_at_exit())
    cmds = [[b"__save"]] if saving else []
    futures = [fr.call(link.index, 0, [*cmds, [b"__exitsave", b"0"]]) for link in fr.links if link.up]

    async def run() -> Any:
        replies = [await f for f in futures]
        if saving and any(isinstance(r[0], ErrorReply) for r in replies) and not force:
            log.warning("Error trying to save the DB, can't exit.")
            for f in [fr.call(link.index, 0, [[b"__exitsave", b"1"]]) for link in fr.links if link.up]:
                await f
            raise CommandError(errors.SHUTDOWN_ERRORS)
        fr.request_shutdown(mode)
        conn.close_after_flush = True
        conn.closing = True
        return Raw(b"")  # the connection closes without a reply, as Valkey's

    return run()


@front("config|get")
def config_get(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pairs = fr.config.config_get([a.decode("utf-8", "surrogateescape") for a in argv[2:]])
    return {k.encode(): v.encode() for k, v in pairs}


@front("config|set")
def config_set(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    args = argv[2:]
    if len(args) % 2:
        raise CommandError(errors.wrong_arity("config|set"))
    pairs = [(args[i].decode("utf-8", "surrogateescape"), args[i + 1].decode("utf-8", "surrogateescape")) for i in range(0, len(args), 2)]
    try:
        pending = fr.set_config(pairs)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    if pending is None:
        return OK

    async def applied() -> Any:
        await pending  # turning the AOF on: every shard must have done it
        return OK

    return applied()


@front("config|resetstat")
def config_resetstat(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    for k in fr.stats:
        fr.stats[k] = 0
    fr.command_stats().reset()
    for link in fr.links:
        if link.up:
            fr.call(link.index, 0, [[b"__resetstat"]])
    return OK


@front("config|help")
def config_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return [
        Simple(line)
        for line in [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Print this help.",
        ]
    ]


@front("info")
def info(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    from shardserver.front.info import gather_shards, needs_cmdstats, render
    from shardserver.front.introspection import gather_cmdstats

    sections = [a.decode("utf-8", "surrogateescape").lower() for a in argv[1:]]
    pending = gather_shards(fr, sections)
    pending_cmd = gather_cmdstats(fr) if needs_cmdstats(sections) else None

    async def build() -> Any:
        shard_stats = await pending
        cmd = await pending_cmd if pending_cmd is not None else None
        return Verbatim(render(fr, conn, sections, shard_stats, cmd))

    return build()


# ---------------------------------------------------------------- fan-out to all shards


async def _gather(futures: list[asyncio.Future[list[Any]]]) -> list[Any]:
    values = [(await f)[0] for f in futures]
    _raise_first_error(values)
    return values


def _everywhere(fr: Front, argv: list[bytes]) -> list[tuple[int, list[bytes]]]:
    """The same command for every shard (the ALL route), for ``Front.split``."""
    return [(i, argv) for i in range(fr.nshards)]


@aggregate("pfselftest")
def pfselftest(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    """Every shard tests its HyperLogLog code (the same code; a shard's build may differ)."""
    return fr.split(conn, _everywhere(fr, argv), lambda values: OK)


@aggregate("dbsize")
def dbsize(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return fr.split(conn, _everywhere(fr, argv), sum)


@aggregate("flushdb", "flushall", "swapdb")
def flush(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    # argument checks are the shards' own, run here first so no shard acts on a bad command
    from shardserver.shard.keys import check_flush_args, parse_swapdb

    if argv[0] == b"swapdb":
        parse_swapdb(argv, fr.databases)
    else:
        check_flush_args(argv)
    return fr.split_write(conn, _everywhere(fr, argv), lambda values: OK)


@aggregate("keys")
def keys(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return fr.split(conn, _everywhere(fr, argv), lambda parts: [key for part in parts for key in part])


def _pick_random(picks: list[list[Any]]) -> Any:
    """RANDOMKEY: one shard's pick, chosen with probability proportional to its key count."""
    picks = [v for v in picks if v[0] is not None]
    if not picks:
        return None
    r = random.randrange(max(sum(v[1] for v in picks), 1))
    for key, count in picks:
        if r < count:
            return key
        r -= count
    return picks[-1][0]


@aggregate("randomkey")
def randomkey(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return fr.split(conn, _everywhere(fr, argv), _pick_random)


# ---------------------------------------------------------------- keys on several shards


def _group(fr: Front, keys: list[bytes]) -> dict[int, list[int]]:
    """Shard -> indexes into ``keys``, preserving order."""
    owner = fr.slot_owner
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        shard = owner[key_slot(key)]
        idx = groups.get(shard)
        if idx is None:
            groups[shard] = [i]
        else:
            idx.append(i)
    return groups


@cross("mget")
def mget(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys = argv[1:]
    groups = _group(fr, keys)
    shards = list(groups)

    def merge(values: list[Any]) -> Any:
        out: list[Any] = [None] * len(keys)
        for shard, part in zip(shards, values, strict=True):
            for i, v in zip(groups[shard], part, strict=True):
                out[i] = v
        return out

    return fr.split(conn, [(s, [b"mget"] + [keys[i] for i in groups[s]]) for s in shards], merge)


@cross("mset")
def mset(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity("mset"))
    pairs = [(argv[i], argv[i + 1]) for i in range(1, len(argv), 2)]
    groups = _group(fr, [k for k, _ in pairs])
    calls = []
    for s, idx in groups.items():
        cmd = [b"mset"]
        for i in idx:
            cmd.extend(pairs[i])
        calls.append((s, cmd))
    return fr.split_write(conn, calls, lambda values: OK)


@cross("del", "unlink", "exists", "touch")
def count_keys(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    keys = argv[1:]
    groups = _group(fr, keys)
    name = argv[0].lower()
    calls = [(s, [name] + [keys[i] for i in idx]) for s, idx in groups.items()]
    return fr.split_write(conn, calls, sum) if name in (b"del", b"unlink") else fr.split(conn, calls, sum)


@cross("msetnx")
def msetnx(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity("msetnx"))
    pairs = [(argv[i], argv[i + 1]) for i in range(1, len(argv), 2)]
    groups = _group(fr, [k for k, _ in pairs])
    hold = fr.hold(list(groups))
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            checks = [hold.call(s, db, [[b"__count_existing"] + [pairs[i][0] for i in idx]]) for s, idx in groups.items()]
            counts = await _gather(checks)
            if sum(counts):
                return 0
            writes = []
            for s, idx in groups.items():
                cmd = [b"mset"]
                for i in idx:
                    cmd.extend(pairs[i])
                writes.append((s, db, [cmd]))
            _raise_first_error([v[0] for v in await fr.tx_send(writes)])
            return 1
        finally:
            fr.release(hold)

    return run()


def _rename(fr: Front, conn: ClientConnection, argv: list[bytes], nx: bool) -> Any:
    src, dst = argv[1], argv[2]
    a, b = fr.owner_of(src), fr.owner_of(dst)
    hold = fr.hold([a, b])
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            dump_f = hold.call(a, db, [[b"__dump", src]])
            exist_f = hold.call(b, db, [[b"exists", dst]]) if nx else None
            entry = (await dump_f)[0]
            _raise_first_error([entry])
            if entry is None:
                raise CommandError(errors.NO_SUCH_KEY)
            if exist_f is not None:
                exists = (await exist_f)[0]
                _raise_first_error([exists])
                if exists:
                    return 0
            kind, payload, when, raw = entry
            # one write across both shards: whole after a crash (Front.tx_send)
            parts = [(b, db, [[b"__restore", dst, kind, payload, b"%d" % when, b"%d" % raw]]), (a, db, [[b"del", src]])]
            _raise_first_error([v[0] for v in await fr.tx_send(parts)])
            return 1 if nx else OK
        finally:
            fr.release(hold)

    return run()


@cross("rename")
def rename(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _rename(fr, conn, argv, nx=False)


@cross("renamenx")
def renamenx(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _rename(fr, conn, argv, nx=True)


@cross("copy")
def copy(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    from shardserver.shard.keys import parse_copy_args

    src, dst = argv[1], argv[2]
    dest_db, replace = parse_copy_args(argv, conn.db, fr.databases)
    a, b = fr.owner_of(src), fr.owner_of(dst)
    hold = fr.hold([a, b])
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            dump_f = hold.call(a, db, [[b"__dump", src]])
            exist_f = None if replace else hold.call(b, dest_db, [[b"exists", dst]])
            entry = (await dump_f)[0]
            _raise_first_error([entry])
            if entry is None:
                return 0
            if exist_f is not None:
                exists = (await exist_f)[0]
                if exists:
                    return 0
            kind, payload, when, raw = entry
            await _gather([hold.call(b, dest_db, [[b"__restore", dst, kind, payload, b"%d" % when, b"%d" % raw]])])
            return 1
        finally:
            fr.release(hold)

    return run()


@cross("lcs")
def lcs(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    a, b = fr.owner_of(argv[1]), fr.owner_of(argv[2])
    hold = fr.hold([a, b])
    db = conn.db

    async def run() -> Any:
        try:
            await hold.ready
            first_f = hold.call(a, db, [[b"__getstr", argv[1]]])
            other_f = hold.call(b, db, [[b"__getstr", argv[2]]])
            first, other = (await first_f)[0], (await other_f)[0]
            _raise_first_error([first, other])
            value = (await hold.call(a, db, [[b"__lcs_with", argv[1], other] + argv[3:]]))[0]
            _raise_first_error([value])
            return value
        finally:
            fr.release(hold)

    return run()


__all__ = ["HANDLERS", "CROSS", "AGGREGATE", "REDIS_VERSION", "__version__"]


# Registers SLOWLOG, LATENCY, MEMORY, DEBUG, MONITOR and CONFIG REWRITE (they use the helpers above).
# Registers the cross-shard handlers of the data-type families (cross_*) and
# SLOWLOG, LATENCY, MEMORY, DEBUG, MONITOR and CONFIG REWRITE (they use the helpers above).
from shardserver.front import cross_bits as _cross_bits  # noqa: E402,F401
from shardserver.front import cross_list as _cross_list  # noqa: E402,F401
from shardserver.front import cross_sets as _cross_sets  # noqa: E402,F401
from shardserver.front import cross_stream as _cross_stream  # noqa: E402,F401
from shardserver.front import cross_zblock as _cross_zblock  # noqa: E402,F401
from shardserver.front import durability as _durability  # noqa: E402,F401
from shardserver.front import introspection as _introspection  # noqa: E402,F401
from shardserver.front import stream_block as _stream_block  # noqa: E402,F401
