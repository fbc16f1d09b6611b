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
from shardserver.resp import ErrorReply

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front

DEFAULT_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace", "shards"]
ALL_SECTIONS = DEFAULT_SECTIONS

_RUN_ID = os.urandom(20).hex()


async def _gather(fr: Front) -> list[dict[bytes, Any] | None]:
    futures = [fr.call(i, 0, [[b"__info"]]) if fr.links[i].up else None for i in range(fr.nshards)]
    out: list[dict[bytes, Any] | None] = []
    for f in futures:
        if f is None:
            out.append(None)
            continue
        value = (await f)[0]
        out.append(None if isinstance(value, ErrorReply) else value)
    return out


def gather_shards(fr: Front) -> asyncio.Future[list[dict[bytes, Any] | None]]:
    """Start asking every shard now (keeps arrival order); resolves to their stats."""
    return asyncio.ensure_future(_gather(fr))


def _human(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.2f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return str(n)


def _rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.Error, OSError):
        return 0


def render(fr: Front, conn: ClientConnection, wanted: list[str], shards: list[dict[bytes, Any] | None]) -> str:
    if not wanted or wanted == ["default"]:
        sections = DEFAULT_SECTIONS
    elif any(w in ("all", "everything") for w in wanted):
        sections = ALL_SECTIONS
    else:
        sections = [s for s in ALL_SECTIONS if s in wanted]
    now = time.time()
    uptime = int(now - fr.started)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    live = [s for s in shards if s is not None]
    front_rss = _rss(os.getpid())
    shard_rss = [_rss(int(s[b"pid"])) for s in live]
    used = front_rss + sum(shard_rss)
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
            section("Clients", [
                ("connected_clients", len(fr.clients)),
                ("maxclients", fr.maxclients),
                ("blocked_clients", 0),
                ("pubsub_clients", 0),
                ("watching_clients", 0),
            ])
        elif name == "memory":
            section("Memory", [
                ("used_memory", used),
                ("used_memory_human", _human(used)),
                ("used_memory_rss", used),
                ("used_memory_rss_human", _human(used)),
                ("used_memory_front", front_rss),
                ("used_memory_shards", sum(shard_rss)),
                ("maxmemory", 0),
                ("maxmemory_human", "0B"),
                ("maxmemory_policy", "noeviction"),
                ("mem_allocator", "pymalloc"),
            ])
        elif name == "persistence":
            section("Persistence", [
                ("loading", 0 if all(link.up for link in fr.links) else 1),
                ("async_loading", 0),
                ("aof_enabled", 0),
                ("aof_rewrite_in_progress", 0),
                ("rdb_bgsave_in_progress", 0),
            ])
        elif name == "stats":
            st = fr.stats
            section("Stats", [
                ("total_connections_received", st["total_connections_received"]),
                ("total_commands_processed", st["total_commands_processed"]),
                ("instantaneous_ops_per_sec", fr.ops_per_sec),
                ("total_net_input_bytes", st["total_net_input_bytes"] + sum(c.net_in for c in fr.clients.values())),
                ("total_net_output_bytes", st["total_net_output_bytes"] + sum(c.net_out for c in fr.clients.values())),
                ("rejected_connections", st["rejected_connections"]),
                ("expired_keys", sum(int(s[b"expired_keys"]) for s in live)),
                ("evicted_keys", 0),
                ("shard_ops_total", sum(int(s[b"ops"]) for s in live)),
                ("ring_backpressure_events", sum(link.backpressure_events for link in fr.links)),
            ])
        elif name == "replication":
            section("Replication", [("role", "master"), ("connected_slaves", 0)])
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
            for s in live:
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
                fields.append((f"db{db}", f"keys={keys},expires={expires},avg_ttl={avg},subexpiry=0"))
            section("Keyspace", fields)
        elif name == "shards":
            fields = [("shards", fr.nshards)]
            for i, link in enumerate(fr.links):
                s = shards[i]
                if s is None:
                    fields.append((f"shard{i}", f"pid={link.pid},state=restarting,slots=,keys=0,expires=0,ops=0"))
                    continue
                slots = " ".join(f"{lo}-{hi}" for lo, hi in s[b"slots"])
                fields.append((
                    f"shard{i}",
                    f"pid={s[b'pid']},state=ready,slots={slots},keys={s[b'keys']},expires={s[b'expires']},"
                    f"ops={s[b'ops']},batches={s[b'batches']},runs={s[b'runs']},sleeps={s[b'sleeps']},expired_keys={s[b'expired_keys']},rss={shard_rss[live.index(s)]},"
                    f"cpu_user={int(s[b'cpu_user_us']) / 1e6:.3f},cpu_sys={int(s[b'cpu_sys_us']) / 1e6:.3f},"
                    f"ring_inflight={len(link.inflight)},backpressure_events={link.backpressure_events}",
                ))
            section("Shards", fields)
    return "\r\n".join(out) + "\r\n" if out else ""  # no known section: empty, as Valkey
