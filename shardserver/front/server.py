"""The front process: owns client connections and routes commands to shards.

Ownership: the front owns sockets, connection state, the routing decision and
reply order.  It never holds data: every key command runs on the shard that
owns the key's slot.  Consecutive commands of one connection that go to the
same shard form a *run*; every run produced in one event-loop tick for a shard
travels in one ring message, and the shard answers with one message.

Order and atomicity: the front is the only producer of every request ring and
appends runs in the order commands arrive, so every shard sees requests in one
global order.  A multi-key write split over shards (MSET, DEL) is therefore
never seen half-done.  Operations that must read before they write across
shards (RENAME, COPY, MSETNX, LCS) take a *hold* on their shards: a per-shard
FIFO lock queue in the front (VLL-style), so requests that arrive meanwhile
wait behind the hold in arrival order.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from ipc.channel import Channel
from ipc.ring import Receiver, Sender
from persistence import intents as txi
from shardserver import errors, log, wire
from shardserver.cmdstats import CommandStats, SlowLog
from shardserver.commands.table import ALL, FRONT, SCAN, SINGLE, TABLE, Command
from shardserver.config import DIRECTIVES, Config, ConfigError, canonical_name
from shardserver.errors import CommandError
from shardserver.front.blocking import COUNT_AT_END
from shardserver.front.connection import (
    BufferPeaks,
    ClientConnection,
    FrontBase,
    LinkBase,
    buffer_sizes,
    fastpath,
    output_layout,
)
from shardserver.front.targets import (
    FutureTarget,
    GroupTarget,
    Hold,
    RawSplit,
    ShardPart,
    ShardRuns,
    SplitJob,
    SplitPart,
    TxRawSplit,
    TxSplitJob,
    TxSplitPart,
)
from shardserver.resp import (
    ErrorReply,
    RequestParser,
    encode,
    encode_command,
    interleave,
    merge_splits,
)
from shardserver.slots import SlotMap, key_slot

_deliver = fastpath.deliver if fastpath is not None else None
_write_all = fastpath.write_all if fastpath is not None else None
if fastpath is not None:  # groups spread over shards are built and merged on the C path too
    fastpath.configure(GroupTarget, ShardPart, interleave, RawSplit, merge_splits)

FrontHandler = Callable[["Front", ClientConnection, list[bytes]], Any]
TX_MERGE = 0x40  # in a C route's merge: a split write that goes under an intent (``_close_split``)


class ShardLink(LinkBase):
    """The front's end of one shard's channel."""

    def __init__(self, index: int, channel: Channel, special: Callable[[ShardLink, int, Any], None]) -> None:
        self.index = index
        self.special = functools.partial(special, self)  # a reply run with a reserved id
        self.channel = channel
        self.sender = Sender(channel.requests)
        self.receiver = Receiver(channel.replies)
        self.up = False
        self.pid = 0
        self.out: list[list[Any]] = []
        self.inflight: dict[int, Any] = {}
        self.holder: Hold | None = None
        self.lockq: deque[Any] = deque()
        self.backlogged = False
        self.backpressure_events = 0
        self.loading = (0, 0)  # AOF bytes loaded, total, while the shard loads
        self.load_started = 0.0


class Front(FrontBase):
    def __init__(self, config: Config, channels: list[Channel], slotmap: SlotMap, control: socket.socket) -> None:
        self.config = config
        self.loop = asyncio.get_event_loop()
        self.links = [ShardLink(i, ch, self._special_run) for i, ch in enumerate(channels)]
        self.nshards = len(channels)
        self.slotmap = slotmap
        self.slot_owner = slotmap.snapshot()
        self.slot_version = slotmap.version
        self.control = control
        self.clients: dict[int, ClientConnection] = {}
        self._next_client = 0
        self._next_run = 1
        self._flush_scheduled = False
        self._dirty_links: set[ShardLink] = set()
        self._dirty_conns: set[ClientConnection] = set()
        self.reading_paused = False
        self.servers: list[asyncio.AbstractServer] = []
        self.port = 0
        self.started = time.time()
        self.stopping = False
        self.running = False  # inside run_forever: begin_stop may stop the loop
        self.stats = {
            "total_connections_received": 0,
            "total_commands_processed": 0,
            "rejected_connections": 0,
            "total_net_input_bytes": 0,
            "total_net_output_bytes": 0,
        }
        self.ready_sent = False
        self.cmdstats = CommandStats()
        self._pings = 0  # PINGs answered in place by the router's path (command_stats counts them)
        self.slowlog = SlowLog(int(config.get("slowlog-log-slower-than")), int(config.get("slowlog-max-len")))
        self.monitors: set[ClientConnection] = set()
        self.pause_mode: str | None = None  # CLIENT PAUSE: "all" or "write"
        self.pause_until = 0.0
        self.paused_conns: set[ClientConnection] = set()
        self.startup_rss = 0
        self.memory_peak = 0
        self.buffer_peaks = BufferPeaks()  # sampled by _cron
        self.ops_per_sec = 0
        self._ops_mark = (time.monotonic(), 0)
        self.apply_config()
        from shardserver.front import handlers, introspection  # noqa: F401  (registers handlers)
        from shardserver.front.blocking import Blocking

        self.blocking = Blocking(self)

        self.handlers: dict[str, FrontHandler] = handlers.HANDLERS
        self.cross: dict[str, Callable[..., Any]] = handlers.CROSS
        from shardserver.front.stream_block import take_blocking

        # commands the front takes from their shard when an option asks them to block
        self.block_option: dict[str, Callable[..., bool]] = {"xread": take_blocking, "xreadgroup": take_blocking}
        self.aggregators: dict[str, Callable[..., Any]] = handlers.AGGREGATE
        self._names, self._fast = route_tables()
        # cross-shard writes' intents (persistence/intents.py), kept while the AOF is on
        self.intents: txi.IntentLog | None = None
        self._tx_inflight: dict[int, int] = {}  # intent file seq -> its writes not answered yet
        self._tx_gc_before = 0  # intent files below this seq go once their writes are answered
        self._tx_gc_running = False
        if config.get("appendonly"):
            self._intents_on()

    def _slow_threshold(self) -> int:
        """The ns from which a front command goes to SLOWLOG or LATENCY (kept in ``_slow_ns``)."""
        slower = self.slowlog.slower_than
        threshold_ms = int(self.config.get("latency-monitor-threshold"))
        ns = slower * 1000 if slower >= 0 else 1 << 62
        return min(ns, threshold_ms * 1_000_000) if threshold_ms > 0 else ns

    # directives whose new value the shards must hear about
    SHARD_DIRECTIVES = (
        "proto-max-bulk-len", "slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "loglevel", "hz",
        "appendonly", "appendfsync", "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size",
        "aof-load-truncated", "aof-timestamp-enabled", "save",
        "hash-max-listpack-entries", "hash-max-listpack-value",
        "stream-node-max-bytes", "stream-node-max-entries",
        "set-max-intset-entries", "set-max-listpack-entries", "set-max-listpack-value", "zset-max-listpack-entries", "zset-max-listpack-value",
        "hll-sparse-max-bytes", "list-max-listpack-size",
    )  # fmt: skip

    def shard_value(self, name: str) -> bytes:
        """A directive's value as CONFIG GET shows it, for ``__config``."""
        return DIRECTIVES[name].format(self.config.get(name)).encode()

    def apply_config(self, changed: set[str] | None = None) -> None:
        """Act on the configuration: at start, and after CONFIG SET or a reload changed ``changed``."""
        cfg = self.config
        if changed:
            changed = {canonical_name(n) for n in changed}
            if "appendonly" in changed and not cfg.get("appendonly"):
                self._intents_off()
            log.set_level(str(cfg.get("loglevel")))
            self.slowlog.configure(int(cfg.get("slowlog-log-slower-than")), int(cfg.get("slowlog-max-len")))
            for name in changed & set(self.SHARD_DIRECTIVES):
                value = self.shard_value(name)
                for link in self.links:
                    if link.up:
                        self.call(link.index, 0, [[b"__config", name.encode(), value]])
            for conn in self.clients.values():
                conn.parser.max_bulk_len = int(cfg.get("proto-max-bulk-len"))
                conn.parser.max_buffer = int(cfg.get("client-query-buffer-limit"))
        self.proto_max_bulk_len = int(cfg.get("proto-max-bulk-len"))
        self.query_buffer_limit = int(cfg.get("client-query-buffer-limit"))
        self.requirepass = str(cfg.get("requirepass"))
        self.maxclients = int(cfg.get("maxclients"))
        self.timeout = int(cfg.get("timeout"))
        self.databases = int(cfg.get("databases"))
        self._slow_ns = self._slow_threshold()  # read per timed command: not looked up each time

    def set_config(self, pairs: list[tuple[str, str]]) -> Coroutine[Any, Any, None] | None:
        """CONFIG SET and a reload: set ``pairs`` all or nothing, then act on them.

        Raises ConfigError for a bad name or value.  Turning the AOF on is the
        one change a shard can refuse (its directory cannot be used), so then
        this returns a coroutine that waits for every shard's answer; if one
        refused, every directive of ``pairs`` gets its old value back (shards
        that turned the AOF on turn it off) and it raises CommandError, as
        Valkey restores the previous settings when applying one fails.
        """
        before = self.config.to_dict()
        self.config.config_set(pairs)
        changed = {canonical_name(name) for name, _ in pairs}
        if "appendonly" not in changed or before["appendonly"] or not self.config.get("appendonly"):
            self.apply_config(changed)
            return None
        self.apply_config(changed - {"appendonly"})
        return self._turn_aof_on({name: before[name] for name in changed})

    async def _turn_aof_on(self, before: dict[str, Any]) -> None:
        cmd = [b"__config", b"appendonly", b"yes"]
        pending = [self.call(link.index, 0, [cmd]) for link in self.links if link.up]
        replies = [(await f)[0] for f in pending]
        if not any(isinstance(r, ErrorReply) for r in replies):
            if self.config.get("appendonly") and self.intents is None:
                self._intents_on()
            return
        log.warning("Failed applying new configuration. Possibly related to new appendonly setting. Restoring previous settings.")
        self.config.restore(before)
        self.apply_config(set(before))  # appendonly no: the shards that turned it on turn it off again
        raise CommandError(errors.AOF_TURN_ON_FAILED)

    # -- connections -----------------------------------------------------
    def next_client_id(self) -> int:
        self._next_client += 1
        return self._next_client

    def register(self, conn: ClientConnection) -> bool:
        if len(self.clients) >= self.maxclients:
            self.stats["rejected_connections"] += 1
            return False
        self.clients[conn.id] = conn
        self.stats["total_connections_received"] += 1
        return True

    def unregister(self, conn: ClientConnection) -> None:
        self.clients.pop(conn.id, None)
        if conn.blocked:
            self.blocking.drop(conn)
        self.stats["total_net_input_bytes"] += conn.net_in
        self.stats["total_net_output_bytes"] += conn.net_out

    # -- routing ---------------------------------------------------------
    def owner_of(self, key: bytes) -> int:
        return self.slot_owner[key_slot(key)]

    def dispatch_routed(self, conn: ClientConnection, items: list[Any]) -> None:
        """Dispatch what the C router produced: groups of one-key commands, or slow commands.

        A group's commands for each shard travel as one run of raw RESP; when
        a group spans shards, each shard also returns its reply lengths and
        ``interleave`` restores request order.
        """
        last = None
        ncmds = 0
        for pos, item in enumerate(items):
            if type(item) is tuple:
                if len(item) == 4:  # commands whose keys span shards, split by the router
                    merges, orders, raws, names = item
                    self._close_split(conn, merges, orders, raws, names)
                    ncmds += len(names)
                    last = names[-1]
                    continue
                order, raws, last = item
                if order is None:  # constant replies (PING) answered here, in place
                    conn.reply(raws)
                    ncmds += last
                    self._pings += last  # the C path's twin: counted by command_stats
                    last = b"ping"
                    continue
                n = len(order)
                ncmds += n
                if n == 1 or order.count(order[0]) == n:
                    self._close_run(conn, order[0], raws[order[0]], n)
                else:
                    self._close_group(conn, order, raws)
            else:
                ncmds += 1
                shard, spec = self._dispatch_slow(conn, item, self._names.get(item[0]))
                if shard >= 0:
                    self._close_run(conn, shard, [item], 1)
                last = None
                if conn.blocked:  # a blocking command: what follows runs once it is done
                    conn.deferred = (True, items[pos + 1 :])
                    ncmds -= 1  # counted when it completes (Blocking.fill), as Valkey counts it
                    break
        if last is not None:
            spec = self._names.get(last) or self._names.get(last.lower())
            if spec is not None:
                conn.last_cmd = spec
        conn.tot_cmds += ncmds
        self.stats["total_commands_processed"] += ncmds

    def dispatch_each(self, conn: ClientConnection, cmds: list[list[bytes]]) -> None:
        """Dispatch command by command through the slow path (MONITOR on, or CLIENT PAUSE WRITE).

        Under a write pause, the first write command and everything after it
        wait in ``conn.postponed`` (order is kept) until the pause ends.
        """
        if conn.postponed:
            conn.postponed.extend(cmds)
            return
        done = 0
        for argv in cmds:
            if self.pause_mode == "write" and self._is_write(argv):
                conn.postponed = cmds[done:]
                conn.pause_reading()
                self.paused_conns.add(conn)
                break
            as_sent = list(argv) if self.monitors else argv  # routing renames argv[0]
            shard, spec = self._dispatch_slow(conn, argv, self._names.get(argv[0]))
            if shard >= 0:
                self._close_run(conn, shard, [argv], 1)
            if self.monitors and spec is not None and spec.name != "monitor":
                # after the command's own reply slot, so a monitor sees its reply first
                self._feed_monitors(conn, as_sent)
            done += 1
            if conn.blocked:  # a blocking command: what follows runs once it is done
                conn.deferred = (False, cmds[done:])
                break
        counted = done - 1 if conn.blocked else done  # a blocking command counts when it completes
        conn.tot_cmds += counted
        self.stats["total_commands_processed"] += counted

    def _is_write(self, argv: list[bytes]) -> bool:
        spec = self._names.get(argv[0]) or self._names.get(argv[0].lower())
        if spec is None:
            return False
        if spec.subcommands and len(argv) > 1:
            spec = spec.subcommands.get(argv[1].decode("latin-1").lower(), spec)
        return "write" in spec.flags

    # -- CLIENT PAUSE ------------------------------------------------------------
    def pause(self, seconds: float, mode: str) -> None:
        until = time.monotonic() + seconds
        # Valkey: a new pause never shortens a running one; ALL wins over WRITE
        if self.pause_mode is None or until > self.pause_until:
            self.pause_until = until
        if self.pause_mode != "all":
            self.pause_mode = mode
        self.loop.call_later(seconds, self._pause_due)

    def _pause_due(self) -> None:
        if self.pause_mode is None:
            return
        left = self.pause_until - time.monotonic()
        if left <= 0:
            self.unpause()
        else:  # the timer fired early (or the pause was extended): look again later
            self.loop.call_later(left, self._pause_due)

    def hold_client(self, conn: ClientConnection) -> bool:
        """Under CLIENT PAUSE ALL, keep ``conn``'s input unread until the pause ends."""
        if time.monotonic() >= self.pause_until:
            self.unpause()
            return False
        if self.pause_mode == "all":
            conn.pause_reading()
            self.paused_conns.add(conn)
            return True
        return False

    def unpause(self) -> None:
        self.pause_mode = None
        self.pause_until = 0.0
        conns, self.paused_conns = self.paused_conns, set()
        for conn in conns:
            if conn.closing:
                continue
            conn.resume_reading()
            held, conn.postponed = conn.postponed, []
            if held:
                self.dispatch_each(conn, held)
            conn.process_input()

    def _dispatch_slow(self, conn: ClientConnection, argv: list[bytes], spec: Command | None) -> tuple[int, Command | None]:
        """Handle one command off the hot path; returns (shard, spec) when it starts a run, else (-1, spec)."""
        if spec is None:
            spec = self._names.get(argv[0].lower())
            if spec is None:
                self._reject(conn, None, errors.unknown_command(argv[0], argv[1:]))
                return -1, None
        n = len(argv)
        if not spec.accepts(n):
            self._reject(conn, spec.fullname, errors.wrong_arity(spec.fullname))
            return -1, spec
        if spec.subcommands and n > 1:
            sub = spec.subcommands.get(argv[1].decode("latin-1").lower())
            if sub is None:
                self._reject(conn, spec.fullname, errors.unknown_subcommand(argv[1], spec.name))
                return -1, spec
            spec = sub
            if not spec.accepts(n):
                self._reject(conn, spec.fullname, errors.wrong_arity(spec.fullname))
                return -1, spec
        conn.last_cmd = spec
        if not conn.authenticated and not spec.no_auth:
            self._reject(conn, spec.fullname, errors.NOAUTH)
            return -1, spec
        if spec.route is SINGLE:
            take = self.block_option.get(spec.fullname)
            if take is not None and take(self, conn, spec, argv):  # XREAD/XREADGROUP ... BLOCK
                return -1, spec
            keys = spec.keys
            if self.nshards == 1:
                shard = 0
            elif keys is not None and keys.first == keys.last and not spec.movable:
                shard = self.slot_owner[key_slot(argv[keys.first])]
            else:
                shard = self._single_shard(spec, argv)
                if shard < 0:
                    self._timed(conn, spec, argv, self._run_cross)
                    return -1, spec
            argv[0] = spec.bname
            return shard, spec
        if spec.route is SCAN:  # the shard that runs it counts it
            self._run_special(conn, spec, argv)
        else:
            self._timed(conn, spec, argv, self._run_special)
        return -1, spec

    def _reject(self, conn: ClientConnection, name: str | None, text: str) -> None:
        """A command refused before running (unknown, arity, auth): Valkey's rejected_calls."""
        self.cmdstats.reject(name, text)
        conn.reply(encode(ErrorReply(text)))

    def _timed(self, conn: ClientConnection, spec: Command, argv: list[bytes], run: Callable[..., bool]) -> None:
        """Run a command the front handles, counting it in the front's command stats.

        The time is the front's own work; for commands that wait on shards, their
        share is counted by the shards.
        """
        t0 = time.perf_counter_ns()
        ok = run(conn, spec, argv)
        took = time.perf_counter_ns() - t0
        if conn.block_stat is COUNT_AT_END:
            # it waits on keys: counted when it completes (Blocking.fill), as Valkey counts
            # it, and never when the client goes away meanwhile
            conn.block_stat = (spec.fullname, took)
        else:
            self.cmdstats.record(spec.fullname, took, failed=not ok)
        if took >= self._slow_ns:
            self.slowlog.maybe_add(took // 1000, argv, conn.id)
            self.cmdstats.note_latency("command", took // 1_000_000, int(self.config.get("latency-monitor-threshold")))

    def _feed_monitors(self, conn: ClientConnection, argv: list[bytes]) -> None:
        from shardserver.front.introspection import monitor_line

        line = monitor_line(conn, argv)
        for mon in list(self.monitors):  # a monitor sees its own commands too, as in Valkey
            if mon.closing:
                self.monitors.discard(mon)
                continue
            mon.reply(line)
            self._dirty_conns.add(mon)
        if not self._flush_scheduled:
            self._schedule_flush()

    def _single_shard(self, spec: Command, argv: list[bytes]) -> int:
        """The one shard all keys live on, or -1 when they span shards."""
        owner = self.slot_owner
        shard = -1
        for pos in spec.key_positions(argv):
            s = owner[key_slot(argv[pos])]
            if shard < 0:
                shard = s
            elif s != shard:
                return -1
        return 0 if shard < 0 else shard

    def _close_run(self, conn: ClientConnection, shard: int, run: list[list[bytes]] | bytes, n: int = 0) -> None:
        """Queue a client run: argv lists, or raw RESP bytes of ``n`` commands."""
        cell: list[Any] = [None]
        conn.pending.append(cell)
        link = self.links[shard]
        run_id = self._next_run
        self._next_run = run_id + 1
        target = (conn, cell, n or len(run))
        flags = (wire.RESP3 if conn.resp3 else 0) | (wire.NO_TOUCH if conn.no_touch else 0)
        self._queue(link, [run_id, conn.db, flags, run, conn.id], target)

    def _queue(self, link: ShardLink, item: list[Any], target: Any) -> None:
        """Send a run, or queue it behind a hold on its shard."""
        if link.holder is not None or link.lockq:
            link.lockq.append((item, target))
        else:
            self._send(link, item, target)

    def _send_parts(self, conn: ClientConnection, flags: int, raws: list[bytes | None], job: ShardRuns) -> None:
        """One run per shard that has a part (``raws[s]``), its target that shard's ``ShardPart`` of ``job``."""
        db = conn.db
        for shard, raw in enumerate(raws):
            if raw is None:
                continue
            run_id = self._next_run
            self._next_run = run_id + 1
            self._queue(self.links[shard], [run_id, db, flags, raw, conn.id], ShardPart(job, shard))

    def _close_group(self, conn: ClientConnection, order: bytes, raws: list[bytes | None]) -> None:
        cell: list[Any] = [None]
        conn.pending.append(cell)
        group = GroupTarget(self, conn, cell, order, raws)
        flags = (wire.RESP3 if conn.resp3 else 0) | wire.LENGTHS | (wire.NO_TOUCH if conn.no_touch else 0)
        self._send_parts(conn, flags, raws, group)

    def _close_split(self, conn: ClientConnection, merges: bytes, orders: list[bytes], raws: list[bytes | None], names: list[bytes]) -> None:
        """Queue commands the router split over shards: one run per shard holding their
        sub-commands, replies merged by ``merge_splits``; counted here, once each, as
        the front's other cross-shard commands are."""
        t0 = time.perf_counter_ns()
        cell: list[Any] = [None]
        conn.pending.append(cell)
        down = next((s for s, raw in enumerate(raws) if raw is not None and not self.links[s].up), None)
        if down is not None:
            # refused whole, so no shard applies its part while another is down; the run's
            # other split commands share its runs and are refused with it
            cell[0] = b"".join(encode(ErrorReply(errors.loading_shard(next((s for s in order if not self.links[s].up), down)))) for order in orders)
            self.reply_ready(conn)
            self._split_sent(conn, names, orders, raws, (time.perf_counter_ns() - t0) // len(names), failed=True)
            return
        flags = (wire.RESP3 if conn.resp3 else 0) | wire.SPLIT_PART | wire.LENGTHS | (wire.NO_TOUCH if conn.no_touch else 0)
        if max(merges) & TX_MERGE and self.intents is not None and len(raws) - raws.count(None) > 1:
            self._close_split_tx(conn, flags, raws, TxRawSplit(self, conn, cell, merges, orders, raws))
        else:
            self._send_parts(conn, flags, raws, RawSplit(self, conn, cell, merges, orders, raws))
        self._split_sent(conn, names, orders, raws, (time.perf_counter_ns() - t0) // len(names))

    def _close_split_tx(self, conn: ClientConnection, flags: int, raws: list[bytes | None], job: TxRawSplit) -> None:
        """``_close_split`` for split writes with the AOF on: the parts go under one intent
        (``_tx_begin``), at once when none of their shards is held, else once a hold on
        them is granted (the client's later commands queue behind it)."""
        shards = [s for s, raw in enumerate(raws) if raw is not None]
        links = self.links
        db = conn.db

        def send() -> None:
            run_flags, head = flags, b""  # the AOF went off while it waited for the hold: a plain split
            if self.intents is not None:
                try:
                    txid, seq = self._tx_begin([(s, db, raws[s]) for s in shards])  # type: ignore[misc]
                except CommandError as exc:
                    job.cell[0] = encode(ErrorReply(exc.text)) * len(job.orders)
                    self.reply_ready(conn)
                    return
                job.tx_seq = seq
                run_flags, head = flags | wire.TX, encode_command([b"__tx", b"%d" % txid, b"%d" % seq])
            for shard in shards:
                run_id = self._next_run
                self._next_run = run_id + 1
                self._send(links[shard], [run_id, db, run_flags, head + raws[shard], conn.id], ShardPart(job, shard))  # type: ignore[operator]

        if all(links[s].holder is None and not links[s].lockq for s in shards):
            send()
            return
        hold = self.hold(shards)

        def granted(_: Any) -> None:
            try:
                send()
            finally:
                self.release(hold)

        hold.ready.add_done_callback(granted)

    def _split_sent(self, conn: ClientConnection, names: list[bytes], orders: list[bytes], raws: list[bytes | None], took: int, failed: bool = False) -> None:
        """Count split commands queued (by ``_close_split`` or the C path), each ``took`` ns."""
        names_table = self._names
        for name in names:
            spec = names_table.get(name) or names_table[name.lower()]
            self.cmdstats.record(spec.fullname, took, failed=failed)
        if not failed and took >= self._slow_ns:  # as _timed does for the front's other commands
            for argv in _unsplit(names, orders, raws):
                self.slowlog.maybe_add(took // 1000, argv, conn.id)
            self.cmdstats.note_latency("command", took // 1_000_000, int(self.config.get("latency-monitor-threshold")))

    def _send(self, link: ShardLink, item: list[Any], target: Any) -> None:
        if not link.up:
            self._fail_target(target, errors.loading_shard(link.index))
            return
        link.inflight[item[0]] = target
        link.out.append(item)
        self._dirty_links.add(link)
        if not self._flush_scheduled:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Run ``_flush_links`` at the end of this loop iteration.

        Until then the front is awake and will look at every reply ring, so the
        shards may skip ringing its doorbell (see ``_flush_links``).
        """
        self._flush_scheduled = True
        for link in self.links:
            link.channel.replies.end_sleep()
        self.loop.call_soon(self._flush_links)

    def reply_ready(self, conn: ClientConnection) -> None:
        """A reply cell of ``conn`` was filled outside a shard's reply message: write it this tick."""
        self._dirty_conns.add(conn)
        if not self._flush_scheduled:
            self._schedule_flush()

    def _fail_target(self, target: Any, text: str) -> None:
        if type(target) is tuple:
            conn, cell, n = target
            cell[0] = encode(ErrorReply(text)) * n
            self.reply_ready(conn)
        else:
            target.fail(text)

    def _flush_links(self) -> None:
        self._flush_scheduled = False
        links, self._dirty_links = self._dirty_links, set()
        for link in links:
            if not link.out:
                continue
            payload = wire.pack([time.monotonic_ns(), link.out])
            link.out = []
            if not link.sender.send(payload) and not self._want_space(link):
                if not link.backlogged:
                    link.backlogged = True
                    link.backpressure_events += 1
                    self._set_reading_paused(True)
            if link.channel.requests.needs_wake():
                link.channel.req_bell.ring()
        # About to block in the event loop: say so on every reply ring, then look
        # once more, so a reply published meanwhile is either seen here or rung.
        for link in self.links:
            while not link.channel.replies.prepare_sleep():
                self._drain_replies(link)
        self._write_dirty()

    def _want_space(self, link: ShardLink) -> bool:
        """The request ring is full: ask the shard to ring us when it has read, then retry.

        The shard rings the reply doorbell, whose handler pumps the sender; a
        message bigger than the ring (fragments) goes through this way.
        """
        link.channel.requests.want_space()
        done = link.sender.pump()
        if link.channel.requests.needs_wake():
            link.channel.req_bell.ring()
        return done

    def _write_dirty(self) -> None:
        if self._dirty_conns:
            conns, self._dirty_conns = self._dirty_conns, set()
            if _write_all is not None:
                _write_all(conns)
                return
            for conn in conns:
                conn.write_ready()

    def _set_reading_paused(self, paused: bool) -> None:
        if paused == self.reading_paused:
            return
        self.reading_paused = paused
        for conn in self.clients.values():
            if paused:
                conn.pause_reading()
            else:
                conn.resume_reading()

    # -- replies from shards -------------------------------------------------
    def on_reply_bell(self, link: ShardLink) -> None:
        link.channel.rep_bell.drain()
        self._drain_replies(link)
        # Write at the end of the tick: other shards' replies for the same
        # connections may arrive meanwhile, and one write beats several.
        if self._dirty_conns and not self._flush_scheduled:
            self._schedule_flush()

    def _drain_replies(self, link: ShardLink) -> None:
        dirty = self._dirty_conns
        for message in link.receiver.poll():
            items = wire.unpack(message)
            if _deliver is not None:
                _deliver(items, link.inflight, dirty, link.special)
                continue
            inflight = link.inflight
            for i in range(0, len(items), 2):
                run_id = items[i]
                payload = items[i + 1]
                if run_id <= 0:
                    link.special(run_id, payload)
                    continue
                target = inflight.pop(run_id, None)
                if target is None:
                    continue
                if type(target) is tuple:
                    conn, cell, _ = target
                    cell[0] = payload
                    dirty.add(conn)
                else:
                    target.deliver(payload)
        if link.backlogged:
            done = link.sender.pump() or self._want_space(link)
            if link.channel.requests.needs_wake():
                link.channel.req_bell.ring()
            if done:
                link.backlogged = False
                if not any(x.backlogged for x in self.links):
                    self._set_reading_paused(False)

    def _special_run(self, link: ShardLink, run_id: int, payload: list[Any]) -> None:
        """A reply run with a reserved id (<= 0): hello, loading progress, keys ready."""
        if run_id == wire.HELLO_RUN:
            self._shard_hello(link, payload)
        elif run_id == wire.READY_RUN:  # last in its message
            self.blocking.keys_ready(payload)
        else:  # LOAD_RUN
            if not link.load_started:
                link.load_started = time.time()
            link.loading = (int(payload[0]), int(payload[1]))

    def _shard_hello(self, link: ShardLink, payload: list[Any]) -> None:
        link.pid = int(payload[0])
        link.up = True
        link.loading = (0, 0)
        log.verbose(f"Shard {link.index} (pid {link.pid}) is serving")
        if self.ready_sent:
            # A restarted shard was forked with the start-up configuration: give it
            # what CONFIG SET or a reload changed since.
            for name in self.SHARD_DIRECTIVES:
                self.call(link.index, 0, [[b"__config", name.encode(), self.shard_value(name)]])
            self.blocking.rewatch(link.index)
        if not self.ready_sent and all(x.up for x in self.links):
            from shardserver.front.info import process_rss

            self.ready_sent = True
            # MEMORY STATS' startup.allocated: what the processes hold before any data
            self.startup_rss = process_rss(os.getpid()) + sum(process_rss(x.pid) for x in self.links)
            self._control_send(f"ready {self.port}")
        self._collect_intents()  # every shard rolled forward what it lacked: earlier runs' intents can go

    def shard_down(self, index: int) -> None:
        """The supervisor saw shard ``index`` die: fail its work, reset its rings."""
        link = self.links[index]
        link.up = False
        link.pid = 0
        link.load_started = 0.0
        text = errors.loading_shard(index)
        inflight, link.inflight = link.inflight, {}
        link.out = []
        self._dirty_links.discard(link)
        for target in inflight.values():
            self._fail_target(target, text)
        link.channel.reset()
        link.channel.replies.prepare_sleep()  # the new shard must ring for its hello
        link.sender = Sender(link.channel.requests)
        link.receiver = Receiver(link.channel.replies)
        if link.backlogged:
            link.backlogged = False
            if not any(x.backlogged for x in self.links):
                self._set_reading_paused(False)
        self._write_dirty()
        self._control_send(f"reset {index}")

    # -- writes that span shards (persistence/intents.py) ---------------------------
    SPLIT_WRITES = (b"mset", b"del", b"unlink")

    def _intents_on(self) -> None:
        """The AOF is on: cross-shard writes go through intents.  The C router still
        splits MSET, DEL and UNLINK, with the TX bit in their merge, which leaves their
        split items to ``_close_split``."""
        aofdir = os.path.join(str(self.config.get("dir")), str(self.config.get("appenddirname")))
        try:
            self.intents = txi.IntentLog(aofdir, self.nshards)
        except (OSError, ValueError) as exc:
            log.warning(f"Cannot open an intent file in {aofdir}: {exc}; writes across shards go without intents")
            self.intents = None
            return
        if len(txi.existing(aofdir)) > 1:  # earlier runs' files: they go once every shard has loaded
            self._tx_gc_before = self.intents.seq
        for name in self.SPLIT_WRITES:
            for spelling in (name, name.upper()):
                route = self._fast.get(spelling)
                if route is not None:
                    self._fast[spelling] = (*route[:4], route[4] | TX_MERGE)

    def _intents_off(self) -> None:
        if self.intents is not None:
            self.intents.close()
            self.intents = None
        fast = route_tables()[1]
        for name in self.SPLIT_WRITES:
            for spelling in (name, name.upper()):
                if spelling in fast:
                    self._fast[spelling] = fast[spelling]

    def split_write(self, conn: ClientConnection, calls: list[tuple[int, list[bytes]]], merge: Callable[[list[Any]], Any]) -> Any:
        """A write split over shards (MSET, DEL, UNLINK, FLUSHALL...): ``split``, or with the
        AOF on one cross-shard write (``tx_send``) under a hold of its shards, taken now so the
        client's later commands queue behind it."""
        if self.intents is None or len({s for s, _ in calls}) < 2:
            return self.split(conn, calls, merge)
        links = self.links
        if all(links[s].holder is None and not links[s].lockq for s, _ in calls):
            return self._split_tx(conn, calls, merge)  # nothing to wait for: no task, no hold
        hold = self.hold([s for s, _ in calls])
        db = conn.db

        async def run() -> Any:
            try:
                await hold.ready
                sent = self.tx_send([(s, db, [argv]) for s, argv in calls])
            finally:
                # queued: later commands may follow it into the rings now
                self.release(hold)
            values = [v[0] for v in await sent]
            for v in values:
                if isinstance(v, ErrorReply):
                    raise CommandError(v.text)
            return merge(values)

        return run()

    def _split_tx(self, conn: ClientConnection, calls: list[tuple[int, list[bytes]]], merge: Callable[[list[Any]], Any]) -> _NoReply:
        """``split_write`` when none of its shards is held: the parts are queued now, under
        one intent, so nothing can come between them (the front is one thread)."""
        db = conn.db
        txid, seq = self._tx_begin([(s, db, [argv]) for s, argv in calls])
        cell: list[Any] = [None]
        conn.pending.append(cell)
        job = TxSplitJob(self, conn, cell, len(calls), merge, seq)
        head = [b"__tx", b"%d" % txid, b"%d" % seq]
        for index, (shard, argv) in enumerate(calls):
            run_id = self._next_run
            self._next_run = run_id + 1
            self._send(self.links[shard], [run_id, db, wire.INTERNAL, [head, argv], conn.id], TxSplitPart(job, index))
        return NO_REPLY

    def _tx_begin(self, parts: list[tuple[int, int, list[list[bytes]]]]) -> tuple[int, int]:
        """Write the intent of a cross-shard write about to be queued; its (id, file seq).
        Raises CommandError (queue nothing) when a shard is down or the intent cannot be written."""
        intents = self.intents
        assert intents is not None
        for s, _, _ in parts:
            if not self.links[s].up:  # refused whole: no part may run without the others
                raise CommandError(errors.loading_shard(s))
        try:
            txid, seq = intents.append(parts)
        except OSError as exc:
            raise CommandError(errors.misconf_aof(exc.strerror or str(exc))) from None
        self._tx_inflight[seq] = self._tx_inflight.get(seq, 0) + 1
        if intents.size >= txi.ROTATE_BYTES:
            try:
                intents.rotate()
                self._tx_gc_before = intents.seq
            except OSError as exc:
                log.warning(f"Cannot start a new intent file: {exc}")
        return txid, seq

    def tx_answered(self, seq: int) -> None:
        """Every part of a write whose intent is in file ``seq`` is answered."""
        left = self._tx_inflight[seq] - 1
        if left:
            self._tx_inflight[seq] = left
        else:
            del self._tx_inflight[seq]
        if self._tx_gc_before:
            self._collect_intents()

    def tx_send(self, parts: list[tuple[int, int, list[list[bytes]]]]) -> Coroutine[Any, Any, list[list[Any]]]:
        """Queue the parts of one write spanning shards, which the caller holds (it may let go
        once this returns); a coroutine of each part's reply values.

        With the AOF on, the write's intent is written first and each part runs
        tagged with its id: a crash between the shards' fsyncs, or a shard that
        dies meanwhile, leaves the write whole after the restart (rolled forward).
        Holding the shards while queuing keeps the parts reaching each shard in id order.
        Raises CommandError (nothing queued) when a shard is down or the intent cannot be written.
        """
        intents = self.intents
        if intents is None or len({s for s, _, _ in parts}) < 2:
            futures = [self.call(s, db, cmds, bypass=True) for s, db, cmds in parts]

            async def plain() -> list[list[Any]]:
                return [await f for f in futures]

            return plain()
        txid, seq = self._tx_begin(parts)
        head = [b"__tx", b"%d" % txid, b"%d" % seq]
        futures = [self.call(s, db, [head, *cmds], bypass=True) for s, db, cmds in parts]

        async def replies() -> list[list[Any]]:
            try:
                return [(await f)[1:] for f in futures]
            finally:
                self.tx_answered(seq)

        return replies()

    def _collect_intents(self) -> None:
        """Delete the intent files below ``_tx_gc_before`` once their writes are answered
        and every shard has fsynced its own file since (``__txsync``)."""
        before = self._tx_gc_before
        if not before or self._tx_gc_running or self.intents is None or not self.ready_sent:
            return
        if any(seq < before for seq in self._tx_inflight) or not all(link.up for link in self.links):
            return
        self._tx_gc_running = True

        async def collect() -> None:
            try:
                futures = [self.call(link.index, 0, [[b"__txsync"]]) for link in self.links]
                synced = [(await f)[0] for f in futures]
                if all(v == 1 for v in synced) and self.intents is not None:
                    self.intents.remove_before(before)
                    if self._tx_gc_before == before:
                        self._tx_gc_before = 0
            finally:
                self._tx_gc_running = False

        self.loop.create_task(collect())

    # -- internal calls (cross-shard steps, fan-out) ---------------------------
    def call(self, shard: int, db: int, cmds: list[list[bytes]], bypass: bool = False) -> asyncio.Future[list[Any]]:
        """Send an internal run; the future resolves to the list of reply values."""
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        run_id = self._next_run
        self._next_run = run_id + 1
        link = self.links[shard]
        item = [run_id, db, wire.INTERNAL, cmds, 0]
        target = FutureTarget(future, len(cmds))
        if not bypass and (link.holder is not None or link.lockq):
            link.lockq.append((item, target))
        else:
            self._send(link, item, target)
        return future

    def split(self, conn: ClientConnection, calls: list[tuple[int, list[bytes]]], merge: Callable[[list[Any]], Any]) -> _NoReply:
        """Run one internal command per shard and reply with ``merge`` of their replies.

        Callback-based (no task per command): the path of the cross-shard commands
        the C router does not split itself (PFCOUNT, and every multi-key command
        when the router is not in use: MONITOR, CLIENT PAUSE, builds without C).
        The first error reply wins.
        """
        cell: list[Any] = [None]
        conn.pending.append(cell)
        job = SplitJob(self, conn, cell, len(calls), merge)
        db = conn.db
        for index, (shard, argv) in enumerate(calls):
            run_id = self._next_run
            self._next_run = run_id + 1
            self._queue(self.links[shard], [run_id, db, wire.INTERNAL, [argv], conn.id], SplitPart(job, index))
        return NO_REPLY

    def hold(self, shards: list[int]) -> Hold:
        hold = Hold(self, shards)
        for index in hold.shards:
            link = self.links[index]
            if link.holder is None and not link.lockq:
                link.holder = hold
                hold.grant()
            else:
                link.lockq.append(hold)
        return hold

    def release(self, hold: Hold) -> None:
        for index in hold.shards:
            link = self.links[index]
            if link.holder is not hold:
                continue
            link.holder = None
            q = link.lockq
            while q:
                entry = q.popleft()
                if isinstance(entry, Hold):
                    link.holder = entry
                    entry.grant()
                    break
                item, target = entry
                self._send(link, item, target)

    def deferred_reply(self, conn: ClientConnection, work: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        """Reserve the connection's next reply slot for the result of ``work``.

        ``name``: the command it answers, whose call ``_timed`` counted when it
        started: an error it ends with is a failed call and goes to errorstats,
        as Valkey counts it (the shards' internal steps count nothing).
        """
        cell: list[Any] = [None]
        conn.pending.append(cell)
        resp3 = conn.resp3

        def done(task: asyncio.Task[Any]) -> None:
            try:
                value = task.result()
            except CommandError as exc:
                value = ErrorReply(exc.text)
            except Exception as exc:  # keep the connection's reply order intact
                log.warning(f"cross-shard command failed: {exc!r}")
                value = ErrorReply(f"ERR internal error: {exc}")
            if name is not None and isinstance(value, ErrorReply):
                self.cmdstats.fail(name, value.text)
            cell[0] = encode(value, resp3)
            conn.write_ready()

        task = self.loop.create_task(work)
        task.add_done_callback(done)

    # -- special routes --------------------------------------------------------
    def _run_cross(self, conn: ClientConnection, spec: Command, argv: list[bytes]) -> bool:
        handler = self.cross[spec.fullname]
        return self._reply_from(conn, lambda: handler(self, conn, argv), spec.fullname)

    def _run_special(self, conn: ClientConnection, spec: Command, argv: list[bytes]) -> bool:
        route = spec.route
        if route is FRONT:
            handler = self.handlers[spec.fullname]
            return self._reply_from(conn, lambda: handler(self, conn, argv), spec.fullname)
        if route is ALL:
            agg = self.aggregators[spec.fullname]
            argv[0] = spec.bname
            return self._reply_from(conn, lambda: agg(self, conn, argv), spec.fullname)
        elif route is SCAN:
            return self._reply_from(conn, lambda: self._route_scan(conn, argv))
        # a SINGLE command that needed a cross handler is routed above
        conn.reply(encode(ErrorReply(f"ERR unroutable command '{spec.fullname}'")))
        return False

    def _route_scan(self, conn: ClientConnection, argv: list[bytes]) -> Any:
        """SCAN goes to the shard owning its cursor's slot; the whole command is checked
        here first (an error is a failed call, as in Valkey), as a cursor past the last
        slot visits no shard and answers an empty page."""
        from shardserver.shard.keys import parse_scan

        cursor = parse_scan(argv)[0]
        if cursor >= 16384:
            return [b"0", []]
        argv[0] = b"scan"
        self._close_run(conn, self.slot_owner[cursor], [argv])
        return NO_REPLY

    def command_stats(self) -> CommandStats:
        """The front's command statistics, with the PINGs the router's path answered in
        place (it only counts them, so their time is 0)."""
        if self._pings:
            self.cmdstats.record("ping", 0, calls=self._pings)
            self._pings = 0
        return self.cmdstats

    def _reply_from(self, conn: ClientConnection, fn: Callable[[], Any], name: str | None = None) -> bool:
        """Reply with what ``fn`` returns (a value, a coroutine, or NO_REPLY); False on an error.
        ``name``: the command, for a coroutine's error (``deferred_reply``)."""
        try:
            value = fn()
        except CommandError as exc:
            self.cmdstats.error(exc.text)
            conn.reply(encode(ErrorReply(exc.text)))
            return False
        if asyncio.iscoroutine(value):
            self.deferred_reply(conn, value, name)
        elif value is not NO_REPLY:
            conn.reply(encode(value, conn.resp3))
        return True

    # -- control channel to the supervisor ---------------------------------------
    def _control_send(self, text: str) -> None:
        try:
            self.control.send(text.encode())
        except OSError as exc:
            log.warning(f"control channel send failed: {exc}")

    def on_control(self) -> None:
        try:
            data = self.control.recv(65536)  # a reload carries values (requirepass...)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            log.warning("Supervisor went away; front exiting")
            self.loop.remove_reader(self.control.fileno())
            self.begin_stop()
            return
        for line in data.decode().splitlines():
            parts = line.split(maxsplit=2)
            if parts and parts[0] == "down":
                self.shard_down(int(parts[1]))
            elif parts and parts[0] == "health":  # health <seq> <timeout seconds>
                self.loop.create_task(self.health_check(int(parts[1]), float(parts[2])))
            elif parts and parts[0] == "reload":  # reload <seq> <json [[name, value], ...]>
                self.reload_config(int(parts[1]), parts[2])

    async def health_check(self, seq: int, timeout: float) -> None:
        """Answer the supervisor's health request (it pings systemd's watchdog on ok).

        Healthy means every shard is up and answers an internal ping within
        ``timeout``: a shard that is loading or being restarted, or that is stuck
        (SIGSTOP, an endless loop), fails the check.  The pings bypass the hold
        queues: a cross-shard operation holding a shard is not a sick shard.
        """
        info: dict[str, Any] = {"up": sum(link.up for link in self.links), "clients": len(self.clients), "ops": self.ops_per_sec}
        down = [str(link.index) for link in self.links if not link.up]
        if down:
            info["reason"] = f"shard {', '.join(down)} not serving (loading or restarting)"
        else:
            pings = [self.call(link.index, 0, [[b"__ping"]], bypass=True) for link in self.links]
            _, late = await asyncio.wait(pings, timeout=timeout)
            for ping in late:
                ping.cancel()  # a shard that answers later finds its future done
            failed = [str(i) for i, ping in enumerate(pings) if ping in late or isinstance(ping.result()[0], ErrorReply)]
            if failed:
                info["reason"] = f"shard {', '.join(failed)} did not answer a ping within {timeout:.2f}s"
        verdict = "fail" if "reason" in info else "ok"
        self._control_send(f"health {seq} {verdict} {json.dumps(info)}")

    def reload_config(self, seq: int, payload: str) -> None:
        """Apply directives the supervisor re-read from the config file (SIGHUP).

        Exactly what CONFIG SET does (``set_config``: all or nothing, turning
        the AOF on included), so a reload and a CONFIG SET of the same values
        leave the same state.
        """
        try:
            pairs = [(str(name), str(value)) for name, value in json.loads(payload)]
            pending = self.set_config(pairs)
        except (ValueError, TypeError, ConfigError) as exc:
            log.warning(f"Reload refused, nothing applied: {exc}")
            self._control_send(f"reloaded {seq} fail {exc}")
            return
        if pending is None:
            self._control_send(f"reloaded {seq} ok")
            return

        async def answer(pending: Coroutine[Any, Any, None]) -> None:
            try:
                await pending
            except CommandError as exc:  # the AOF could not be turned on: nothing applied
                self._control_send(f"reloaded {seq} fail {exc.text}")
                return
            self._control_send(f"reloaded {seq} ok")

        self.loop.create_task(answer(pending))

    def request_shutdown(self, mode: str) -> None:
        self._control_send(f"shutdown {mode}")

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        port = int(cfg.get("port"))
        bind = cfg.get("bind")
        binds = [b for b in (bind if isinstance(bind, list) else str(bind).split()) if b]
        bound_port = port
        for addr in binds:
            optional = addr.startswith("-")
            host = addr.lstrip("-")
            if host == "*":
                host = "0.0.0.0"
            try:
                server = await self.loop.create_server(
                    lambda: ClientConnection(self), host=host, port=bound_port, reuse_address=True, backlog=511
                )
            except OSError as exc:
                if optional:
                    log.verbose(f"Skipping optional bind {host}: {exc}")
                    continue
                raise
            self.servers.append(server)
            if bound_port == 0:
                bound_port = server.sockets[0].getsockname()[1]
        path = str(cfg.get("unixsocket"))
        if path:
            if os.path.exists(path):
                os.unlink(path)
            server = await self.loop.create_unix_server(lambda: ClientConnection(self, unix=True), path=path, backlog=511)
            perm = int(cfg.get("unixsocketperm"))
            if perm:
                os.chmod(path, perm)
            self.servers.append(server)
        if not self.servers:
            raise OSError("Configured to not listen anywhere (no bind address and no unixsocket)")
        self.port = bound_port
        for link in self.links:
            self.loop.add_reader(link.channel.rep_bell.fileno(), self.on_reply_bell, link)
        self.loop.add_reader(self.control.fileno(), self.on_control)
        log.notice(f"Front listening on {', '.join(binds)} port {bound_port}" + (f", unix socket {path}" if path else ""))
        self.loop.call_later(1.0, self._cron)
        # Shards may have said hello before we were listening.
        for link in self.links:
            link.channel.replies.prepare_sleep()
            self.on_reply_bell(link)

    def _cron(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        peaks = self.buffer_peaks
        peaks.sample(now, 0, 0)  # this second's slot exists even with no client
        for conn in list(self.clients.values()):
            if self.timeout > 0 and not conn.pending and now - conn.last_active > self.timeout:
                log.verbose(f"Closing idle client id={conn.id}")
                conn.close_now()
                continue
            qbuf, queued = buffer_sizes(conn)
            peaks.sample(now, qbuf, output_layout(queued)[2])  # Valkey's output: the reply list (omem)
        # used_memory_peak: resident memory of every process, sampled once a second
        from shardserver.front.info import process_rss

        total = process_rss(os.getpid()) + sum(process_rss(x.pid) for x in self.links if x.pid)
        self.memory_peak = max(self.memory_peak, total)
        mark_t, mark_ops = self._ops_mark
        now_t, ops = time.monotonic(), self.stats["total_commands_processed"]
        self.ops_per_sec = int((ops - mark_ops) / max(now_t - mark_t, 1e-6))
        self._ops_mark = (now_t, ops)
        if self.slotmap.version != self.slot_version:
            self.slot_version = self.slotmap.version
            self.slot_owner = self.slotmap.snapshot()
        self.loop.call_later(1.0, self._cron)

    def begin_stop(self) -> None:
        """Stop accepting, close every client, and leave the loop.

        A stop requested while ``start`` is still running (SIGTERM right at
        start-up) only sets the flag: ``front_main`` checks it once start is
        done, since stopping the loop inside ``run_until_complete`` would fail.
        """
        if self.stopping:
            return
        self.stopping = True
        if self.running:
            self._close_all()
            self.loop.call_soon(self.loop.stop)

    def _close_all(self) -> None:
        for server in self.servers:
            server.close()
        for conn in list(self.clients.values()):
            conn.write_ready()
            conn.close_now()


class _NoReply:
    pass


NO_REPLY = _NoReply()


def route_tables() -> tuple[dict[bytes, Command], dict[bytes, Any]]:
    """The command table by name as clients spell it (lower and upper case), and the
    C router's view of it: name -> route (first key, last key, step, arity, merge) of
    key commands, or the reply bytes of a command answered in place (PING)."""
    names: dict[bytes, Command] = {}
    fast: dict[bytes, Any] = {}
    for name, cmd in TABLE.items():
        names[name.encode()] = names[name.upper().encode()] = cmd
        if cmd.route_keys:
            fast[name.encode()] = fast[name.upper().encode()] = cmd.route_keys
    fast[b"ping"] = fast[b"PING"] = b"+PONG\r\n"  # without arguments
    return names, fast


def _unsplit(names: list[bytes], orders: list[bytes], raws: list[bytes | None]) -> list[list[bytes]]:
    """Split commands' arguments as the client sent them (for the slow log): each shard's
    run holds, per command with keys there, a sub-command with those keys' units in order."""
    parser = RequestParser()
    subs: dict[int, list[list[bytes]]] = {}
    for shard, raw in enumerate(raws):
        if raw is not None:
            parser.feed(raw)
            subs[shard] = parser.drain()[::-1]
    out = []
    for name, order in zip(names, orders, strict=True):
        units: dict[int, list[list[bytes]]] = {}
        for shard in dict.fromkeys(order):
            args = subs[shard].pop()[1:]
            step = len(args) // order.count(shard)
            units[shard] = [args[i : i + step] for i in range(0, len(args), step)][::-1]
        out.append([name, *(arg for shard in order for arg in units[shard].pop())])
    return out


def front_main(config: Config, channels: list[Channel], slotmap: SlotMap, control: socket.socket) -> int:
    """Entry point in the forked front process."""
    import uvloop

    log.set_role("F")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvloop.install()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    control.setblocking(False)
    front = Front(config, channels, slotmap, control)
    loop.add_signal_handler(signal.SIGTERM, front.begin_stop)
    try:
        loop.run_until_complete(front.start())
    except OSError as exc:
        log.warning(f"Could not listen: {exc}")
        front._control_send("failed listen")
        return 1
    if front.stopping:  # asked to stop while starting
        front._close_all()
        log.notice("Front exiting (stopped during start-up)")
        return 0
    front.running = True
    profile = os.environ.get("SHARDSERVER_PROFILE", "")
    if "front" in profile.split(","):
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(loop.run_forever)
        prof.dump_stats(f"profile-front-{os.getpid()}.prof")
    else:
        loop.run_forever()
    log.notice("Front exiting")
    return 0
