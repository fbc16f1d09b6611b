"""INFO: gathers every shard's statistics and renders Valkey's sections.

Ownership: the front owns the rendering; each shard reports its own numbers
through the internal ``__info`` command.  Field names are Valkey's so that
redis-cli --stat and exporters parse them.  Memory is measured, not estimated:
``used_memory`` is the resident memory of the front and all shards together
(Python has no allocator counter comparable to Valkey's).
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import time
from typing import TYPE_CHECKING, Any

import psutil

from shardserver import REDIS_VERSION, VALKEY_VERSION, __version__
from shardserver.cmdstats import CALLS, FAILED, HIST, NANOS, REJECTED, percentile_usec
from shardserver.resp import ErrorReply

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front

# Valkey's order; "all" adds commandstats and latencystats to the default ones.
DEFAULT_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace", "shards"]
ALL_SECTIONS = DEFAULT_SECTIONS[:9] + ["commandstats", "latencystats"] + DEFAULT_SECTIONS[9:]
STATS_SECTIONS = {"errorstats", "commandstats", "latencystats", "stats"}


def needs_cmdstats(wanted: list[str]) -> bool:
    """Whether rendering ``wanted`` needs the merged command statistics."""
    return not wanted or any(w in STATS_SECTIONS or w in ("all", "everything", "default") for w in wanted)

_RUN_ID = os.urandom(20).hex()
_REPL_ID = os.urandom(20).hex()  # a primary's replication ID, new at each start as in Valkey


# Sections rendered only when named: not part of "all" (slotkeys can be 16384 entries per db).
EXPLICIT_SECTIONS = ["slotkeys"]


async def _gather(fr: Front, slotkeys: bool) -> list[dict[bytes, Any] | None]:
    cmds = [[b"__info"], [b"__slotcounts"]] if slotkeys else [[b"__info"]]
    futures = [fr.call(i, 0, cmds) if fr.links[i].up else None for i in range(fr.nshards)]
    out: list[dict[bytes, Any] | None] = []
    for f in futures:
        if f is None:
            out.append(None)
            continue
        values = await f
        value = values[0]
        if isinstance(value, ErrorReply):
            out.append(None)
            continue
        if slotkeys:
            value[b"slotcounts"] = [] if isinstance(values[1], ErrorReply) else values[1]
        out.append(value)
    return out


def gather_shards(fr: Front, wanted: list[str] | None = None) -> asyncio.Future[list[dict[bytes, Any] | None]]:
    """Start asking every shard now (keeps arrival order); resolves to their stats."""
    return asyncio.ensure_future(_gather(fr, wanted is not None and "slotkeys" in wanted))


def _human(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.2f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return str(n)


def process_rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.Error, OSError):
        return 0


def render(
    fr: Front,
    conn: ClientConnection,
    wanted: list[str],
    shards: list[dict[bytes, Any] | None],
    cmd: tuple[dict[str, list[Any]], dict[str, int]] | None = None,
) -> str:
    if not wanted or wanted == ["default"]:
        sections = DEFAULT_SECTIONS
    elif any(w in ("all", "everything") for w in wanted):
        sections = ALL_SECTIONS
    else:
        sections = [s for s in ALL_SECTIONS + EXPLICIT_SECTIONS if s in wanted]
    now = time.time()
    uptime = int(now - fr.started)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    live = [s for s in shards if s is not None]
    front_rss = process_rss(os.getpid())
    shard_rss = [process_rss(int(s[b"pid"])) for s in live]
    used = front_rss + sum(shard_rss)
    fr.memory_peak = max(fr.memory_peak, used)
    out: list[str] = []

    def section(title: str, fields: list[tuple[str, Any]]) -> None:
        if out:
            out.append("")
        out.append(f"# {title}")
        out.extend(f"{k}:{v}" for k, v in fields)

    for name in sections:
        if name == "server":
            section("Server", [
                ("redis_version", REDIS_VERSION),
                ("server_name", "valkey"),
                ("valkey_version", VALKEY_VERSION),
                ("shardserver_version", __version__),
                ("redis_git_sha1", "00000000"),
                ("redis_git_dirty", 0),
                ("redis_build_id", "0"),
                ("server_mode", "standalone"),
                ("redis_mode", "standalone"),
                ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
                ("arch_bits", 64),
                ("multiplexing_api", "epoll"),
                ("python_version", platform.python_version()),
                ("process_id", os.getppid()),
                ("front_process_id", os.getpid()),
                ("run_id", _RUN_ID),
                ("tcp_port", fr.port),
                ("server_time_usec", int(now * 1_000_000)),
                ("uptime_in_seconds", uptime),
                ("uptime_in_days", uptime // 86400),
                ("hz", fr.config.get("hz")),
                ("configured_hz", fr.config.get("hz")),
                ("executable", os.path.abspath(os.sys.argv[0]) if os.sys.argv else ""),
                ("shards", fr.nshards),
            ])
        elif name == "clients":
            # no cluster bus, client tracking, pub/sub or WATCH here: those counts are 0
            pause_left = max(int((fr.pause_until - time.monotonic()) * 1000), 0) if fr.pause_mode else 0
            section("Clients", [
                ("connected_clients", len(fr.clients)),
                ("cluster_connections", 0),
                ("maxclients", fr.maxclients),
                ("client_recent_max_input_buffer", fr.buffer_peaks.recent_max(0)),
                ("client_recent_max_output_buffer", fr.buffer_peaks.recent_max(1)),
                ("blocked_clients", fr.blocking.blocked_count()),
                ("tracking_clients", 0),
                ("pubsub_clients", 0),
                ("watching_clients", 0),
                ("clients_in_timeout_table", fr.blocking.timed_count()),
                ("total_watched_keys", 0),
                ("total_blocking_keys", len(fr.blocking.queues)),
                ("total_blocking_keys_on_nokey", fr.blocking.nokey_count()),
                ("paused_reason", "client_pause" if pause_left else "none"),
                ("paused_actions", fr.pause_mode if pause_left else "none"),
                ("paused_timeout_milliseconds", pause_left),
            ])
        elif name == "memory":
            section("Memory", [
                ("used_memory", used),
                ("used_memory_human", _human(used)),
                ("used_memory_rss", used),
                ("used_memory_rss_human", _human(used)),
                ("used_memory_peak", max(used, fr.memory_peak)),
                ("used_memory_peak_human", _human(max(used, fr.memory_peak))),
                ("used_memory_startup", fr.startup_rss),
                ("used_memory_dataset", max(used - fr.startup_rss, 0)),
                ("used_memory_front", front_rss),
                ("used_memory_shards", sum(shard_rss)),
                ("maxmemory", 0),
                ("maxmemory_human", "0B"),
                ("maxmemory_policy", "noeviction"),
                ("mem_allocator", "pymalloc"),
            ])
        elif name == "persistence":
            section("Persistence", persistence_fields(fr, live, now))
        elif name == "stats":
            st = fr.stats
            section("Stats", [
                ("total_connections_received", st["total_connections_received"]),
                ("total_commands_processed", st["total_commands_processed"]),
                ("instantaneous_ops_per_sec", fr.ops_per_sec),
                ("total_net_input_bytes", st["total_net_input_bytes"] + sum(c.net_in for c in fr.clients.values())),
                ("total_net_output_bytes", st["total_net_output_bytes"] + sum(c.net_out for c in fr.clients.values())),
                ("rejected_connections", st["rejected_connections"]),
                ("total_error_replies", sum((cmd[1] if cmd else {}).values())),
                ("expired_keys", sum(int(s[b"expired_keys"]) for s in live)),
                ("expired_fields", sum(int(s.get(b"expired_fields", 0)) for s in live)),
                ("evicted_keys", 0),
                ("shard_ops_total", sum(int(s[b"ops"]) for s in live)),
                ("ring_backpressure_events", sum(link.backpressure_events for link in fr.links)),
            ])
        elif name == "modules":
            section("Modules", [])
        elif name == "errorstats":
            errors_ = cmd[1] if cmd else {}
            section("Errorstats", [(f"errorstat_{code}", f"count={n}") for code, n in sorted(errors_.items())])
        elif name == "commandstats":
            fields = []
            for cname, e in sorted((cmd[0] if cmd else {}).items()):
                if not e[CALLS] and not e[REJECTED] and not e[FAILED]:
                    continue
                usec = e[NANOS] // 1000
                per = usec / e[CALLS] if e[CALLS] else 0.0
                fields.append((
                    f"cmdstat_{cname}",
                    f"calls={e[CALLS]},usec={usec},usec_per_call={per:.2f},rejected_calls={e[REJECTED]},failed_calls={e[FAILED]}",
                ))
            section("Commandstats", fields)
        elif name == "latencystats":
            fields = []
            for cname, e in sorted((cmd[0] if cmd else {}).items()):
                if not e[CALLS]:
                    continue
                pcts = ",".join(f"p{p:g}={percentile_usec(e[HIST], p):.3f}" for p in (50, 99, 99.9))
                fields.append((f"latency_percentiles_usec_{cname}", pcts))
            section("Latencystats", fields)
        elif name == "replication":
            # a primary that never had a replica: no backlog, offset 0 (Valkey's fields)
            section("Replication", [
                ("role", "master"), ("connected_slaves", 0), ("replicas_waiting_psync", 0),
                ("master_failover_state", "no-failover"), ("master_replid", _REPL_ID), ("master_replid2", "0" * 40),
                ("master_repl_offset", 0), ("second_repl_offset", -1), ("repl_backlog_active", 0),
                ("repl_backlog_size", 10485760), ("repl_backlog_first_byte_offset", 0), ("repl_backlog_histlen", 0),
            ])  # fmt: skip
        elif name == "cpu":
            user = usage.ru_utime + sum(int(s[b"cpu_user_us"]) for s in live) / 1e6
            sys_ = usage.ru_stime + sum(int(s[b"cpu_sys_us"]) for s in live) / 1e6
            section("CPU", [
                ("used_cpu_sys", f"{sys_:.6f}"),
                ("used_cpu_user", f"{user:.6f}"),
                ("used_cpu_sys_front", f"{usage.ru_stime:.6f}"),
                ("used_cpu_user_front", f"{usage.ru_utime:.6f}"),
            ])
        elif name == "cluster":
            section("Cluster", [("cluster_enabled", 0)])
        elif name == "keyspace":
            per_db: dict[int, list[int]] = {}
            volatile: dict[int, int] = {}  # hashes with expiring fields, per db
            for s in live:
                for db, n in s.get(b"volatile_items", []):
                    volatile[int(db)] = volatile.get(int(db), 0) + int(n)
                for db, keys, expires, ttl_sum, ttl_n in s[b"keyspace"]:
                    acc = per_db.setdefault(int(db), [0, 0, 0, 0])
                    acc[0] += keys
                    acc[1] += expires
                    acc[2] += ttl_sum
                    acc[3] += ttl_n
            fields = []
            for db in sorted(per_db):
                keys, expires, ttl_sum, ttl_n = per_db[db]
                avg = ttl_sum // ttl_n if ttl_n else 0
                fields.append((f"db{db}", f"keys={keys},expires={expires},avg_ttl={avg},keys_with_volatile_items={volatile.get(db, 0)}"))
            section("Keyspace", fields)
        elif name == "shards":
            section("Shards", _shard_fields(fr, shards, dict(zip(map(id, live), shard_rss, strict=True))))
        elif name == "slotkeys":
            section("Slotkeys", _slotkey_fields(live))
    return "\r\n".join(out) + "\r\n" if out else ""  # no known section: empty, as Valkey


def _shard_fields(fr: Front, shards: list[dict[bytes, Any] | None], rss: dict[int, int]) -> list[tuple[str, Any]]:
    """``# Shards``: one line per shard; field meanings are documented in docs/operations.md.

    The shard reports its own numbers (``__info``); the front adds what only it
    sees: RSS (psutil), ring depth, in-flight runs and backpressure.
    """
    from shardserver.front.connection import fastpath

    fields: list[tuple[str, Any]] = [("shards", fr.nshards), ("front_fastpath", int(fastpath is not None))]
    for i, link in enumerate(fr.links):
        s = shards[i]
        ring = (
            f"ring_req_bytes={link.channel.requests.used()},ring_rep_bytes={link.channel.replies.used()},"
            f"ring_queued_bytes={link.sender.pending_bytes},ring_inflight={len(link.inflight)},"
            f"backpressure_events={link.backpressure_events}"
        )
        if s is None:
            # No stats: before the first "ready" a shard has not said hello yet;
            # after it, a silent shard died and the supervisor is replacing it.
            state = "restarting" if fr.ready_sent else "loading"
            slots = " ".join(f"{lo}-{hi}" for lo, hi in fr.slotmap.ranges(i))
            fields.append((f"shard{i}", f"pid={link.pid},state={state},slots={slots},keys=0,expires=0,ops=0,{ring}"))
            continue
        slots = " ".join(f"{lo}-{hi}" for lo, hi in s[b"slots"])
        db_keys = " ".join(f"{db}:{keys}" for db, keys, _, _, _ in s[b"keyspace"])
        db_expires = " ".join(f"{db}:{expires}" for db, _, expires, _, _ in s[b"keyspace"])
        fields.append((
            f"shard{i}",
            f"pid={s[b'pid']},state=ready,slots={slots},keys={s[b'keys']},expires={s[b'expires']},"
            f"db_keys={db_keys},db_expires={db_expires},"
            f"ops={s[b'ops']},batches={s[b'batches']},runs={s[b'runs']},sleeps={s[b'sleeps']},"
            f"expired_keys={s[b'expired_keys']},evicted_keys={s.get(b'evicted_keys', 0)},"
            f"rss={rss.get(id(s), 0)},dataset={s.get(b'dataset', 0)},"
            f"cpu_user={int(s[b'cpu_user_us']) / 1e6:.6f},cpu_sys={int(s[b'cpu_sys_us']) / 1e6:.6f},{ring}",
        ))
    return fields


def persistence_fields(fr: Front, live: list[dict[bytes, Any]], now: float) -> list[tuple[str, Any]]:
    """``# Persistence``: Valkey's fields summed over the shards, then each shard's AOF line."""
    aofs = [s[b"aof"] for s in live if b"aof" in s]
    loading = [link for link in fr.links if not link.up]

    def total(name: bytes) -> int:
        return sum(int(a[name]) for a in aofs)

    def any_(name: bytes) -> int:
        return 1 if any(int(a[name]) for a in aofs) else 0

    enabled = bool(fr.config.get("appendonly"))
    fields: list[tuple[str, Any]] = [("loading", 1 if loading else 0), ("async_loading", 0)]
    if loading:
        done = sum(link.loading[0] for link in loading)
        size = sum(link.loading[1] for link in loading)
        started = min((link.load_started for link in loading if link.load_started), default=now)
        elapsed = max(now - started, 0.0)
        perc = 100.0 * done / size if size else 0.0
        eta = int(elapsed * (size - done) / done) if done else 1
        fields += [
            ("loading_start_time", int(started)),
            ("loading_total_bytes", size),
            ("loading_loaded_bytes", done),
            ("loading_loaded_perc", f"{perc:.2f}"),
            ("loading_eta_seconds", eta),
        ]
    fields += [
        ("rdb_changes_since_last_save", sum(int(a.get(b"changes_since_save", 0)) for a in aofs)),
        ("rdb_bgsave_in_progress", any_(b"bgsave_in_progress")),
        ("rdb_last_save_time", min((int(a[b"last_save"]) for a in aofs), default=0)),  # SAVE/BGSAVE only, as LASTSAVE
        ("rdb_last_bgsave_status", "ok" if all(a[b"aof_last_bgrewrite_status"] == b"ok" for a in aofs) else "err"),
        ("aof_enabled", 1 if enabled else 0),
        ("aof_rewrite_in_progress", any_(b"aof_rewrite_in_progress")),
        ("aof_rewrite_scheduled", any_(b"aof_rewrite_scheduled")),
        ("aof_last_rewrite_time_sec", max((int(a[b"aof_last_rewrite_time_sec"]) for a in aofs), default=-1)),
        ("aof_current_rewrite_time_sec", max((int(a[b"aof_current_rewrite_time_sec"]) for a in aofs), default=-1)),
        ("aof_last_bgrewrite_status", "ok" if all(a[b"aof_last_bgrewrite_status"] == b"ok" for a in aofs) else "err"),
        ("aof_rewrites", max((int(a[b"aof_rewrites"]) for a in aofs), default=0)),
        ("aof_last_write_status", "ok" if all(a[b"aof_last_write_status"] == b"ok" for a in aofs) else "err"),
    ]
    if enabled:
        fields += [
            ("aof_current_size", total(b"aof_current_size")),
            ("aof_base_size", total(b"aof_base_size")),
            ("aof_pending_rewrite", any_(b"aof_rewrite_scheduled")),
            ("aof_buffer_length", total(b"aof_buffer_length")),
            ("aof_pending_bio_fsync", 0),
            ("aof_delayed_fsync", 0),
        ]
    for i, link in enumerate(fr.links):
        if not link.up:
            fields.append((f"shard{i}_aof", f"state=loading,loaded_bytes={link.loading[0]},total_bytes={link.loading[1]}"))
            continue
        a = next((s[b"aof"] for s in live if int(s[b"pid"]) == link.pid), None)
        if a is None:
            continue
        fields.append((
            f"shard{i}_aof",
            f"enabled={a[b'aof_enabled']},size={a[b'aof_current_size']},base_size={a[b'aof_base_size']},"
            f"rewriting={int(a[b'aof_rewrite_in_progress']) | int(a[b'bgsave_in_progress'])},rewrites={a[b'aof_rewrites']},"
            f"last_rewrite_status={a[b'aof_last_bgrewrite_status'].decode()},write_status={a[b'aof_last_write_status'].decode()},"
            f"fsyncs={a[b'aof_fsyncs']},fsync_lag_ms={a[b'aof_fsync_lag_ms']},load_time_ms={a[b'aof_load_time_ms']},loaded_records={a[b'aof_loaded_records']},"
            f"loaded_bytes={a[b'aof_loaded_bytes']},truncations={a[b'aof_truncations']}",
        ))
    return fields


def _slotkey_fields(live: list[dict[bytes, Any]]) -> list[tuple[str, Any]]:
    """``# Slotkeys`` (only when asked for): ``dbN:slot=count,...`` for non-empty slots."""
    per_db: dict[int, dict[int, int]] = {}
    for s in live:
        for db, flat in s.get(b"slotcounts", []):
            counts = per_db.setdefault(int(db), {})
            for j in range(0, len(flat), 2):
                counts[flat[j]] = counts.get(flat[j], 0) + flat[j + 1]
    return [
        (f"db{db}", ",".join(f"{slot}={n}" for slot, n in sorted(per_db[db].items())))
        for db in sorted(per_db)
    ]
