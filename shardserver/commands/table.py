"""The command table: every command shardserver serves, as data.

Ownership: this module owns what a command *is* (arity, flags, key positions,
routing policy, documentation).  The front routes from it and answers arity
errors from it; ``COMMAND`` and its subcommands are generated from it; the
front's and the shards' handler registries are checked against it by a test.

Routing policies:

- ``FRONT``: served by the front alone (connection and server commands).
- ``SINGLE``: the keys live on one shard; the command runs there.  A command
  with several keys that land on different shards uses its ``cross`` policy.
- ``ALL``: sent to every shard, replies aggregated by the front.
- ``SCAN``: routed by the cursor (a slot number) to the shard owning it.

Cross-shard policies (``cross``) for multi-key commands: ``SPLIT`` (the keys
are split per shard and the replies merged, by the C router when it can) and ``COORD`` (the front holds
the shards involved and runs the steps in order, so the write is atomic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FRONT = "front"
SINGLE = "single"
ALL = "all"
SCAN = "scan"

SPLIT = "split"
COORD = "coord"

# How a SPLIT command's per-shard replies become the client's reply, by its
# response_policy tip (the numbers are the C router's, shardserver/_speedups.c):
# all_succeeded: OK unless a part failed; agg_sum: the sum of the parts'
# integers; by_position: each key's value where its key was (MGET).
SPLIT_MERGES = {"all_succeeded": 1, "agg_sum": 2, "by_position": 3}


@dataclass(frozen=True)
class KeySpec:
    """Legacy (first, last, step) key positions; ``last`` < 0 counts from the end.

    ``flags`` are Valkey's key-spec flags as Valkey spells them (``RW``,
    ``access``, ...); ``notes`` is the key spec's note, when Valkey has one.
    """

    first: int
    last: int
    step: int
    flags: tuple[str, ...] = ("RW", "update")
    notes: str = ""
    # A keyword key spec (XREAD's STREAMS): the keys start after ``keyword``,
    # searched from argument ``keyword_from``, and run to the end, or to the
    # first 1/``limit`` of what follows the keyword (Valkey's find_keys limit).
    keyword: str = ""
    keyword_from: int = 0
    limit: int = 0
    # Valkey's "keynum" find_keys: (keynumidx, firstkey, keystep) relative to
    # ``first`` (the begin_search index); None for a plain range
    keynum: tuple[int, int, int] | None = None

    def span(self, argv: list[bytes]) -> tuple[int, int] | None:
        """(first, last) index of a range or keyword spec's keys, not clipped to
        ``argv``; None when its keyword is not there."""
        n = len(argv)
        if self.keyword:
            word = self.keyword.encode().lower()
            first = next((i + 1 for i in range(self.keyword_from, n) if argv[i].lower() == word), 0)
            if not first:
                return None
            return first, first + (n - first) // self.limit - 1 if self.limit else n - 1
        return self.first, self.last if self.last >= 0 else n + self.last

    def key_count(self, argv: list[bytes]) -> tuple[int, int]:
        """A keynum spec's index of its first key and its key count (0 when the count is
        missing or not an integer)."""
        from shardserver.numbers import strict_int

        assert self.keynum is not None
        count_at, first_key, _ = self.keynum
        at = self.first + count_at
        return self.first + first_key, (strict_int(argv[at]) or 0) if at < len(argv) else 0

    def positions(self, argv: list[bytes]) -> list[int]:
        """Indexes of the keys this spec finds in ``argv`` (argv[0] is the command name)."""
        n = len(argv)
        if self.keynum is not None:
            start, count = self.key_count(argv)
            step = self.keynum[2]
            return list(range(start, min(start + count * step, n), step)) if count > 0 else []
        span = self.span(argv)
        if span is None or span[0] >= n:
            return []
        return list(range(span[0], min(span[1], n - 1) + 1, self.step))


# Valkey's ACL category bits, in the order COMMAND INFO lists them.
ACL_ORDER = (
    "keyspace read write set sortedset list hash string bitmap hyperloglog geo stream "
    "pubsub admin fast slow blocking dangerous connection transaction scripting"
).split()


@dataclass
class Command:
    name: str
    arity: int
    flags: tuple[str, ...]
    group: str
    summary: str
    since: str
    complexity: str
    route: str = SINGLE
    keys: KeySpec | None = None
    cross: str | None = None
    tips: tuple[str, ...] = ()
    subcommands: dict[str, Command] = field(default_factory=dict)
    container: str | None = None  # parent name for subcommands
    specs: tuple[KeySpec, ...] = ()  # key specs for COMMAND, when not just ``keys``
    acl: tuple[str, ...] | None = None  # ACL categories, when not derived

    @property
    def key_specs(self) -> tuple[KeySpec, ...]:
        if self.specs:
            return self.specs
        return (self.keys,) if self.keys is not None else ()
    fullname: str = field(init=False)
    bname: bytes = field(init=False)
    route_keys: tuple[int, int, int, int, int] | None = field(init=False)
    movable: bool = field(init=False)
    no_auth: bool = field(init=False)

    def __post_init__(self) -> None:
        # Derived once here so the front's per-command path reads plain attributes.
        self.fullname = f"{self.container}|{self.name}" if self.container else self.name
        self.bname = self.fullname.encode()
        ks = self.keys
        # (first, last, step, arity, merge) when the command can run on one shard as
        # sent, whenever all its keys live there (the C router's table)
        # commands whose keys follow a key count ("movablekeys") are routed by all their specs
        self.movable = any(s.keynum is not None for s in self.specs)
        routable = self.route == SINGLE and not self.subcommands and ks is not None and not ks.keyword and not self.movable
        # the 5th item: how the C router splits the command when its keys span shards
        # (SPLIT_MERGES; 0: it does not, the Python cross-shard handler runs it)
        merge = SPLIT_MERGES.get(self._response_policy(), 0) if self.cross == SPLIT else 0
        self.route_keys = (ks.first, ks.last, ks.step, self.arity, merge) if routable and ks is not None else None
        self.no_auth = "no_auth" in self.flags

    def accepts(self, argc: int) -> bool:
        """Whether ``argc`` arguments (the name included) fit the arity: exactly N, or at least -N."""
        return argc == self.arity if self.arity > 0 else argc >= -self.arity

    def _response_policy(self) -> str:
        for tip in self.tips:
            if tip.startswith("response_policy:"):
                return tip.split(":", 1)[1]
        # Valkey's default for a multi_shard request: each key's reply where its key was (MGET)
        return "by_position" if "request_policy:multi_shard" in self.tips else ""

    @property
    def acl_categories(self) -> list[str]:
        if self.acl is not None:
            cats = list(self.acl)
        else:
            cats = []
            f = set(self.flags)
            if "write" in f:
                cats.append("@write")
            if "readonly" in f and self.group != "server":
                cats.append("@read")
            if not self.subcommands:  # a container has only @slow
                group_cat = {
                    "string": "@string",
                    "hash": "@hash",
                    "stream": "@stream",
                    "list": "@list",
                    "generic": "@keyspace",
                    "connection": "@connection",
                    "server": None,
                    "set": "@set",
                    "sorted-set": "@sortedset",
                    "bitmap": "@bitmap",
                    "hyperloglog": "@hyperloglog",
                }.get(self.group)
                if group_cat:
                    cats.append(group_cat)
            if self.name == "command" or self.container == "command":
                cats.append("@connection")
            if "admin" in f:
                cats.extend(["@admin", "@dangerous"])
            cats.append("@fast" if "fast" in f else "@slow")
            if "blocking" in f:
                cats.append("@blocking")
        return sorted(cats, key=lambda c: ACL_ORDER.index(c[1:]))

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Indexes of the key arguments in ``argv`` (argv[0] is the command name)."""
        if self.movable:
            return [p for spec in self.specs for p in spec.positions(argv)]
        ks = self.keys
        if ks is None:
            return []
        return ks.positions(argv)


TABLE: dict[str, Command] = {}

R = KeySpec(1, 1, 1, ("RO", "access"))
RX = KeySpec(1, 1, 1, ("RO",))  # read without touching the value
W = KeySpec(1, 1, 1, ("RW", "update"))
WA = KeySpec(1, 1, 1, ("RW", "access", "update"))  # read-modify-write
WI = KeySpec(1, 1, 1, ("OW", "update"))
WD = KeySpec(1, 1, 1, ("RW", "access", "delete"))
_NX_TIPS = ("request_policy:all_nodes", "response_policy:all_succeeded")


def _add(
    name: str,
    arity: int,
    flags: str,
    group: str,
    summary: str,
    since: str,
    complexity: str,
    route: str = SINGLE,
    keys: KeySpec | None = None,
    cross: str | None = None,
    tips: tuple[str, ...] = (),
    parent: Command | None = None,
    specs: tuple[KeySpec, ...] = (),
    acl: str | None = None,
) -> Command:
    cmd = Command(
        name=name,
        arity=arity,
        flags=tuple(flags.split()),
        group=group,
        summary=summary,
        since=since,
        complexity=complexity,
        route=route,
        keys=keys,
        cross=cross,
        tips=tips,
        container=parent.name if parent else None,
        specs=specs,
        acl=tuple(acl.split()) if acl is not None else None,
    )
    if parent is None:
        TABLE[name] = cmd
    else:
        parent.subcommands[name] = cmd
    return cmd


def _container(name: str, group: str, summary: str, since: str, route: str = FRONT) -> Command:
    return _add(name, -2, "", group, summary, since, "Depends on subcommand.", route=route)


# ---- connection (front) ----
_add("ping", -1, "fast", "connection", "Returns the server's liveliness response.", "1.0.0", "O(1)", FRONT, tips=("request_policy:all_shards", "response_policy:all_succeeded"))
_add("echo", 2, "loading stale fast", "connection", "Returns the given string.", "1.0.0", "O(1)", FRONT)
_add("hello", -1, "noscript loading stale fast no_auth allow_busy", "connection", "Handshakes with the server.", "6.0.0", "O(1)", FRONT)
_add("auth", -2, "noscript loading stale fast no_auth allow_busy", "connection", "Authenticates the connection.", "1.0.0", "O(N) where N is the number of passwords defined for the user", FRONT)
_add("select", 2, "loading stale fast allow_busy", "connection", "Changes the selected database.", "1.0.0", "O(1)", FRONT)
_add("quit", -1, "noscript loading stale fast no_auth allow_busy", "connection", "Closes the connection.", "1.0.0", "O(1)", FRONT)
_add("reset", 1, "noscript loading stale fast no_auth allow_busy", "connection", "Resets the connection.", "6.2.0", "O(1)", FRONT)

client = _container("client", "connection", "A container for client connection commands.", "2.4.0")
_add("id", 2, "noscript loading stale allow_busy", "connection", "Returns the unique client ID of the connection.", "5.0.0", "O(1)", FRONT, parent=client)
_add("setname", 3, "noscript loading stale allow_busy", "connection", "Sets the connection name.", "2.6.9", "O(1)", FRONT, tips=_NX_TIPS, parent=client)
_add("getname", 2, "noscript loading stale allow_busy", "connection", "Returns the name of the connection.", "2.6.9", "O(1)", FRONT, parent=client)
_add("setinfo", 4, "noscript loading stale allow_busy", "connection", "Sets information specific to the client or connection.", "7.2.0", "O(1)", FRONT, tips=_NX_TIPS, parent=client)
_add("list", -2, "admin noscript loading stale", "connection", "Lists open connections.", "2.4.0", "O(N) where N is the number of client connections", FRONT, tips=("nondeterministic_output",), parent=client)
_add("info", 2, "noscript loading stale", "connection", "Returns information about the connection.", "6.2.0", "O(1)", FRONT, tips=("nondeterministic_output",), parent=client)
_add("kill", -3, "admin noscript loading stale", "connection", "Terminates open connections.", "2.4.0", "O(N) where N is the number of client connections", FRONT, parent=client)
_add("pause", -3, "admin noscript loading stale", "connection", "Suspends commands processing.", "3.0.0", "O(1)", FRONT, parent=client, acl="@admin @slow @dangerous @connection")
_add("unpause", 2, "admin noscript loading stale", "connection", "Resumes processing commands from paused clients.", "6.2.0", "O(N) Where N is the number of paused clients", FRONT, parent=client, acl="@admin @slow @dangerous @connection")
_add("no-evict", 3, "admin noscript loading stale allow_busy", "connection", "Sets the client eviction mode of the connection.", "7.0.0", "O(1)", FRONT, parent=client, acl="@admin @slow @dangerous @connection")
_add("no-touch", 3, "noscript loading stale allow_busy", "connection", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", "7.2.0", "O(1)", FRONT, parent=client, acl="@slow @connection")
_add("help", 2, "loading stale", "connection", "Returns helpful text about the different subcommands.", "5.0.0", "O(1)", FRONT, parent=client)

command = _add("command", -1, "loading stale", "server", "Returns detailed information about all commands.", "2.8.13", "O(N) where N is the total number of commands", FRONT, tips=("nondeterministic_output_order",))
_add("count", 2, "loading stale", "server", "Returns a count of commands.", "2.8.13", "O(1)", FRONT, parent=command)
_add("info", -2, "loading stale", "server", "Returns information about one, multiple or all commands.", "2.8.13", "O(N) where N is the number of commands to look up", FRONT, tips=("nondeterministic_output_order",), parent=command)
_add("list", -2, "loading stale", "server", "Returns a list of command names.", "7.0.0", "O(N) where N is the total number of commands", FRONT, tips=("nondeterministic_output_order",), parent=command)
_add("getkeys", -3, "loading stale", "server", "Extracts the key names from an arbitrary command.", "2.8.13", "O(N) where N is the number of arguments to the command", FRONT, parent=command)
_add("getkeysandflags", -3, "loading stale", "server", "Extracts the key names and access flags for an arbitrary command.", "7.0.0", "O(N) where N is the number of arguments to the command", FRONT, parent=command)
_add("docs", -2, "loading stale", "server", "Returns documentary information about one, multiple or all commands.", "7.0.0", "O(N) where N is the number of commands to look up", FRONT, tips=("nondeterministic_output_order",), parent=command)
_add("help", 2, "loading stale", "server", "Returns helpful text about the different subcommands.", "5.0.0", "O(1)", FRONT, parent=command)

# ---- server ----
_add("info", -1, "loading stale", "server", "Returns information and statistics about the server.", "1.0.0", "O(1)", FRONT, tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"), acl="@slow @dangerous")
config = _container("config", "server", "A container for server configuration commands.", "2.0.0")
_add("get", -3, "admin noscript loading stale", "server", "Returns the effective values of configuration parameters.", "2.0.0", "O(N) when N is the number of configuration parameters provided", FRONT, parent=config)
_add("set", -4, "admin noscript loading stale", "server", "Sets configuration parameters in-flight.", "2.0.0", "O(N) when N is the number of configuration parameters provided", FRONT, tips=_NX_TIPS, parent=config)
_add("resetstat", 2, "admin noscript loading stale", "server", "Resets the server's statistics.", "2.0.0", "O(1)", FRONT, tips=_NX_TIPS, parent=config)
_add("rewrite", 2, "admin noscript loading stale", "server", "Persists the effective configuration to file.", "2.8.0", "O(1)", FRONT, tips=_NX_TIPS, parent=config)
_add("help", 2, "loading stale", "server", "Returns helpful text about the different subcommands.", "5.0.0", "O(1)", FRONT, parent=config)
_ADMIN = "@admin @slow @dangerous"
slowlog = _container("slowlog", "server", "A container for slow log commands.", "2.2.12")
_add("get", -2, "admin loading stale", "server", "Returns the slow log's entries.", "2.2.12", "O(N) where N is the number of entries returned", FRONT, tips=("request_policy:all_nodes", "nondeterministic_output"), parent=slowlog, acl=_ADMIN)
_add("len", 2, "admin loading stale", "server", "Returns the number of entries in the slow log.", "2.2.12", "O(1)", FRONT, tips=("request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"), parent=slowlog, acl=_ADMIN)
_add("reset", 2, "admin loading stale", "server", "Clears all entries from the slow log.", "2.2.12", "O(N) where N is the number of entries in the slowlog", FRONT, tips=_NX_TIPS, parent=slowlog, acl=_ADMIN)
_add("help", 2, "loading stale", "server", "Shows helpful text about the different subcommands.", "6.2.0", "O(1)", FRONT, parent=slowlog)
latency = _container("latency", "server", "A container for latency diagnostics commands.", "2.8.13")
_LAT_TIPS = ("nondeterministic_output", "request_policy:all_nodes", "response_policy:special")
_add("latest", 2, "admin noscript loading stale", "server", "Returns the latest latency samples for all events.", "2.8.13", "O(1)", FRONT, tips=_LAT_TIPS, parent=latency, acl=_ADMIN)
_add("history", 3, "admin noscript loading stale", "server", "Returns timestamp-latency samples for an event.", "2.8.13", "O(1)", FRONT, tips=_LAT_TIPS, parent=latency, acl=_ADMIN)
_add("reset", -2, "admin noscript loading stale", "server", "Resets the latency data for one or more events.", "2.8.13", "O(1)", FRONT, tips=("request_policy:all_nodes", "response_policy:agg_sum"), parent=latency, acl=_ADMIN)
_add("doctor", 2, "admin noscript loading stale", "server", "Returns a human-readable latency analysis report.", "2.8.13", "O(1)", FRONT, tips=_LAT_TIPS, parent=latency, acl=_ADMIN)
_add("histogram", -2, "admin noscript loading stale", "server", "Returns the cumulative distribution of latencies of a subset or all commands.", "7.0.0", "O(N) where N is the number of commands with latency information being retrieved.", FRONT, tips=_LAT_TIPS, parent=latency, acl=_ADMIN)
_add("help", 2, "loading stale", "server", "Returns helpful text about the different subcommands.", "2.8.13", "O(1)", FRONT, parent=latency)
memory = _container("memory", "server", "A container for memory diagnostics commands.", "4.0.0")
_add("usage", -3, "readonly", "server", "Estimates the memory usage of a key.", "4.0.0", "O(N) where N is the number of samples.", SINGLE, keys=KeySpec(2, 2, 1, ("RO",)), parent=memory, acl="@read @slow")
_add("stats", 2, "", "server", "Returns details about memory usage.", "4.0.0", "O(1)", FRONT, tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"), parent=memory)
_add("doctor", 2, "", "server", "Outputs a memory problems report.", "4.0.0", "O(1)", FRONT, tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"), parent=memory)
_add("help", 2, "loading stale", "server", "Returns helpful text about the different subcommands.", "4.0.0", "O(1)", FRONT, parent=memory)
_add("debug", -2, "admin noscript loading stale", "server", "A container for debugging commands.", "1.0.0", "Depends on subcommand.", FRONT, acl=_ADMIN)
_add("monitor", 1, "admin noscript loading stale", "server", "Listens for all requests received by the server in real-time.", "1.0.0", "", FRONT, acl=_ADMIN)
_add("time", 1, "loading stale fast", "server", "Returns the server time.", "2.6.0", "O(1)", FRONT, tips=("nondeterministic_output",))
_add("role", 1, "noscript loading stale fast", "server", "Returns the replication role.", "2.8.12", "O(1)", FRONT, acl="@admin @fast @dangerous")
_add("shutdown", -1, "admin noscript loading stale no_multi allow_busy", "server", "Synchronously saves the database(s) to disk and shuts down the server.", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", FRONT)
_add("bgrewriteaof", 1, "admin noscript no_async_loading", "server", "Asynchronously rewrites the append-only file to disk.", "1.0.0", "O(1)", FRONT, acl=_ADMIN)
_add("bgsave", -1, "admin noscript no_async_loading", "server", "Asynchronously saves the database(s) to disk.", "1.0.0", "O(1)", FRONT, acl=_ADMIN)
_add("save", 1, "admin noscript no_async_loading no_multi", "server", "Synchronously saves the database(s) to disk.", "1.0.0", "O(N) where N is the total number of keys in all databases", FRONT, acl=_ADMIN)
_add("lastsave", 1, "loading stale fast", "server", "Returns the Unix timestamp of the last successful save to disk.", "1.0.0", "O(1)", FRONT, tips=("nondeterministic_output",), acl="@admin @fast @dangerous")
_WAIT_TIPS = ("request_policy:all_shards", "response_policy:agg_min")
_add("wait", 3, "blocking", "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "3.0.0", "O(1)", FRONT, tips=_WAIT_TIPS, acl="@slow @blocking @connection")
_add("waitaof", 4, "blocking", "generic", "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the primary and/or replicas.", "7.2.0", "O(1)", FRONT, tips=_WAIT_TIPS, acl="@slow @blocking @connection")
_add("dbsize", 1, "readonly fast", "server", "Returns the number of keys in the database.", "1.0.0", "O(1)", ALL, tips=("request_policy:all_shards", "response_policy:agg_sum"), acl="@keyspace @read @fast")
_add("flushdb", -1, "write", "server", "Removes all keys from the current database.", "1.0.0", "O(N) where N is the number of keys in the selected database", ALL, tips=("request_policy:all_shards", "response_policy:all_succeeded"), acl="@keyspace @write @slow @dangerous")
_add("flushall", -1, "write", "server", "Removes all keys from all databases.", "1.0.0", "O(N) where N is the total number of keys in all databases", ALL, tips=("request_policy:all_shards", "response_policy:all_succeeded"), acl="@keyspace @write @slow @dangerous")
_add("swapdb", 3, "write fast", "server", "Swaps two databases.", "4.0.0", "O(N) where N is the count of clients watching or blocking on keys from both databases.", ALL, acl="@keyspace @write @fast @dangerous")

# ---- strings ----
_add("get", 2, "readonly fast", "string", "Returns the string value of a key.", "1.0.0", "O(1)", keys=R)
_add("set", -3, "write denyoom", "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0", "O(1)", keys=KeySpec(1, 1, 1, ("RW", "access", "update", "variable_flags"), "RW and ACCESS due to the optional `GET` argument"))
_add("getex", -2, "write fast", "string", "Returns the string value of a key after setting its expiration time.", "6.2.0", "O(1)", keys=KeySpec(1, 1, 1, ("RW", "access", "update"), "RW and UPDATE because it changes the TTL"))
_add("getdel", 2, "write fast", "string", "Returns the string value of a key after deleting the key.", "6.2.0", "O(1)", keys=WD)
_add("getset", 3, "write denyoom fast", "string", "Returns the previous string value of a key after setting it to a new value.", "1.0.0", "O(1)", keys=WA)
_add("setnx", 3, "write denyoom fast", "string", "Sets the string value of a key only when the key doesn't exist.", "1.0.0", "O(1)", keys=KeySpec(1, 1, 1, ("OW", "insert")))
_add("setex", 4, "write denyoom", "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "2.0.0", "O(1)", keys=WI)
_add("psetex", 4, "write denyoom", "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "2.6.0", "O(1)", keys=WI)
_add("mget", -2, "readonly fast", "string", "Atomically returns the string values of one or more keys.", "1.0.0", "O(N) where N is the number of keys to retrieve.", keys=KeySpec(1, -1, 1, ("RO", "access")), cross=SPLIT, tips=("request_policy:multi_shard",))
_add("mset", -3, "write denyoom", "string", "Atomically creates or modifies the string values of one or more keys.", "1.0.1", "O(N) where N is the number of keys to set.", keys=KeySpec(1, -1, 2, ("OW", "update")), cross=SPLIT, tips=("request_policy:multi_shard", "response_policy:all_succeeded"))
_add("msetnx", -3, "write denyoom", "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "1.0.1", "O(N) where N is the number of keys to set.", keys=KeySpec(1, -1, 2, ("OW", "insert")), cross=COORD)
_add("incr", 2, "write denyoom fast", "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", keys=WA)
_add("decr", 2, "write denyoom fast", "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", keys=WA)
_add("incrby", 3, "write denyoom fast", "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", keys=WA)
_add("decrby", 3, "write denyoom fast", "string", "Decrements the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0", "O(1)", keys=WA)
_add("incrbyfloat", 3, "write denyoom fast", "string", "Increments the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "2.6.0", "O(1)", keys=WA)
_add("append", 3, "write denyoom fast", "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by the server will double the free space available on every reallocation.", keys=KeySpec(1, 1, 1, ("RW", "insert")))
_add("strlen", 2, "readonly fast", "string", "Returns the length of a string value.", "2.2.0", "O(1)", keys=RX)
_add("getrange", 4, "readonly", "string", "Returns a substring of the string stored at a key.", "2.4.0", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", keys=R)
_add("substr", 4, "readonly", "string", "Returns a substring from a string value.", "1.0.0", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.", keys=R)
_add("setrange", 4, "write denyoom", "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "2.2.0", "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.", keys=W)
_add("lcs", -3, "readonly", "string", "Finds the longest common substring.", "7.0.0", "O(N*M) where N and M are the lengths of s1 and s2, respectively", keys=KeySpec(1, 2, 1, ("RO", "access")), cross=COORD)
_add("delifeq", 3, "write fast", "string", "Delete key if value matches string.", "9.0.0", "O(1)", keys=KeySpec(1, 1, 1, ("RM", "delete")))

# ---- keys ----
_add("del", -2, "write", "generic", "Deletes one or more keys.", "1.0.0", "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).", keys=KeySpec(1, -1, 1, ("RM", "delete")), cross=SPLIT, tips=("request_policy:multi_shard", "response_policy:agg_sum"))
_add("unlink", -2, "write fast", "generic", "Asynchronously deletes one or more keys.", "4.0.0", "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.", keys=KeySpec(1, -1, 1, ("RM", "delete")), cross=SPLIT, tips=("request_policy:multi_shard", "response_policy:agg_sum"))
_add("exists", -2, "readonly fast", "generic", "Determines whether one or more keys exist.", "1.0.0", "O(N) where N is the number of keys to check.", keys=KeySpec(1, -1, 1, ("RO",)), cross=SPLIT, tips=("request_policy:multi_shard", "response_policy:agg_sum"))
_add("touch", -2, "readonly fast", "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "3.2.1", "O(N) where N is the number of keys that will be touched.", keys=KeySpec(1, -1, 1, ("RO",)), cross=SPLIT, tips=("request_policy:multi_shard", "response_policy:agg_sum"))
_add("type", 2, "readonly fast", "generic", "Determines the type of value stored at a key.", "1.0.0", "O(1)", keys=KeySpec(1, 1, 1, ("RO",)))
for _n, _s in (("expire", "seconds"), ("pexpire", "milliseconds")):
    _add(_n, -3, "write fast", "generic", f"Sets the expiration time of a key in {_s}.", "1.0.0" if _n == "expire" else "2.6.0", "O(1)", keys=W)
for _n, _s in (("expireat", "a Unix timestamp"), ("pexpireat", "a Unix milliseconds timestamp")):
    _add(_n, -3, "write fast", "generic", f"Sets the expiration time of a key to {_s}.", "1.2.0" if _n == "expireat" else "2.6.0", "O(1)", keys=W)
_add("ttl", 2, "readonly fast", "generic", "Returns the expiration time in seconds of a key.", "1.0.0", "O(1)", keys=R, tips=("nondeterministic_output",))
_add("pttl", 2, "readonly fast", "generic", "Returns the expiration time in milliseconds of a key.", "2.6.0", "O(1)", keys=R, tips=("nondeterministic_output",))
_add("expiretime", 2, "readonly fast", "generic", "Returns the expiration time of a key as a Unix timestamp.", "7.0.0", "O(1)", keys=R)
_add("pexpiretime", 2, "readonly fast", "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0", "O(1)", keys=R)
_add("persist", 2, "write fast", "generic", "Removes the expiration time of a key.", "2.2.0", "O(1)", keys=W)
_add("rename", 3, "write", "generic", "Renames a key and overwrites the destination.", "1.0.0", "O(1)", keys=KeySpec(1, 2, 1), cross=COORD, specs=(WD, KeySpec(2, 2, 1, ("OW", "update"))))
_add("renamenx", 3, "write fast", "generic", "Renames a key only when the target key name doesn't exist.", "1.0.0", "O(1)", keys=KeySpec(1, 2, 1), cross=COORD, specs=(WD, KeySpec(2, 2, 1, ("OW", "insert"))))
_add("copy", -3, "write denyoom", "generic", "Copies the value of a key to a new key.", "6.2.0", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", keys=KeySpec(1, 2, 1), cross=COORD, specs=(R, KeySpec(2, 2, 1, ("OW", "update"))))
_add("move", 3, "write fast", "generic", "Moves a key to another database.", "1.0.0", "O(1)", keys=WA)
_add("keys", 2, "readonly", "generic", "Returns all key names that match a pattern.", "1.0.0", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.", ALL, tips=("request_policy:all_shards", "nondeterministic_output_order"), acl="@keyspace @read @slow @dangerous")
_add("scan", -2, "readonly", "generic", "Iterates over the key names in the database.", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", SCAN, tips=("nondeterministic_output", "request_policy:special", "response_policy:special"))
_add("randomkey", 1, "readonly", "generic", "Returns a random key name from the database.", "1.0.0", "O(1)", ALL, tips=("request_policy:all_shards", "response_policy:special", "nondeterministic_output"))
obj = _container("object", "generic", "A container for object introspection commands.", "2.2.3", route=SINGLE)
for _n, _s, _since in (("encoding", "Returns the internal encoding of an object.", "2.2.3"), ("idletime", "Returns the time since the last access to an object.", "2.2.3"), ("freq", "Returns the logarithmic access frequency counter of an object.", "4.0.0"), ("refcount", "Returns the reference count of a value of a key.", "2.2.3")):
    _add(_n, 3, "readonly", "generic", _s, _since, "O(1)", keys=KeySpec(2, 2, 1, ("RO",)), parent=obj, tips=("nondeterministic_output",))
_add("help", 2, "loading stale", "generic", "Returns helpful text about the different subcommands.", "6.2.0", "O(1)", FRONT, parent=obj)


def lookup(name: bytes) -> Command | None:
    return TABLE.get(name.decode("latin-1").lower())


def all_commands() -> list[Command]:
    """Every command and subcommand (subcommands named ``container|sub``)."""
    out: list[Command] = []
    for cmd in TABLE.values():
        out.append(cmd)
        out.extend(cmd.subcommands.values())
    return out


# the data types' tables (they use the helpers above)
from shardserver.commands import hashes  # noqa: E402, F401, I001
from shardserver.commands import stream  # noqa: E402, F401, I001
from shardserver.commands import sets  # noqa: E402,F401
# Command groups declared in their own modules (they import the helpers above).
from shardserver.commands import bits  # noqa: E402,F401
from shardserver.commands import lists  # noqa: E402,F401
