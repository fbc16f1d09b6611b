"""Connection and server commands: shardserver against Valkey 9."""

from __future__ import annotations

import shlex
from typing import Any

from tests.differential.conftest import Err, Pair, call
from tests.differential.rawclient import RawClient


def _fresh(pair: Pair) -> tuple[RawClient, RawClient]:
    return RawClient(pair.shard_port), RawClient(pair.valkey_port)


def _exact_lines(a: RawClient, b: RawClient, text: str) -> None:
    for line in text.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        args = shlex.split(line)
        x, y = a.call(*args), b.call(*args)
        assert x == y, f"{line}\n  shard : {x!r}\n  valkey: {y!r}"


def test_ping_echo(pair: Pair) -> None:
    pair.exact_many(
        [
            ("ping",), ("PING",), ("ping", "hello"), ("ping", ""), ("ping", "a", "b"),
            ("echo", "hi"), ("echo", ""), ("echo", "a\r\nb"), ("echo",), ("echo", "a", "b"),
        ]
    )


def _hello_fields(reply: Any) -> dict[bytes, Any]:
    if isinstance(reply, list):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    # Not compared: id, version, and modules (Valkey 9.1 lists its Lua engine as a
    # module; shardserver has no scripting and lists none).
    return {k: v for k, v in reply.items() if k not in (b"id", b"version", b"modules")}


def test_hello(pair: Pair) -> None:
    for args in (("hello",), ("hello", "2"), ("hello", "3"), ("hello", "2", "setname", "foo"),
                 ("hello", "3", "auth", "default", "anything"), ("hello", "2", "AUTH", "default", "pw", "SETNAME", "x"),
                 ("hello", "2", "setname", "a", "setname", "b"), ("hello", "2", "setname", "")):
        a, b = pair.run(*args)
        assert not isinstance(a, Err) and not isinstance(b, Err), (args, a, b)
        assert _hello_fields(a) == _hello_fields(b), args
        pair.both("client", "getname")
    pair.run("hello", str(pair.protocol))  # back to what the client expects


def test_hello_errors(pair: Pair) -> None:
    a, b = _fresh(pair)
    try:
        _exact_lines(
            a,
            b,
            """
            hello 4
            hello 1
            hello 0
            hello -1
            hello x
            hello 3.0
            hello 9223372036854775808
            hello 2 foo
            hello 2 auth
            hello 2 auth a
            hello 2 auth default
            hello 2 setname
            hello 2 setname "a b"
            hello 2 auth nosuchuser pw
            client getname
            """,
        )
        for bad in (b"a\nb", b"a\x00b", b"\xc3\xa9"):
            x, y = a.call("hello", "2", "setname", bad), b.call("hello", "2", "setname", bad)
            assert x[:1] == y[:1] and (x == y or x[:1] == b"*"), (bad, x, y)
            assert a.call("client", "getname") == b.call("client", "getname")
    finally:
        a.close()
        b.close()


def test_hello_resp3_switch_raw(pair: Pair) -> None:
    """After HELLO 3 the very next replies use RESP3 types on both servers."""
    a, b = _fresh(pair)
    try:
        x, y = a.call("hello", "3"), b.call("hello", "3")
        assert x[:1] == y[:1] == b"%"
        _exact_lines(
            a,
            b,
            """
            get nosuch
            client getname
            set k v
            type k
            lcs k nosuch idx
            object encoding nosuch
            """,
        )
        x, y = a.call("hello", "2"), b.call("hello", "2")
        assert x[:1] == y[:1] == b"*"
        _exact_lines(a, b, "get nosuch")
        a.call("del", "k")
        b.call("del", "k")
    finally:
        a.close()
        b.close()


def test_auth_without_password(pair: Pair) -> None:
    # Raw clients: redis-py treats WRONGPASS as a connection error and retries.
    a, b = _fresh(pair)
    try:
        _exact_lines(
            a,
            b,
            """
            auth
            auth x
            auth a b
            auth default x
            auth a b c
            ping
            """,
        )
    finally:
        a.close()
        b.close()


def test_select(pair: Pair) -> None:
    pair.script(
        """
        select 0
        select 15
        set a 1
        select 16
        select -1
        select 2147483647
        select 2147483648
        select -2147483649
        select 9223372036854775808
        select x
        select 1.0
        select " 1"
        select
        select 0 1
        get a
        select 0
        get a
        """
    )


def test_client_names_and_info(pair: Pair) -> None:
    pair.script(
        """
        client getname
        client setname foo
        client getname
        client setname "a b"
        client setname é
        client setname ""
        client getname
        client setname "~!@#$%^&*()_+{}|:<>?"
        client getname
        client setinfo lib-name redis-py
        client setinfo LIB-VER 1.0
        client setinfo lib-name "a b"
        client setinfo lib-name foo(bar)
        client setinfo lib-name ""
        client setinfo foo bar
        client setinfo lib-name
        client setname
        client setname a b
        client getname x
        client id x
        client info x
        client
        client foo
        client help x
        """
    )
    for bad in (b"a\nb", b"a\rb", b"a\x7fb", b"a\x00b", b"\t"):
        pair.both("client", "setname", bad)
        pair.both("client", "setinfo", "lib-ver", bad)
    a, b = pair.run("client", "id")
    assert isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0


def _client_fields(text: Any) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode()
    line = str(text).strip().splitlines()[0]
    return [f.split("=", 1)[0] for f in line.split(" ")]


def test_client_list_and_info_fields(pair: Pair) -> None:
    pair.both("client", "setname", "me")
    for args in (("client", "info"), ("client", "list"), ("client", "list", "type", "normal")):
        a, b = pair.run(*args)
        assert _client_fields(a) == _client_fields(b), args
    a, b = pair.run("client", "info")
    fa = dict(f.split("=", 1) for f in a.decode().strip().split(" "))
    fb = dict(f.split("=", 1) for f in b.decode().strip().split(" "))
    for field in ("name", "db", "flags", "user", "resp", "multi", "sub", "psub", "ssub", "watch", "redir", "lib-name", "lib-ver", "cmd"):
        assert fa[field] == fb[field], field


def test_client_list_filters(pair: Pair) -> None:
    cmds = """
        client list type foo
        client list type normal x
        client list type
        client list type master
        client list type replica
        client list type slave
        client list type pubsub
        client list id
        client list id x
        client list id 0
        client list id -1
        client list id 1 0
        client list id 1 2 x
        client list id -0
        client list id +1
        client list id 9223372036854775808
        client list id 999999 999998
        client list id 999999 type normal
        client list not-id
        client list id type foo
        client list id type normal
        client list type normal id
        client list type normal id x
        client list id id
        client list id id 0
        client list id 5 id
        client list id 99 not-id
        client list not-id type normal
        client list type normal not-id
        client list id maxage ''
        client list id skipme yes
        client list user default user nosuch
        client list user nosuch
        client list not-user x
        client list not-type foo
        client list addr 1.2.3.4:5
        client list laddr 1.2.3.4:5
        client list skipme yes
        client list skipme x
        client list maxage x
        client list maxage 0
        client list maxage -1
        client list maxage 9223372036854775808
        client list maxage 100000
        client list idle x
        client list idle 0
        client list idle 100000
        client list flags !
        client list flags abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ
        client list not-flags !
        client list flags x
        client list capa x
        client list not-capa q
        client list capa r
        client list db x
        client list db 99
        client list db -1
        client list db 2147483648
        client list not-db x
        client list name nosuchname
        client list lib-name nosuch
        client list lib-ver nosuch
        client list ip 10.9.8.7
        client list name
        client list foo
        client list foo bar
    """
    for line in cmds.strip().splitlines():
        args = shlex.split(line.strip())
        a, b = pair.run(*args)
        if isinstance(a, Err) or isinstance(b, Err) or not a or not b:
            assert a == b, f"{line}\n  shard : {a!r}\n  valkey: {b!r}"
        else:
            assert _client_fields(a) == _client_fields(b), line


def test_client_kill_errors(pair: Pair) -> None:
    pair.script(
        """
        client kill
        client kill 1.2.3.4:5
        client kill id
        client kill addr
        client kill 1.2.3.4:5 x
        client kill id x
        client kill id 0
        client kill id 999999
        client kill id 999999 999998
        client kill id 9223372036854775808
        client kill foo bar
        client kill skipme x
        client kill maxage x
        client kill maxage 0
        client kill maxage -5
        client kill user nosuch
        client kill user default skipme yes id 999999
        client kill type foo
        client kill type normal id 999999
        client kill idle 5 id 999999
        client kill idle x
        client kill name nosuchname
        client kill db 0 id 999999
        client kill db 99
        client kill flags !
        client kill addr 1.2.3.4:5 laddr 1.2.3.4:6
        client kill name foo bar
        client kill id type normal
        client kill type normal id
        client kill id type foo
        """
    )


def test_client_unblock_slowlog_and_memory_usage_argument_errors(pair: Pair) -> None:
    pair.script(
        """
        client unblock bad bad
        client unblock 5 bad
        client unblock bad timeout
        client unblock 999999 error
        slowlog get 1 2
        SLOWLOG GET 1 2
        slowlog get x
        set str hello
        memory usage str samples -1
        memory usage missing samples -1
        memory usage missing samples 0
        memory usage missing samples x
        memory usage str samples
        memory usage str foo bar
        """
    )


def test_client_kill_by_id(pair: Pair) -> None:
    a, b = _fresh(pair)
    try:
        ids = [int(a.call("client", "id")[1:-2]), int(b.call("client", "id")[1:-2])]
        x = call(pair.s, "client", "kill", "id", ids[0])
        y = call(pair.v, "client", "kill", "id", ids[1])
        assert x == y == 1
        x = call(pair.s, "client", "kill", "id", ids[0])
        y = call(pair.v, "client", "kill", "id", ids[1])
        assert x == y == 0
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- COMMAND


def _all_names(p: Pair) -> list[bytes]:
    names = []
    for info in p.s.execute_command("command", "info", *p.s.execute_command("command", "list")):
        names.append(info[0])
        names.extend(sub[0] for sub in info[9])
    return names


def test_command_info_matches_for_every_command(pair2: Pair) -> None:
    p = pair2
    names = _all_names(p)
    assert len(names) > 60
    for name in names:
        a = p.s.execute_command("command", "info", name)[0]
        b = p.v.execute_command("command", "info", name)[0]
        assert b is not None, f"Valkey has no {name!r}"
        # name, arity, flags, first/last/step, ACL categories, tips, key specs
        assert a[:9] == b[:9], f"COMMAND INFO {name!r}\n  shard : {a[:9]!r}\n  valkey: {b[:9]!r}"
        subs_a = {s[0]: s for s in a[9]}
        subs_b = {s[0]: s for s in b[9]}
        assert set(subs_a) <= set(subs_b), name
        for sub, info in subs_a.items():
            assert info == subs_b[sub], f"COMMAND INFO {sub!r}\n  shard : {info!r}\n  valkey: {subs_b[sub]!r}"


def test_command_info_exact_bytes(pair2: Pair) -> None:
    p = pair2
    p.exact_many([("command", "info", n) for n in ("get", "set", "rename", "copy", "ping", "mset", "getex", "dbsize", "keys", "object|encoding", "client|setname", "nosuch", "GET")])
    p.exact_many([("command", "info", "get", "nosuch", "del"), ("command", "info", "Object|Encoding")])


def test_command_getkeys(pair2: Pair) -> None:
    pair2.exact_many(
        [
            ("command", "getkeys"),
            ("command", "getkeys", "foo"),
            ("command", "getkeys", "get"),
            ("command", "getkeys", "get", "a", "b"),
            ("command", "getkeys", "get", "a"),
            ("command", "getkeys", "GET", "a"),
            ("command", "getkeys", "set", "a", "b"),
            ("command", "getkeys", "set", "a", "b", "get"),
            ("command", "getkeys", "mset", "a", "b", "c", "d"),
            ("command", "getkeys", "mset", "a", "b", "c"),
            ("command", "getkeys", "mget", "a", "b", "c"),
            ("command", "getkeys", "ping"),
            ("command", "getkeys", "ping", "a", "b", "c"),
            ("command", "getkeys", "echo"),
            ("command", "getkeys", "del", "a", "b", "c"),
            ("command", "getkeys", "lcs", "a", "b", "idx"),
            ("command", "getkeys", "lcs", "a"),
            ("command", "getkeys", "rename", "a", "b"),
            ("command", "getkeys", "copy", "a", "b", "db", "1"),
            ("command", "getkeys", "object", "encoding", "k"),
            ("command", "getkeys", "object", "encoding"),
            ("command", "getkeys", "object", "help"),
            ("command", "getkeys", "object", "foo"),
            ("command", "getkeys", "object"),
            ("command", "getkeys", "client", "id"),
            ("command", "getkeys", "client"),
            ("command", "getkeys", "client", "nosuch"),
            ("command", "getkeys", "dbsize"),
            ("command", "getkeys", "keys", "*"),
            ("command", "getkeysandflags", "set", "a", "b"),
            ("command", "getkeysandflags", "set", "a", "b", "GET"),
            ("command", "getkeysandflags", "set", "a", "b", "ex", "10", "get"),
            ("command", "getkeysandflags", "mget", "a", "b"),
            ("command", "getkeysandflags", "rename", "a", "b"),
            ("command", "getkeysandflags", "renamenx", "a", "b"),
            ("command", "getkeysandflags", "lcs", "a", "b"),
            ("command", "getkeysandflags", "getdel", "a"),
            ("command", "getkeysandflags", "getex", "a"),
            ("command", "getkeysandflags", "del", "a"),
            ("command", "getkeysandflags", "copy", "a", "b"),
            ("command", "getkeysandflags", "msetnx", "a", "1", "b", "2"),
            ("command", "getkeysandflags", "get", "a"),
            ("command", "getkeysandflags", "append", "a", "b"),
            ("command", "getkeysandflags", "object", "encoding", "k"),
            ("command", "getkeysandflags", "ping"),
            ("command", "getkeysandflags"),
            ("command", "getkeys", "pfmerge", "a"),
            ("command", "getkeysandflags", "pfmerge", "a"),
            ("command", "getkeysandflags", "pfmerge", "a", "b"),
            ("command", "getkeysandflags", "bitfield", "k"),
            ("command", "getkeysandflags", "bitfield", "k", "get", "u8", "0"),
            ("command", "getkeysandflags", "bitfield", "k", "set", "u8", "0", "1"),
            ("command", "getkeysandflags", "bitfield", "k", "get"),
        ]
    )


def test_command_getkeys_of_random_arguments_for_every_command(pair2: Pair) -> None:
    """Every command with keys, random argument lists: the keys, their flags (BITFIELD's
    read-only form, SET GET) and the errors (bad key counts, specs whose keys fall
    outside the arguments, PFMERGE of a lone key) as Valkey finds them, and key counts
    only C's atoi reads ("1e3", " 1"), for which Valkey falls back to a command's own
    getkeys function."""
    import random

    r = random.Random(7)
    tokens = ["a", "b", "c", "1", "2", "0", "-1", "3", "9223372036854775808", "x", "GET", "get", "SET", "incrby", "u8",
              "overflow", "sat", "STREAMS", "weights", "store", "MIN", "LEFT", "KEYS", "by", "", "1e3", " 2", "2x", "4294967297"]
    cmds: list[tuple[object, ...]] = []
    for name in sorted(set(pair2.s.execute_command("command", "list"))):
        info = pair2.s.execute_command("command", "info", name)[0]
        if not info[8]:  # no key specs
            continue
        words = name.decode().split("|")
        for _ in range(12):
            args = [r.choice(tokens) for _ in range(r.randrange(0, 7))]
            for sub in ("getkeys", "getkeysandflags"):
                cmds.append(("command", sub, *words, *args))
    assert len(cmds) > 1000
    pair2.exact_many(cmds)


def test_command_misc(pair2: Pair) -> None:
    p = pair2
    p.script(
        """
        command count x
        command foo
        command help x
        command list filterby
        command list filterby foo bar
        command list filterby pattern
        command list foo
        command docs nosuch
        """
    )
    a, b = p.run("command", "count")
    assert isinstance(a, int) and isinstance(b, int) and 0 < a <= b
    names_s = set(p.s.execute_command("command", "list"))
    names_v = set(p.v.execute_command("command", "list"))
    assert names_s <= names_v
    # subcommands are listed too (container|sub), as Valkey lists them
    assert b"client|id" in names_s and b"config|get" in names_s
    assert len(names_s) == len(p.s.execute_command("command", "list")) and names_s == set(_all_names(p))
    for pattern in ("get*", "*expire*", "client*", "object|*"):
        a, b = p.run("command", "list", "filterby", "pattern", pattern)
        assert set(a) <= set(b) and set(a) == {n for n in b if n in set(_all_names(p))}, pattern
    a, b = p.run("command", "list", "filterby", "aclcat", "string")
    assert set(a) <= set(b)


def _pairs(reply: Any) -> list[tuple[Any, Any]]:
    """A map reply's (key, value) pairs: a dict in RESP3, a flat array in RESP2."""
    return list(reply.items()) if isinstance(reply, dict) else list(zip(reply[::2], reply[1::2], strict=True))


def _like(pairs: list[tuple[Any, Any]], reply: Any) -> Any:
    """``pairs`` in the map shape of ``reply`` (dict or flat array)."""
    return dict(pairs) if isinstance(reply, dict) else [x for kv in pairs for x in kv]


def _without_prose(doc: Any, is_arg: bool = False) -> Any:
    """A COMMAND DOCS entry without Valkey's ``history`` and its arguments' ``summary``
    (documentation prose that shardserver leaves out), at every depth."""
    out = []
    for key, value in _pairs(doc):
        if key == b"history" or (is_arg and key == b"summary"):
            continue
        if key == b"arguments":
            value = [_without_prose(a, is_arg=True) for a in value]
        elif key == b"subcommands":
            value = _like([(n, _without_prose(d)) for n, d in _pairs(value)], value)
        out.append((key, value))
    return _like(out, doc)


def _subcommand_names(doc: Any) -> set[bytes]:
    return {n for n, _ in _pairs(_field(doc, b"subcommands") or [])}


def _comparable(doc: Any, subcommands: set[bytes] | frozenset[bytes] = frozenset()) -> Any:
    """``doc`` with a container's subcommands as a dict (Valkey's come in its hash order)
    of just ``subcommands`` (Valkey has more)."""
    out = []
    for key, value in _pairs(doc):
        if key == b"subcommands":
            value = {n: _comparable(d) for n, d in _pairs(value) if n in subcommands}
        out.append((key, value))
    return _like(out, doc)


def _field(doc: Any, key: bytes) -> Any:
    return dict(_pairs(doc)).get(key)


def test_command_docs_match_for_every_command(pair2: Pair) -> None:
    """COMMAND DOCS <name> for every command and subcommand: Valkey's reply less its prose
    (RESP2 keeps each map's field order; RESP3 its map and set types), and byte for byte
    wherever Valkey's reply has no prose to leave out."""
    p = pair2
    names = p.s.execute_command("command", "list")
    assert len(names) > 250
    exact = 0
    for raw_name in names:
        name = raw_name.decode()
        a, b = p.run("command", "docs", raw_name)
        assert len(_pairs(a)) == len(_pairs(b)) == 1, name
        ((name_a, ours),) = _pairs(a)
        ((name_b, theirs),) = _pairs(b)
        assert name_a == name_b == raw_name
        theirs_plain = _without_prose(theirs)
        subs = _subcommand_names(ours)
        x, y = _comparable(ours, subs), _comparable(theirs_plain, subs)
        assert x == y, f"COMMAND DOCS {name} (RESP{p.protocol})\n  shard : {x!r}\n  valkey: {y!r}"
        if not subs and theirs_plain == theirs:
            p.exact("command", "docs", raw_name)
            exact += 1
    assert exact > 100  # most commands have no history and no argument summaries


def test_command_docs_of_several_and_unknown_names(pair2: Pair) -> None:
    p = pair2
    for names in (
        ("get", "set", "client|kill", "lpos"),
        ("nosuch", "GET", "nosuch|x", "Client|No-Evict", "xadd", "bitfield"),
        ("nosuch",),
        ("client|nosuch", "nosuch|get"),
        ("zadd", "", "hsetex", "xinfo|stream", "pfdebug"),
    ):
        a, b = p.run("command", "docs", *names)
        x = [(n, _comparable(d)) for n, d in _pairs(a)]
        y = [(n, _comparable(_without_prose(d))) for n, d in _pairs(b)]
        assert x == y, f"COMMAND DOCS {' '.join(names)} (RESP{p.protocol})\n  shard : {x!r}\n  valkey: {y!r}"
    # a name asked twice is answered twice (a map with a repeated key in RESP3)
    p.exact_many([("command", "docs", "nosuch"), ("command", "docs", "get", "nosuch", "lpos"), ("command", "docs", "DEBUG", "getex"),
                  ("command", "docs", "get", "GET", "get"), ("command", "docs", "lpos", "client|id", "lpos")])


def test_command_docs_of_all_commands(pair2: Pair) -> None:
    """COMMAND DOCS without names: every command of ours (Valkey has more), each as
    COMMAND DOCS <name> gives it; subcommands only inside their container."""
    a, b = pair2.run("command", "docs")
    theirs = dict(_pairs(b))
    ours = _pairs(a)
    assert {n for n, _ in ours} == {n for n in pair2.s.execute_command("command", "list") if b"|" not in n}
    for name, doc in ours:
        subs = _subcommand_names(doc)
        x = _comparable(doc, subs)
        y = _comparable(_without_prose(theirs[name]), subs)
        assert x == y, f"COMMAND DOCS: {name!r} (RESP{pair2.protocol})"


# ---------------------------------------------------------------- CONFIG / INFO / TIME


def _as_map(reply: Any) -> dict[bytes, bytes]:
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


COMMON_DIRECTIVES = [
    "maxclients", "timeout", "databases", "loglevel", "proto-max-bulk-len", "client-query-buffer-limit",
    "requirepass", "hz", "tcp-backlog", "tcp-keepalive", "unixsocket", "unixsocketperm", "appendonly",
    "save", "maxmemory", "maxmemory-policy",
]


def test_config_get(pair2: Pair) -> None:
    p = pair2
    names_s = set(_as_map(p.s.execute_command("config", "get", "*")))
    for name in COMMON_DIRECTIVES:
        a, b = p.run("config", "get", name)
        if name.encode() in names_s:
            assert _as_map(a) == _as_map(b), name
    for args in (("maxclients", "timeout"), ("MAXCLIENTS",), ("Timeout", "maxclients"), ("maxcl*",), ("nosuch",), ("nosuch*",), ("*maxclients*", "maxclients")):
        a, b = p.run("config", "get", *args)
        assert _as_map(a) == _as_map(b), args
    a, b = p.run("config", "get", "*")
    # directives only shardserver has: shards, metrics-port
    common = set(_as_map(a)) - {b"port", b"dir", b"bind", b"shards", b"metrics-port"}
    assert common <= set(_as_map(b))
    ma, mb = _as_map(a), _as_map(b)
    assert {k: ma[k] for k in common} == {k: mb[k] for k in common}


def test_config_set_errors(pair2: Pair) -> None:
    pair2.script(
        """
        config
        config get
        config set
        config set foo
        config set foo bar
        config set port
        config set maxclients x
        config set maxclients -1
        config set maxclients 0
        config set databases 3
        config set loglevel foo
        config set loglevel
        config set loglevel verbose loglevel notice
        config set timeout -1
        config set timeout x
        config set proto-max-bulk-len 1
        config set proto-max-bulk-len x
        config foo
        config resetstat x
        config help x
        """
    )
    pair2.script(
        """
        config set timeout 0
        config set loglevel notice
        config get loglevel
        config set TIMEOUT 0 LOGLEVEL notice
        """
    )


def test_time_shape(pair2: Pair) -> None:
    a, b = pair2.run("time")
    for reply in (a, b):
        assert isinstance(reply, list) and len(reply) == 2 and all(isinstance(x, bytes) and x.isdigit() for x in reply)
        assert int(reply[1]) < 1_000_000
    assert abs(int(a[0]) - int(b[0])) <= 2
    pair2.both("time", "x")


def test_info_sections(pair2: Pair) -> None:
    pair2.exact_many([("info", "nosuch"), ("info", "x", "y", "z")])
    for section in ("server", "clients", "keyspace"):
        a, b = pair2.run("info", section)
        ta = a.decode() if isinstance(a, bytes) else str(a)
        tb = b.decode() if isinstance(b, bytes) else str(b)
        assert ta.splitlines()[0] == tb.splitlines()[0]


def _info_fields(r: Any, section: str) -> dict[str, str]:
    """One INFO section's fields, in the server's order."""
    text = call(r, "info", section)
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_info_clients_fields_and_pause_state(pair2: Pair) -> None:
    """INFO clients: the fields Valkey reports, in Valkey's order, and the pause fields
    under CLIENT PAUSE WRITE and after CLIENT UNPAUSE."""

    def fields(r: Any) -> dict[str, str]:
        return _info_fields(r, "clients")

    a, b = fields(pair2.s), fields(pair2.v)
    assert list(a) == list(b)
    for r in (pair2.s, pair2.v):
        call(r, "client", "pause", "100000", "write")
    try:
        a, b = fields(pair2.s), fields(pair2.v)
        for name in ("paused_reason", "paused_actions", "cluster_connections", "tracking_clients", "total_watched_keys"):
            assert a[name] == b[name], (name, a[name], b[name])
        assert a["paused_reason"] == "client_pause" and a["paused_actions"] == "write"
        assert 90000 < int(a["paused_timeout_milliseconds"]) <= 100000
    finally:
        for r in (pair2.s, pair2.v):
            call(r, "client", "unpause")
    a, b = fields(pair2.s), fields(pair2.v)
    for name in ("paused_reason", "paused_actions", "paused_timeout_milliseconds"):
        assert a[name] == b[name] == ("none" if name != "paused_timeout_milliseconds" else "0"), (name, a[name], b[name])


def test_role_and_info_replication_of_a_primary_without_replicas(pair2: Pair) -> None:
    pair2.exact_many([("role",), ("role", "x"), ("command", "info", "role"), ("command", "docs", "role")])
    pair2.both("set", "k", "v")  # a write moves no replication offset without a backlog
    a, b = _info_fields(pair2.s, "replication"), _info_fields(pair2.v, "replication")
    assert list(a) == list(b)
    for name in a:
        if name == "master_replid":  # random per start: only its form
            assert len(a[name]) == 40 and int(a[name], 16) >= 0 and a[name] != b[name]
        else:
            assert a[name] == b[name], (name, a[name], b[name])


def test_reset_quit(pair: Pair) -> None:
    a, b = _fresh(pair)
    try:
        _exact_lines(
            a,
            b,
            """
            reset x
            client setname foo
            select 3
            reset
            client getname
            quit
            """,
        )
    finally:
        a.close()
        b.close()


SERVER_ARITY_CASES = [
    ("echo",), ("select",), ("select", "0", "1"), ("auth",), ("reset", "x"), ("time", "x"), ("dbsize", "x"),
    ("client",), ("client", "id", "x"), ("client", "getname", "x"), ("client", "setname"), ("client", "setinfo", "a"),
    ("client", "info", "x"), ("client", "kill"), ("client", "help", "x"), ("client", "list", "x"),
    ("command", "count", "x"), ("command", "help", "x"), ("command", "getkeys"), ("command", "getkeysandflags"),
    ("config",), ("config", "get"), ("config", "set", "a"), ("config", "resetstat", "x"), ("config", "help", "x"),
    ("Client", "ID", "x"), ("CONFIG", "GET"),
]


def test_server_command_arity(pair: Pair) -> None:
    pair.exact_many(SERVER_ARITY_CASES)


def test_verbatim_and_help_reply_types(pair: Pair) -> None:
    """CLIENT INFO / LIST are verbatim strings in RESP3 (bulk in RESP2); HELP replies are simple strings."""
    rs, rv = pair.raw
    for args in (("client", "info"), ("client", "list"), ("info", "server")):
        a, b = rs.call(*args), rv.call(*args)
        assert a[:1] == b[:1], args
        if pair.protocol == 3:
            assert a.split(b"\r\n", 1)[1][:4] == b.split(b"\r\n", 1)[1][:4] == b"txt:", args
    # CONFIG HELP differs on purpose: Valkey lists REWRITE, which shardserver does not have.
    pair.exact_many([("object", "help"), ("command", "help")])
    a, b = rs.call("client", "help"), rv.call("client", "help")
    assert a[:1] == b[:1] == b"*"
