"""The shard worker process: owns its slots' data and runs every command on it.

Ownership: a shard owns its keyspace (all databases of its slots), its expiry
cycle and its statistics.  It never touches a client socket and never waits on
another shard: it reads batches of runs from its request ring, executes them
in order and answers each batch with one reply message.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import time
import traceback
from array import array
from typing import Any

from ipc.channel import Channel
from ipc.ring import Receiver, Sender
from persistence.aof import BadRecord
from shardserver import errors, log, wire
from shardserver.cmdstats import CommandStats, SlowLog
from shardserver.commands.table import all_commands
from shardserver.errors import CommandError, misconf_aof
from shardserver.resp import OK, ErrorReply, FastRequestParser, encode
from shardserver.shard import bitmap_cmds as _bitmap_cmds  # noqa: F401
from shardserver.shard import hash_cmds as _hash_cmds  # noqa: F401
from shardserver.shard import hll_cmds as _hll_cmds  # noqa: F401
from shardserver.shard import keys as _keys  # noqa: F401  (registers handlers)
from shardserver.shard import list_cmds as _list_cmds  # noqa: F401
from shardserver.shard import set_cmds as _set_cmds  # noqa: F401
from shardserver.shard import stream_cmds as _stream_cmds  # noqa: F401
from shardserver.shard import strings as _strings  # noqa: F401
from shardserver.shard import zset_cmds as _zset_cmds  # noqa: F401
from shardserver.shard.keyspace import Keyspace, load_plain_sets
from shardserver.shard.persist import LoadError, ShardPersistence
from shardserver.shard.registry import CONFIG_HOOKS, HANDLERS, INTERNAL_WRITES, ShardContext
from shardserver.shard.types.build import c_makers
from shardserver.shard.types.list import FILL as list_fill

_RAW_OK = b"+OK\r\n"
_TX_HEAD = re.compile(rb"\*3\r\n\$4\r\n__tx\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n")  # a TX run's head

try:
    from shardserver._speedups import join_finals, run_raw_runs
    from shardserver._speedups import writes as c_writes
except ImportError:  # built without the C helpers: every command takes the Python path
    join_finals = run_raw_runs = c_writes = None


def _write_names() -> frozenset[bytes]:
    """Command names (as clients usually spell them) whose success the AOF logs."""
    names = {c.fullname for c in all_commands() if "write" in c.flags} | INTERNAL_WRITES
    return frozenset(n.encode() for n in names) | frozenset(n.upper().encode() for n in names)


def _handler_table() -> dict[bytes, Any]:
    """Handlers by name as clients usually spell it (lower or upper case)."""
    table = {}
    for name, fn in HANDLERS.items():
        table[name.encode()] = fn
        table[name.upper().encode()] = fn
    return table


class ShardWorker:
    def __init__(self, index: int, nshards: int, channel: Channel, ranges: list[tuple[int, int]], settings: dict[str, Any]) -> None:
        self.index = index
        self.channel = channel
        self.keyspace = Keyspace(int(settings.get("databases", 16)))
        self.ctx = ShardContext(self.keyspace, index, nshards, ranges)
        self.ctx.proto_max_bulk_len = int(settings.get("proto-max-bulk-len", 512 * 1024 * 1024))
        self.ctx.hll_sparse_max_bytes = int(settings.get("hll-sparse-max-bytes", 3000))
        self.hz = int(settings.get("hz", 10))
        from shardserver.shard.types.stream import LIMITS as stream_limits

        for name in stream_limits:
            if name in settings:
                stream_limits[name] = int(settings[name])
        for name, hook in CONFIG_HOOKS.items():  # directives the value types act on
            if name in settings:
                hook(str(settings[name]).encode())
        list_fill[0] = int(settings.get("list-max-listpack-size", -2))
        self.handlers = _handler_table()
        self.receiver = Receiver(channel.requests)
        self.sender = Sender(channel.replies)
        self.stopping = False
        self.py_writes = 0  # writes run here that changed something (writes())
        self.stats = CommandStats()
        self.names: dict[bytes, list[Any]] = {}  # spelling -> stats entry
        self.slowlog = SlowLog(int(settings.get("slowlog-log-slower-than", 10000)), int(settings.get("slowlog-max-len", 128)))
        self.latency_threshold_ms = int(settings.get("latency-monitor-threshold", 0))
        self.ctx.worker = self  # internal commands reach the stats and slow log
        # No limits: the front enforced them before forwarding these bytes.
        self._raw_parser = FastRequestParser(max_bulk_len=2**62, max_buffer=2**62)
        self.persist = ShardPersistence(self.ctx, index, nshards, ranges, settings)
        self.write_names = _write_names()
        self.read_names = frozenset(n for n in self.handlers if n not in self.write_names)

    def writes(self) -> int:
        """Writes that changed something since the shard started, run in C or here: the
        ``dirty`` count of the save points (a write of several keys counts once)."""
        return self.py_writes + (c_writes() if c_writes is not None else 0)

    def is_write(self, name: bytes) -> bool:
        """Whether the AOF logs ``name`` (the hot loop in ``execute_message`` inlines this test)."""
        return name in self.write_names or (name not in self.read_names and name.lower() in self.write_names)

    def load(self) -> None:
        """Replay this shard's AOF files (before the hello: the front answers LOADING)."""
        handlers = self.handlers
        ctx = self.ctx
        dbs = self.keyspace.dbs
        clock = self.keyspace.clock
        last = [0.0]

        from shardserver.shard.strings import cmd_set

        makers = c_makers()  # records creating a hash, set, sorted set or list: built in C
        specs = {c.fullname.encode(): c for c in all_commands()}

        def apply(db: int, records: list[list[bytes]]) -> None:
            ctx.db = database = dbs[db]
            set_plain = database.set
            database.loaded_sec = clock.sec
            i, n = 0, len(records)
            while i < n:
                if not database.watched:  # (nothing is watched while loading)
                    # a run of records creating new keys in C; data and by_slot are read
                    # again each time: FLUSHDB or SWAPDB records replace them
                    i = load_plain_sets(database.data, database.by_slot, records, i, makers)
                    if i >= n:
                        break
                argv = records[i]
                i += 1
                name = argv[0]
                handler = handlers.get(name) or handlers.get(name.lower())
                if handler is cmd_set and len(argv) == 3:
                    set_plain(argv[1], argv[2])  # most of a base file: no need for SET's parsing
                    continue
                if handler is None and len(argv) > 1:  # a container command logged as two words (XGROUP SETID)
                    full = name.lower() + b"|" + argv[1].lower()
                    handler = handlers.get(full)
                    if handler is not None:
                        argv = [full, *argv[1:]]
                if handler is None:  # a BadRecord: read_records adds the file and the byte offset
                    raise BadRecord(i - 1, f"unknown command '{name.decode('latin-1')}' reading the append only file")
                spec = specs.get(argv[0].lower())
                if spec is not None and not spec.accepts(len(argv)):
                    # a file we did not write: its handler may not expect the front's arity check to be skipped
                    raise BadRecord(i - 1, f"wrong number of arguments for a '{argv[0].decode('latin-1').lower()}' record")
                try:
                    handler(ctx, argv)
                except CommandError as exc:
                    if exc.text == errors.AOF_BAD_BULK:  # a snapshot's data itself is damaged
                        raise BadRecord(i - 1, exc.text[4:]) from None
                    # as Valkey: a record's error reply is dropped
                except Exception as exc:  # a record no client could have sent: name it, not a traceback
                    log.warning(f"shard {self.index}: replaying {argv[:2]!r} failed:\n{traceback.format_exc()}")
                    raise BadRecord(i - 1, f"the '{argv[0].decode('latin-1').lower()}' record cannot be applied ({exc!r})") from None

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.2:
                last[0] = now
                self.reply(wire.pack([wire.LOAD_RUN, [done, total]]))

        # Nothing expires during replay (as in Valkey): a record was logged while its key
        # was live, so it must apply to that key even if its TTL has passed since;
        # a time of 0 makes every TTL lie in the future.  Lazy and active expiry catch up after.
        clock.tick()
        clock.ms = 0
        # The cyclic GC would walk the growing heap again and again (half the load
        # time); the loaded values are long-lived and hold no cycles, so they go
        # to the permanent generation afterwards, out of every later collection.
        gc.disable()
        ctx.loading = True
        def roll(txid: int, seq: int, db: int, cmds: list[list[bytes]]) -> None:
            ctx.db = dbs[db]
            self.execute_part(txid, seq, cmds)

        try:
            self.persist.load(apply, progress, roll)
        finally:
            ctx.loading = False
            self.persist.saved_writes = self.writes()  # what was loaded is saved: no change yet
            clock.tick()
            gc.freeze()
            gc.enable()
        ctx.db = dbs[0]

    # -- execution ---------------------------------------------------------
    def execute(self, argv: list[bytes]) -> Any:
        handler = self.handlers.get(argv[0])
        if handler is None:
            return ErrorReply(f"ERR shard has no handler for '{argv[0].decode('latin-1')}'")
        try:
            return handler(self.ctx, argv)
        except CommandError as exc:
            return ErrorReply(exc.text)
        except Exception as exc:  # a bug must not take the shard down
            return self._internal_error(argv, exc)

    def handle(self, messages: list[bytes]) -> None:
        """Run every message the ring held, then one AOF write (and fsync) for all of them, then reply.

        Group commit: the messages that arrived while the previous fsync ran
        share the next one.  (Pipelining the fsync on a thread while the next
        messages run was measured and gave no gain: docs/persistence.md.)
        """
        pending = [self.execute_message(m) for m in messages]
        err = self.persist.commit()
        for p in pending:
            self.reply(self.finish(p, err), ring=False)
        # one doorbell for the whole batch: the front drains every reply it finds
        if self.channel.replies.needs_wake():
            self.channel.rep_bell.ring()

    def execute_message(self, message: bytes) -> tuple[list[Any], list[tuple[int, list[bytes], int, list[int]]]]:
        sent_ns, runs = wire.unpack(message)
        start_ns = time.monotonic_ns()
        # time spent in the ring counts towards the slow log, as the issue asks
        queued_us = max(start_ns - sent_ns, 0) // 1000
        self.keyspace.clock.tick()
        perf = time.perf_counter_ns
        clock = self.keyspace.clock
        stats = self.stats
        names = self.names
        slowlog = self.slowlog
        slow_ns = (slowlog.slower_than - queued_us) * 1000 if slowlog.slower_than >= 0 else 1 << 62
        if self.latency_threshold_ms > 0:
            slow_ns = min(slow_ns, self.latency_threshold_ms * 1_000_000)
        ctx = self.ctx
        dbs = self.keyspace.dbs
        handlers = self.handlers
        out: list[Any] = []
        ops = 0
        persist = self.persist
        journal = persist.writer
        reject: str | None = None  # MISCONF while the AOF cannot be written
        if journal is not None and journal.error is not None:
            err = persist.write_error()
            if err is not None:
                reject = misconf_aof(err)
        write_names = self.write_names
        read_names = self.read_names
        journal_log = journal.log if journal is not None else None
        finals: list[tuple[int, list[bytes], int, list[int]]] = []  # runs whose replies are joined after the AOF write
        # the handlers' path of run_raw_runs: what the loop below needs to run a command
        py = (ctx, clock, handlers, write_names, read_names, journal, CommandError, ErrorReply, OK, self._encode_reply, self._internal_error, stats.error)
        nruns = len(runs)
        i = 0
        tx_run = -1  # a cross-shard part's run (wire.TX) whose AOF group is open
        tx_mark: list[bytes] = []
        while i < nruns:
            if tx_run >= 0 and i > tx_run:  # its run is done: nothing else may join the group
                journal.close_group(tx_mark)
                tx_run = -1
            resume = None
            if run_raw_runs is not None:
                # raw client runs in C: GET, SET, INCR & co, MGET, MSET themselves (writes
                # only when nothing but the plain store is needed: no MISCONF, no blocked
                # clients on the database, the AOF already on it), every other command
                # through its handler as the loop below would, until one needs this loop
                slow3: list[tuple[int, list[bytes], int]] = []
                i, resume, done = run_raw_runs(
                    runs, i, dbs, None if journal is None else journal.buf, -1 if journal is None else journal.db, reject is None or tx_run == i,
                    clock.ms, clock.sec, names, slow_ns, out, finals, slow3, py,
                )  # fmt: skip
                ops += done
                for took, argv, cid in slow3:
                    slowlog.maybe_add(took // 1000 + queued_us, argv, cid)
                    stats.note_latency("command", took // 1_000_000, self.latency_threshold_ms)
                if i == nruns:
                    break
                if tx_run >= 0 and i > tx_run:
                    continue
            run_id, db, flags, cmds, conn_id = runs[i]
            if flags & wire.TX:  # its head stripped, it runs as a client run (in C first)
                tx_run, tx_mark = self._open_part(runs, i, journal, reject)
                continue
            i += 1
            ctx.db = dbs[db]
            clock.touch = not flags & wire.NO_TOUCH
            if flags & wire.INTERNAL:
                if type(cmds) is bytes:
                    cmds = self.parse_raw(cmds)
                ops += len(cmds)
                out.append(run_id)
                if cmds and cmds[0][0] == b"__tx":  # a part of a cross-shard write: [__tx id seq] + its commands
                    head = cmds[0]
                    out.append([OK, *self.execute_part(int(head[1]), int(head[2]), cmds[1:], reject)])
                else:
                    out.append([self._execute_logged(argv, journal, reject) for argv in cmds])
                continue
            resp3 = bool(flags & wire.RESP3)
            ctx.resp3 = resp3
            counted = not flags & wire.SPLIT_PART  # a split command's part: the front counts the command
            null = b"_\r\n" if resp3 else b"$-1\r\n"
            parts: list[bytes] = []
            logged: list[int] = []
            if type(cmds) is bytes:  # raw RESP forwarded by the front's C router
                raw = cmds
                pos = 0
                if resume is not None:  # run_raw_runs ran its leading commands
                    pos, parts, logged = resume
                cmds = self.parse_raw(raw[pos:] if pos else raw) if pos < len(raw) else []
            ops += len(cmds)
            t0 = perf()
            for argv in cmds:
                handler = handlers.get(argv[0])
                if handler is None:
                    handler = handlers.get(argv[0].lower())
                failed = False
                try:
                    if handler is None:
                        raise CommandError(f"ERR shard has no handler for '{argv[0].decode('latin-1')}'")
                    if argv[0] in write_names or (argv[0] not in read_names and argv[0].lower() in write_names):
                        # a write: refused under MISCONF, logged (with the AOF on) and counted
                        # when it succeeds and changed something (rewrite not [])
                        if reject is not None and tx_run < 0:  # a part runs anyway (_open_part)
                            raise CommandError(reject)
                        ctx.rewrite = None
                        value = handler(ctx, argv)
                        if type(value) is not ErrorReply:
                            if journal is None:
                                if ctx.rewrite != []:
                                    self.py_writes += 1
                            elif journal_log(db, argv, ctx.rewrite):
                                logged.append(len(parts))
                                self.py_writes += 1
                    else:
                        value = handler(ctx, argv)
                except CommandError as exc:
                    value = ErrorReply(exc.text)
                    failed = True
                except Exception as exc:
                    value = self._internal_error(argv, exc)
                    failed = True
                # One clock read per command: a command's time runs from the end of
                # the previous one, so it includes encoding the previous reply.
                now = perf()
                took = now - t0
                t0 = now
                if counted:
                    entry = names.get(argv[0])
                    if entry is None:
                        entry = self._stats_entry(argv[0])
                    entry[1] += took
                    entry[4][took.bit_length()] += 1  # calls are the histogram's sum
                    if failed:
                        entry[2] += 1
                        stats.error(value.text)
                    if took >= slow_ns:
                        slowlog.maybe_add(took // 1000 + queued_us, argv, conn_id)
                        stats.note_latency("command", took // 1_000_000, self.latency_threshold_ms)
                t = type(value)
                if t is bytes:
                    parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
                elif value is OK:
                    parts.append(_RAW_OK)
                elif t is int:
                    parts.append(b":%d\r\n" % value)
                elif value is None:
                    parts.append(null)
                else:
                    parts.append(self._encode_reply(value, resp3, argv))
            out.append(run_id)
            out.append(None)
            finals.append((len(out) - 1, parts, flags, logged))
        if tx_run >= 0:
            journal.close_group(tx_mark)
        ready = self.keyspace.ready
        if ready:  # watched keys a write created: the front serves their blocked clients
            out.append(wire.READY_RUN)
            out.append(ready)
            self.keyspace.ready = []
        ctx.stats["ops"] += ops
        ctx.stats["batches"] += 1
        ctx.stats["runs"] += len(runs)
        return out, finals

    def finish(self, pending: tuple[list[Any], list[tuple[int, list[bytes], int, list[int]]]], err: str | None) -> bytes:
        """The reply message of an executed message; ``err``: the AOF write failed."""
        out, finals = pending
        if err is not None:
            # not durable: the writes are not acknowledged (they stay in memory and in
            # the writer's buffer, which is retried)
            log.warning(f"Shard {self.index}: writing the AOF failed: {err}")
            misconf = encode(ErrorReply(misconf_aof(err)))
            for _, parts, _, logged in finals:
                for i in logged:
                    parts[i] = misconf
        if join_finals is not None:
            join_finals(out, finals)
            return wire.pack(out)
        for at, parts, flags, _ in finals:
            if flags & wire.LENGTHS:
                out[at] = [b"".join(parts), array("I", map(len, parts)).tobytes()]
            else:
                out[at] = b"".join(parts)
        return wire.pack(out)

    def _encode_reply(self, value: Any, resp3: bool, argv: list[bytes]) -> bytes:
        """A reply beyond bytes, OK, int and None (the loop above and run_raw_runs alike)."""
        try:
            return encode(value, resp3)
        except Exception as exc:  # a reply that cannot be encoded is a bug, not a crash
            log.warning(f"reply of {argv[0]!r} cannot be encoded: {exc!r}")
            return encode(ErrorReply(f"ERR internal error in shard {self.index}: {exc}"))

    def _internal_error(self, argv: list[bytes], exc: BaseException) -> ErrorReply:
        """A handler raised something else than CommandError (the loop above and run_raw_runs alike)."""
        trace = "".join(traceback.format_exception(exc))
        log.warning(f"command {argv[0]!r} failed: {exc!r}\n{trace}")
        return ErrorReply(f"ERR internal error in shard {self.index}: {exc}")

    def _open_part(self, runs: list[Any], i: int, journal: Any, reject: str | None) -> tuple[int, list[bytes]]:
        """Run ``i`` is this shard's part of a split write under an intent (wire.TX): strip
        its ``__tx <id> <seq>`` head, and open the AOF group its records and marker
        share (persistence/intents.py); (``i``, the marker) while the group is open, else -1.

        Under MISCONF (``reject``) the part still runs and stays in the AOF buffer, which
        is retried: the other shards applied theirs, and a part refused here would be
        rolled forward at the next start after this shard's later writes.  Its writes are
        answered MISCONF while the buffer cannot be written (``finish``)."""
        run_id, db, flags, raw, conn_id = runs[i]
        head = _TX_HEAD.match(raw)
        if head is None:
            raise RuntimeError("front sent a cross-shard part without its __tx head")
        runs[i] = [run_id, db, (flags & ~wire.TX) | wire.TX_BODY, raw[head.end() :], conn_id]
        self.keyspace.last_tx = max(self.keyspace.last_tx, int(head[1]))
        if journal is None:
            return -1, []
        self.persist.note_tx(int(head[2]))
        journal.open_group(db)
        return i, [b"__txmark", head[1]]

    def execute_part(self, txid: int, seq: int, cmds: list[list[bytes]], reject: str | None = None) -> list[Any]:
        """Run this shard's part of cross-shard write ``txid`` (its intent is in intent file
        ``seq``) and log it with its marker as one group (persistence/intents.py)."""
        journal = self.persist.writer
        if journal is None:
            values = [self._execute_logged(argv, None, None) for argv in cmds]
            self.keyspace.last_tx = max(self.keyspace.last_tx, txid)
            return values
        # Under MISCONF the part runs and waits in the AOF buffer all the same (see
        # _open_part); its writes answer MISCONF.
        records: list[list[bytes]] = []
        values = []
        for argv in cmds:
            write = self.is_write(argv[0])
            self.ctx.rewrite = None
            value = self.execute(argv)
            if write and type(value) is not ErrorReply:
                records.extend([argv] if self.ctx.rewrite is None else self.ctx.rewrite)
                self.py_writes += self.ctx.rewrite != []
                if reject is not None:
                    value = ErrorReply(reject)
            values.append(value)
        records.append([b"__txmark", b"%d" % txid])
        self.persist.note_tx(seq)
        journal.add_group(self.ctx.db.id, records)
        self.keyspace.last_tx = max(self.keyspace.last_tx, txid)
        return values

    def _execute_logged(self, argv: list[bytes], journal: Any, reject: str | None) -> Any:
        """An internal command; a write is logged (``journal`` None: the AOF is off) and counted."""
        if not self.is_write(argv[0]):
            return self.execute(argv)
        if reject is not None:
            return ErrorReply(reject)
        self.ctx.rewrite = None
        value = self.execute(argv)
        if type(value) is not ErrorReply and (journal.log(self.ctx.db.id, argv, self.ctx.rewrite) if journal is not None else self.ctx.rewrite != []):
            self.py_writes += 1
        return value

    def _stats_entry(self, name: bytes) -> list[Any]:
        """The stats entry of a command name as spelled by the client (cached per spelling)."""
        canonical = name.decode("latin-1").lower()
        entry = self.stats.entry(canonical)
        if len(self.names) < 4096:  # bound the cache against odd spellings
            self.names[name] = entry
        return entry

    def parse_raw(self, raw: bytes) -> list[list[bytes]]:
        """Commands the front already parsed and validated, forwarded as their bytes."""
        parser = self._raw_parser
        parser.feed(raw)
        cmds = parser.drain()
        if not parser.at_boundary():
            raise RuntimeError("front forwarded an incomplete command")
        return cmds

    def reply(self, payload: bytes, ring: bool = True) -> None:
        """Send a reply message; a full reply ring is waited out, never dropped.

        ``ring`` False: the caller rings the front's doorbell after its last reply."""
        done = self.sender.send(payload)
        if ring and self.channel.replies.needs_wake():
            self.channel.rep_bell.ring()
        while not done:
            # Reply ring full: wake the front to drain it; it does not know we wait, so poll.
            self.channel.rep_bell.ring()
            self.channel.req_bell.wait(0.001)
            done = self.sender.pump()

    # -- loop ----------------------------------------------------------------
    def run(self) -> None:
        self.reply(wire.pack([wire.HELLO_RUN, [os.getpid()]]))
        period = 1.0 / max(self.hz, 1)
        budget = period * 0.25  # Valkey's slow cycle: at most 25% of the time
        next_cycle = time.monotonic() + period
        bell = self.channel.req_bell
        ring = self.channel.requests
        rep_bell = self.channel.rep_bell
        while not self.stopping:
            messages = self.receiver.poll()
            if ring.space_wanted():  # the front waits to write the rest of a big message
                rep_bell.ring()
            if messages:
                self.handle(messages)
                now = time.monotonic()
                if now < next_cycle:
                    continue
            else:
                now = time.monotonic()
                if now < next_cycle:
                    # The front skips the doorbell while we are awake; say we sleep.
                    if ring.prepare_sleep():
                        self.ctx.stats["sleeps"] += 1
                        bell.wait(next_cycle - now)
                    ring.end_sleep()
                    continue
            self.keyspace.clock.tick()
            self.keyspace.expire_cycle(budget)
            self.persist.cron()
            period = 1.0 / max(self.hz, 1)  # hz may change at run time (CONFIG SET, reload)
            budget = period * 0.25
            next_cycle = time.monotonic() + period


def shard_main(index: int, nshards: int, channel: Channel, ranges: list[tuple[int, int]], settings: dict[str, Any]) -> int:
    """Entry point in the forked shard process; returns the exit code."""
    log.set_role(f"H{index}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides about Ctrl-C
    worker = ShardWorker(index, nshards, channel, ranges, settings)

    def on_term(signum: int, frame: Any) -> None:
        worker.stopping = True
        channel.req_bell.ring()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file size limit is a write error (MISCONF), not death
    try:
        worker.load()
    except LoadError as exc:
        log.warning(f"Bad AOF: {exc}")
        return 3
    keys = worker.keyspace.key_count()
    p = worker.persist
    source = f"loaded from the AOF in {p.load_ms} ms ({p.loaded_records} records)" if p.loaded_records else "no data on disk"
    log.notice(f"Shard {index} ready: slots {', '.join(f'{lo}-{hi}' for lo, hi in ranges)}, {keys} keys, {source}")
    if "shard" in os.environ.get("SHARDSERVER_PROFILE", "").split(","):
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(worker.run)
        prof.dump_stats(f"profile-shard{index}-{os.getpid()}.prof")
    else:
        worker.run()
    worker.persist.exit_save()
    worker.persist.close()
    log.notice(f"Shard {index} exiting")
    return 0
