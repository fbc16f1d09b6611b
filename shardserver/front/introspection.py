"""SLOWLOG, LATENCY, MEMORY, DEBUG, MONITOR and CONFIG REWRITE in the front.

Ownership: the front merges what every shard measured about its own commands
(``__cmdstats``, ``__slowlog``) with its own numbers, and owns MONITOR
subscribers and the config file rewrite.  Shards time their commands; the
front never reads data.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from shardserver import errors
from shardserver.cmdstats import HIST, histogram_usec, merge
from shardserver.errors import CommandError
from shardserver.front.handlers import _gather, front
from shardserver.numbers import parse_int
from shardserver.resp import OK, ErrorReply, Simple, Verbatim

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _help(lines: list[str]) -> list[Simple]:
    return [Simple(line) for line in lines]


def _all_shards(fr: Front, argv: list[bytes]) -> list[Any]:
    return [fr.call(i, 0, [argv]) for i in range(fr.nshards) if fr.links[i].up]


# ---------------------------------------------------------------- SLOWLOG


@front("slowlog|get")
def slowlog_get(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    count = 10
    if len(argv) > 3:  # Valkey's own check, after the table's arity
        raise CommandError(errors.subcommand_syntax(argv[1], "slowlog"))
    if len(argv) == 3:
        count = parse_int(argv[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
    futures = _all_shards(fr, [b"__slowlog", b"get"])
    stride = fr.nshards + 1

    async def merged() -> Any:
        entries = [[e[0] * stride, *e[1:]] for e in fr.slowlog.entries]
        for source, f in enumerate(futures, start=1):
            part = (await f)[0]
            if isinstance(part, ErrorReply):
                continue
            entries.extend([[e[0] * stride + source, *e[1:]] for e in part])
        entries.sort(key=lambda e: (e[1], e[0]), reverse=True)
        if count >= 0:
            entries = entries[:count]
        out = []
        for ident, ts, micros, args, conn_id in entries:
            client = fr.clients.get(conn_id)
            out.append([ident, ts, micros, args, (client.addr if client else "").encode(), client.name if client else b""])
        return out

    return merged()


@front("slowlog|len")
def slowlog_len(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    futures = _all_shards(fr, [b"__slowlog", b"len"])

    async def total() -> int:
        return len(fr.slowlog.entries) + sum(v for v in await _gather(futures))

    return total()


@front("slowlog|reset")
def slowlog_reset(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    fr.slowlog.entries.clear()
    futures = _all_shards(fr, [b"__slowlog", b"reset"])

    async def done() -> Any:
        await _gather(futures)
        return OK

    return done()


@front("slowlog|help")
def slowlog_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _help([
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Print this help.",
    ])


# ---------------------------------------------------------------- command statistics


def gather_cmdstats_raw(fr: Front) -> Any:
    """Start asking every shard for its stats snapshot; resolves to all snapshots, the front's first."""
    futures = _all_shards(fr, [b"__cmdstats"])

    async def snaps() -> list[dict[bytes, Any]]:
        out = [fr.command_stats().snapshot()]
        for f in futures:
            part = (await f)[0]
            if not isinstance(part, ErrorReply):
                out.append(part)
        return out

    return snaps()


def gather_cmdstats(fr: Front) -> Any:
    """Start asking every shard for its command stats; resolves to the merge."""
    pending = gather_cmdstats_raw(fr)

    async def merged() -> tuple[dict[str, list[Any]], dict[str, int]]:
        return merge(await pending)

    return merged()


@front("latency|histogram")
def latency_histogram(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    wanted = {a.decode("utf-8", "surrogateescape").lower() for a in argv[2:]}
    pending = gather_cmdstats(fr)

    async def build() -> Any:
        commands, _ = await pending
        out: dict[bytes, Any] = {}
        for name in sorted(commands):
            e = commands[name]
            if (wanted and name not in wanted) or not sum(e[HIST]):
                continue
            out[name.encode()] = {b"calls": sum(e[HIST]), b"histogram_usec": histogram_usec(e[HIST])}
        return out

    return build()


# ---------------------------------------------------------------- LATENCY monitor


def gather_latency(fr: Front) -> Any:
    """Every process's latency events, merged: {event: (max_ms, [[ts, ms], ...] oldest first)}."""
    pending = gather_cmdstats_raw(fr)

    async def merged() -> dict[str, tuple[int, list[list[int]]]]:
        out: dict[str, tuple[int, list[list[int]]]] = {}
        for snap in await pending:
            for raw, (worst, samples) in snap.get(b"latency", {}).items():
                name = raw.decode() if isinstance(raw, bytes) else raw
                old_max, old = out.get(name, (0, []))
                out[name] = (max(old_max, worst), sorted(old + [list(x) for x in samples]))
        return out

    return merged()


@front("latency|latest")
def latency_latest(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = gather_latency(fr)

    async def build() -> Any:
        events = await pending
        return [[name.encode(), samples[-1][0], samples[-1][1], worst] for name, (worst, samples) in sorted(events.items()) if samples]

    return build()


@front("latency|history")
def latency_history(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    wanted = argv[2].decode("utf-8", "surrogateescape").lower()
    pending = gather_latency(fr)

    async def build() -> Any:
        _, samples = (await pending).get(wanted, (0, []))
        return samples[-160:]

    return build()


@front("latency|reset")
def latency_reset(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    names = [a.lower() for a in argv[2:]]
    pending = gather_latency(fr)
    resets = _all_shards(fr, [b"__latencyreset", *names])

    async def build() -> Any:
        events = await pending
        await _gather(resets)
        fr.cmdstats.reset_latency(names)
        return sum(1 for name in events if not names or name.encode() in names)

    return build()


@front("latency|doctor")
def latency_doctor(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = gather_latency(fr)

    async def build() -> Any:
        events = {k: v for k, v in (await pending).items() if v[1]}
        if not events:
            if int(fr.config.get("latency-monitor-threshold")) == 0:
                return Verbatim(
                    "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this "
                    "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" "
                    "in order to enable it.\n"
                )
            return Verbatim("I'm glad to inform you that no latency spikes were detected.\n")
        lines = ["Latency spikes are observed in this instance.", ""]
        for i, (event, (worst, samples)) in enumerate(sorted(events.items()), start=1):
            avg = sum(ms for _, ms in samples) // len(samples)
            lines.append(f"{i}. {event}: {len(samples)} latency spikes (average {avg}ms). Worst all time event {worst}ms.")
        return Verbatim("\n".join(lines) + "\n")

    return build()


@front("latency|help")
def latency_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _help([
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Print this help.",
    ])


# ---------------------------------------------------------------- MEMORY


@front("memory|stats")
def memory_stats(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    from shardserver.front.info import gather_shards, process_rss

    pending = gather_shards(fr)

    async def build() -> Any:
        shards = [s for s in await pending if s is not None]
        front_rss = process_rss(os.getpid())
        shard_rss = [process_rss(int(s[b"pid"])) for s in shards]
        keys = sum(int(s[b"keys"]) for s in shards)
        total = front_rss + sum(shard_rss)
        fr.memory_peak = max(fr.memory_peak, total)
        return {
            b"peak.allocated": max(total, fr.memory_peak),
            b"total.allocated": total,
            b"startup.allocated": fr.startup_rss,
            b"front.rss": front_rss,
            b"shards.rss": sum(shard_rss),
            b"clients.normal": len(fr.clients),
            b"keys.count": keys,
            b"keys.bytes-per-key": (total - fr.startup_rss) // keys if keys else 0,
            b"dataset.bytes": max(total - fr.startup_rss, 0),
        }

    return build()


@front("memory|doctor")
def memory_doctor(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return Verbatim(
        "Hi Sam, I can't find any memory issue in your instance. "
        "I can only account for what occurs on this base.\n"
        "(shardserver reports resident memory per process: see MEMORY STATS and INFO shards.)\n"
    )


@front("memory|help")
def memory_help(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    return _help([
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Print this help.",
    ])


# ---------------------------------------------------------------- DEBUG


DEBUG_DISABLED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server."
)


def debug_allowed(fr: Front, conn: ClientConnection) -> None:
    mode = str(fr.config.get("enable-debug-command"))
    if mode == "yes" or (mode == "local" and (conn.unix or conn.addr.startswith(("127.", "[::1]")))):
        return
    raise CommandError(DEBUG_DISABLED)


@front("debug")
def debug(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    debug_allowed(fr, conn)
    sub = argv[1].lower()
    if sub == b"sleep" and len(argv) == 3:
        from shardserver.numbers import parse_float

        seconds = parse_float(argv[2])
        time.sleep(max(seconds, 0))  # blocks the front on purpose, like Valkey's DEBUG SLEEP
        fr.cmdstats.note_latency("command", int(seconds * 1000), int(fr.config.get("latency-monitor-threshold")))
        return OK
    if sub == b"help":
        return _help([
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low-level info about the value stored at <key>.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Print this help.",
        ])
    if sub == b"object" and len(argv) == 3:
        shard = fr.owner_of(argv[2])
        future = fr.call(shard, conn.db, [[b"__debugobject", argv[2]]])

        async def one() -> Any:
            value = (await future)[0]
            if isinstance(value, ErrorReply):
                raise CommandError(value.text)
            return Simple(value.decode()) if isinstance(value, bytes) else value

        return one()
    raise CommandError(f"ERR unknown subcommand '{argv[1].decode('utf-8', 'surrogateescape')}'. Try DEBUG HELP.")


# ---------------------------------------------------------------- MONITOR


@front("monitor")
def monitor(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    from shardserver.front.server import NO_REPLY

    if conn.monitoring:  # Valkey ignores a second MONITOR without a reply
        return NO_REPLY
    fr.monitors.add(conn)
    conn.monitoring = True
    return OK


def _repr_arg(arg: bytes) -> str:
    """Valkey's sdscatrepr: quoted, with escapes for quotes, backslashes and non-printables."""
    out = ['"']
    for c in arg:
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif c == 0x07:
            out.append("\\a")
        elif c == 0x08:
            out.append("\\b")
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    out.append('"')
    return "".join(out)


def monitor_line(conn: ClientConnection, argv: list[bytes]) -> bytes:
    now = time.time()
    args = " ".join(_repr_arg(a) for a in argv)
    return f"+{now:.6f} [{conn.db} {conn.addr}] {args}\r\n".encode()


# ---------------------------------------------------------------- CONFIG REWRITE


@front("config|rewrite")
def config_rewrite(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    path = fr.config.file
    if not path:
        raise CommandError("ERR The server is running without a config file")
    try:
        rewrite_config_file(path, fr.config)
    except OSError as exc:
        raise CommandError(f"ERR Rewriting config file: {exc.strerror or exc}") from exc
    return OK


def rewrite_config_file(path: str, config: Any) -> None:
    """Rewrite ``path`` so it states the current configuration, keeping comments and order.

    Like Valkey: a directive already in the file is rewritten in place (its
    first line; later duplicates are dropped); a directive not in the file is
    appended only if it differs from its default; comments and blank lines
    stay.  Written to a temporary file, fsynced, then renamed over the old one.
    """
    from shardserver.config import DIRECTIVES, split_args

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    current = dict(config.config_get(["*"]))
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        args = split_args(stripped)
        name = args[0].lower() if args else ""
        if name not in DIRECTIVES or name not in current:
            out.append(line)
            continue
        if name in seen:
            continue  # one line per directive, as Valkey writes
        seen.add(name)
        out.append(_directive_line(name, current[name]))
    appended = [
        _directive_line(name, value)
        for name, value in current.items()
        if name not in seen and value != _default_text(name, config)
    ]
    if appended:
        if "# Generated by CONFIG REWRITE" not in out:
            out.append("# Generated by CONFIG REWRITE")
        out.extend(appended)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(out) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _default_text(name: str, config: Any) -> str:
    from shardserver.config import Config

    return str(dict(Config().config_get([name])).get(name, ""))


def _directive_line(name: str, value: str) -> str:
    if value == "" or any(c in value for c in " \"'\\") and name not in ("bind", "save"):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{name} "{escaped}"'
    return f"{name} {value}"


__all__ = ["monitor_line", "rewrite_config_file"]
