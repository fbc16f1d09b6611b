"""Blocking commands: clients waiting for keys, served in FIFO order by the front.

Ownership: the front owns every blocked client (``Waiter``): the per-key FIFO
queues, the timeouts, and the decision of whom to serve.  Shards never wait
and never hold a client: they run one non-blocking step at a time.

How a blocking command runs
---------------------------

1. *Attempt.*  The front sends the shard the command's non-blocking step
   (``__try 1 <argv>``): pop like LPOP/LMPOP/LMOVE, or, when every key is
   empty, start *watching* the keys (``Database.watched``: key -> number of
   waiters) and answer None.  A key that was reported ready and whose waiters
   have not been served yet (``Database.ready_pending``) counts as empty, so
   a newcomer never overtakes the clients blocked before it (the reply is
   then 1, and the front gives the key a serving round once it has queued
   the newcomer).  When the keys span shards the front takes a hold on those
   shards (``Front.hold``, taken when the command arrives, so commands sent
   after it wait), asks each which keys hold a list (``__lprobe``), pops from
   the first one in argument order, or sends ``__watch`` to every shard:
   nothing runs on those shards in between, so no key is popped twice and no
   wake-up is lost.  A client's commands after a blocking one run once it is
   done, as in Valkey: the front holds back what was already parsed
   (``conn.deferred``) and leaves the rest of its input unparsed.
2. *Blocked.*  The client joins the FIFO queue of each of its keys (per
   database); its timeout is a front timer (sub-second, 0 = forever); its
   reply cell stays empty, so its later replies wait behind it.
3. *Ready.*  A write that creates a watched key (``Database.set`` of a new
   key: LPUSH, LMOVE's destination, RENAME, COPY, ...) records ``[db, key]``;
   the shard appends them to its reply message as the ``READY_RUN`` entry
   (``shardserver/wire.py``), which costs nothing when nobody waits.
4. *Serve.*  For a ready key the front takes the first waiter of its queue and
   sends it the non-blocking step for that key alone (``__try s ...``; for a
   BLMOVE whose destination is on another shard, a held pop-then-push).  A pop
   replies to the waiter, unblocks it (``__unwatch`` of all its keys) and
   serves the next waiter of the key; an empty key ends the round.  A key
   reported ready while a round is in flight gets another round.  One serve
   per key is in flight at a time: that is the FIFO order.
5. *Unblocked otherwise.*  Timeout (null array), CLIENT UNBLOCK (timeout or
   the UNBLOCKED error), disconnect, CLIENT KILL and RESET leave the queues
   and ``__unwatch`` the keys.  A serve already in flight is awaited first,
   so an element it popped is never dropped.  A restarted shard gets the
   watches back (``rewatch``).

Known differences from Valkey: a non-blocking LPOP from another client may
take an element between a push and the front's serve of a waiter (Valkey
serves waiters before the next command runs); a client served from one of
its keys is served from the key that became ready, not re-run over all its
keys in order; an element popped for a client that disconnects while its
serve is in flight is lost with the reply, as in Valkey when the connection
drops with the reply unsent.

The AOF sees what a waiter did as the non-blocking command the shard ran
(``ctx.rewrite``: LPOP/RPOP key [n], LMOVE ...), never as BLPOP.

Reusing it (sorted sets, streams)
---------------------------------

A blocking command is a ``Blocker``: the keys it waits on, its argv, its
timeout and timeout reply, ``step`` (the argv that serves it from one ready
key), and the names of its two shard commands, which follow this protocol:

- ``<try_cmd> <mode> <argv...>``: mode ``1`` = a client's attempt (pop, or
  watch every key and answer None -- or 1 when it skipped a key in
  ``ready_pending``); ``0`` = pop only (keys already probed under a hold);
  ``s`` = serve from the first key of ``step``'s argv (a key of another type
  counts as empty; None removes the key from ``ready_pending``).  The shard
  sets ``ctx.rewrite`` to the non-blocking form it ran.
- ``<probe_cmd> <key...>``: per key 0 missing, 1 servable, 2 another type,
  3 servable but waited on (``ready_pending``); used when keys span shards.

BZPOPMIN/BZPOPMAX/BZMPOP (``front/cross_zblock.py``) are a ``__ztry``/
``__zprobe`` pair (``shard/zset_cmds.py``) and a Blocker; creating a watched
key already signals it.  XREAD / XREADGROUP BLOCK (``front/stream_block.py``)
wait for *new entries* in a key that may exist: their attempt is their own
(``start_custom``: the non-blocking read under a hold, then ``__xwatch``,
which also resolves ``$``), XADD calls ``Database.signal_ready(key)`` (a
no-op unless the key is watched), deleting, overwriting or flushing a
watched stream and XGROUP DESTROY signal it too (blocked XREADGROUP clients
then get NOGROUP), and their try command ``__xtry`` answers None while
nothing newer than the client's ID is there.  Their Blocker is
``broadcast``: a serving round does not stop at a waiter that got nothing
(another reader behind it may get the same entries), and ``shape`` turns the
shard's RESP2-shaped value into the client's reply (a RESP3 map).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shardserver import errors, log, wire
from shardserver.errors import CommandError
from shardserver.numbers import LLONG_MAX, _round_ld, parse_long_double
from shardserver.resp import NULL_ARRAY, ErrorReply, encode
from shardserver.slots import key_slot

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front
    from shardserver.front.targets import Hold

Key = tuple[int, bytes]  # (db, key)


def parse_timeout(arg: bytes) -> float:
    """Seconds to wait (0 = forever), as Valkey: a long double, times 1000, rounded up to ms.

    In long double ``-0.001`` seconds is a hair above -1 ms, so it rounds up to
    0: block forever, as Valkey does.
    """
    try:
        value = parse_long_double(arg)
    except CommandError:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT) from None
    if isinstance(value, float):  # an infinity
        raise CommandError(errors.TIMEOUT_RANGE if value > 0 else errors.TIMEOUT_NEGATIVE)
    ms = _round_ld(value * 1000)
    if ms > LLONG_MAX:
        raise CommandError(errors.TIMEOUT_RANGE)
    ms_int = math.ceil(ms)
    if ms_int < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    return ms_int / 1000.0


@dataclass
class Blocker:
    """What the machinery needs to know about one blocking command."""

    keys: list[bytes]  # the keys it waits on, in argument order
    argv: list[bytes]  # the command as the client sent it (argv[0] canonical)
    timeout: float  # seconds, 0 = forever
    step: Callable[[bytes], list[bytes]]  # argv of the non-blocking step for one ready key
    timeout_reply: Any = NULL_ARRAY
    dst: bytes | None = None  # the destination of a move (BLMOVE, BRPOPLPUSH)
    move: tuple[bytes, bytes] | None = None  # (from, to) directions of a move
    try_cmd: bytes = b"__try"  # the shard's non-blocking step (see the module docstring)
    probe_cmd: bytes = b"__lprobe"  # the shard's per-key probe, for keys on several shards
    # a ready key is offered to every waiter in turn, not only until one finds it
    # empty (XREAD/XREADGROUP: entries are not consumed by every reader)
    broadcast: bool = False
    # the client's reply from a served value (the shard answers RESP2-shaped values)
    shape: Callable[[Any, bool], Any] | None = None
    # woken when a key is deleted, to answer an error (XREADGROUP: Valkey's unblock_on_nokey)
    on_nokey: bool = False


class Waiter:
    __slots__ = ("conn", "db", "blocker", "cell", "timer", "busy", "done", "expired", "seq")
    _seq = 0

    def __init__(self, conn: ClientConnection, db: int, blocker: Blocker, cell: list[Any]) -> None:
        Waiter._seq += 1
        self.seq = Waiter._seq  # blocking order, to continue a broadcast round after a waiter
        self.conn = conn
        self.db = db
        self.blocker = blocker
        self.cell = cell
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False  # a serve attempt for it is in flight
        self.done = False
        self.expired: Any = None  # the reply to give once a serve in flight comes back empty


class _Target:
    """An internal run whose single reply value goes to a callback, synchronously."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self.fn = fn

    def deliver(self, payload: list[Any]) -> None:
        self.fn(payload[0])

    def fail(self, text: str) -> None:
        self.fn(ErrorReply(text))


class Blocking:
    def __init__(self, front: Front) -> None:
        self.front = front
        self.queues: dict[Key, deque[Waiter]] = {}
        self.serving: set[Key] = set()
        self.again: set[Key] = set()
        self.waiters: dict[int, Waiter] = {}  # client id -> its waiter

    # -- helpers -------------------------------------------------------------
    def owner(self, key: bytes) -> int:
        return 0 if self.front.nshards == 1 else self.front.slot_owner[key_slot(key)]

    def send(self, shard: int, db: int, argv: list[bytes], fn: Callable[[Any], None]) -> None:
        """One internal command; ``fn`` gets its reply value as soon as the reply is read."""
        fr = self.front
        run_id = fr._next_run
        fr._next_run = run_id + 1
        item = [run_id, db, wire.INTERNAL, [argv], 0]
        fr._queue(fr.links[shard], item, _Target(fn))

    def fill(self, conn: ClientConnection, cell: list[Any], value: Any) -> None:
        """The blocking command's reply: written in order, then the client's next commands run."""
        cell[0] = encode(value, conn.resp3)
        fr = self.front
        fr.reply_ready(conn)
        stat, conn.block_stat = conn.block_stat, None
        if stat is not None and stat is not COUNT_AT_END:  # (the mark alone: not a command _timed ran)
            # an error of its own is a failed call; CLIENT UNBLOCK's error is counted by unblock
            fr.cmdstats.record(stat[0], stat[1], failed=isinstance(value, ErrorReply) and value.text != errors.UNBLOCKED)
        # counted now, not when dispatched: a blocked client's CLIENT LIST tot-cmds and
        # INFO's total_commands_processed include its command once it is done, as in Valkey
        conn.tot_cmds += 1
        fr.stats["total_commands_processed"] += 1
        if conn.closing:
            conn.blocked = False
        else:
            # still blocked until _resume: input that arrives meanwhile must wait behind
            # the commands held back (it ran ahead of them, and took their replies' places)
            fr.loop.call_soon(self._resume, conn)

    def _resume(self, conn: ClientConnection) -> None:
        """Run what the client sent after its blocking command (held back meanwhile)."""
        conn.blocked = False
        if conn.closing:
            return
        deferred, conn.deferred = conn.deferred, None
        if deferred is not None:
            routed, rest = deferred
            if routed:
                self.front.dispatch_routed(conn, rest)
            else:
                self.front.dispatch_each(conn, rest)
        if not conn.blocked:
            conn.process_input()
        conn.write_ready()

    def blocked_count(self) -> int:
        return len(self.waiters)

    def nokey_count(self) -> int:
        """Keys with a client blocked that a deletion unblocks (INFO's total_blocking_keys_on_nokey)."""
        return sum(1 for q in self.queues.values() if any(w.blocker.on_nokey for w in q))

    def timed_count(self) -> int:
        """Blocked clients with a timeout (INFO's clients_in_timeout_table)."""
        return sum(1 for w in self.waiters.values() if w.timer is not None)

    def is_blocked(self, conn: ClientConnection) -> bool:
        return conn.id in self.waiters

    # -- start -----------------------------------------------------------------
    def start(self, conn: ClientConnection, blocker: Blocker) -> Any:
        """Run a blocking command: its attempt now, then wait if nothing was there."""
        from shardserver.front.server import NO_REPLY

        cell: list[Any] = [None]
        conn.pending.append(cell)
        conn.blocked = True
        _count_at_end(conn, blocker)
        db = conn.db
        keys = blocker.keys
        shards = {self.owner(k) for k in keys}
        if len(shards) == 1:
            self.send(shards.pop(), db, [blocker.try_cmd, b"1"] + blocker.argv, lambda value: self._attempted(conn, db, blocker, cell, value))
        else:
            hold = self.front.hold(sorted(shards))  # taken now: commands sent after this one wait for it
            self.front.loop.create_task(self._attempt_across(conn, db, blocker, cell, hold))
        return NO_REPLY

    def start_move(self, conn: ClientConnection, blocker: Blocker) -> Any:
        """BLMOVE/BRPOPLPUSH whose destination is on another shard: a held move, or watch the source."""
        from shardserver.front.server import NO_REPLY

        cell: list[Any] = [None]
        conn.pending.append(cell)
        conn.blocked = True
        _count_at_end(conn, blocker)
        db = conn.db
        assert blocker.dst is not None and blocker.move is not None
        src = blocker.keys[0]
        work = move_across(self.front, db, src, blocker.dst, blocker.move[0], blocker.move[1], on_empty=lambda skipped: self._attempted(conn, db, blocker, cell, skipped))
        self.front.loop.create_task(self._attempt_move(conn, cell, work))
        return NO_REPLY

    def start_custom(self, conn: ClientConnection, attempt: Callable[[], Coroutine[Any, Any, Any]], blocker: Blocker) -> Any:
        """A blocking command with its own attempt (XREAD/XREADGROUP BLOCK).

        ``attempt`` runs the non-blocking command and returns its reply, or
        ``None`` when nothing was there and it watched ``blocker.keys`` (under
        the hold it took, so no wake-up is lost): the client then blocks.
        """
        from shardserver.front.server import NO_REPLY

        cell: list[Any] = [None]
        conn.pending.append(cell)
        conn.blocked = True
        _count_at_end(conn, blocker)
        db = conn.db

        async def run() -> None:
            try:
                value = await attempt()
            except CommandError as exc:
                value = ErrorReply(exc.text)
            except Exception as exc:  # keep the reply order: the cell must be filled
                log.warning(f"blocking attempt failed: {exc!r}")
                value = ErrorReply(f"ERR internal error: {exc}")
            self._attempted(conn, db, blocker, cell, value)

        self.front.loop.create_task(run())
        return NO_REPLY

    async def _attempt_move(self, conn: ClientConnection, cell: list[Any], work: Coroutine[Any, Any, Any]) -> None:
        try:
            value = await work
        except CommandError as exc:
            value = ErrorReply(exc.text)
        except Exception as exc:
            log.warning(f"blocking move failed: {exc!r}")
            value = ErrorReply(f"ERR internal error: {exc}")
        if value is not _BLOCKED:
            self.fill(conn, cell, value)

    def _attempted(self, conn: ClientConnection, db: int, blocker: Blocker, cell: list[Any], value: Any) -> None:
        """The attempt's reply: a value to send, or None / 1 (blocked; 1: a key was skipped)."""
        if value is not None and value != 1:
            self.fill(conn, cell, value)
            return
        if conn.closing or conn.transport is None:
            self._unwatch(db, blocker.keys)  # gone meanwhile: it never blocks, but the shard counted its watches
            return
        waiter = Waiter(conn, db, blocker, cell)
        self.waiters[conn.id] = waiter
        for key in blocker.keys:
            q = self.queues.get((db, key))
            if q is None:
                self.queues[(db, key)] = deque([waiter])
            else:
                q.append(waiter)
        if blocker.timeout > 0:
            waiter.timer = self.front.loop.call_later(blocker.timeout, self._timed_out, waiter)
        if value == 1:  # a key it skipped for the clients ahead of it holds data: give it a round
            for key in blocker.keys:
                self.serve((db, key))

    async def _attempt_across(self, conn: ClientConnection, db: int, blocker: Blocker, cell: list[Any], hold: Hold) -> None:
        """Keys on several shards: probe, then pop from the first list or watch, all under a hold."""
        fr = self.front
        keys = blocker.keys
        try:
            await hold.ready
            by_shard: dict[int, list[int]] = {}
            for i, key in enumerate(keys):
                by_shard.setdefault(self.owner(key), []).append(i)
            futures = {s: hold.call(s, db, [[blocker.probe_cmd] + [keys[i] for i in idx]]) for s, idx in by_shard.items()}
            state = [0] * len(keys)
            for s, idx in by_shard.items():
                reply = (await futures[s])[0]
                if isinstance(reply, ErrorReply):
                    self.fill(conn, cell, reply)
                    return
                for i, st in zip(idx, reply, strict=True):
                    state[i] = st
            for i, key in enumerate(keys):
                if state[i] == 2:
                    self.fill(conn, cell, ErrorReply(errors.WRONGTYPE))
                    return
                if state[i] == 1:
                    value = (await hold.call(self.owner(key), db, [[blocker.try_cmd, b"0"] + blocker.step(key)]))[0]
                    if value is not None:
                        self.fill(conn, cell, value)
                        return
            for s, idx in by_shard.items():
                hold.call(s, db, [[b"__watch"] + [keys[i] for i in idx]])
            self._attempted(conn, db, blocker, cell, 1 if 3 in state else None)
        except Exception as exc:  # keep the reply order: the cell must be filled
            log.warning(f"blocking attempt failed: {exc!r}")
            self.fill(conn, cell, ErrorReply(f"ERR internal error: {exc}"))
        finally:
            fr.release(hold)

    # -- wake-ups --------------------------------------------------------------
    def keys_ready(self, ready: list[list[Any]]) -> None:
        """A shard's READY_RUN: watched keys a write created."""
        for db, key in ready:
            k = (db, key)
            if k in self.queues:
                self.serve(k)

    def serve(self, k: Key) -> None:
        """Offer the key to its first waiter (one serve per key in flight)."""
        if k in self.serving:
            self.again.add(k)
            return
        q = self.queues.get(k)
        if not q:
            return
        waiter = next((w for w in q if not w.busy), None)
        if waiter is None:
            self.again.add(k)
            return
        self._serve_waiter(k, waiter)

    def _serve_waiter(self, k: Key, waiter: Waiter) -> None:
        db, key = k
        self.serving.add(k)
        waiter.busy = True
        blocker = waiter.blocker
        src_shard = self.owner(key)
        if blocker.dst is not None and self.owner(blocker.dst) != src_shard:
            assert blocker.dst is not None and blocker.move is not None
            work = move_across(self.front, db, key, blocker.dst, blocker.move[0], blocker.move[1], empty_ok=True)
            self.front.loop.create_task(self._move_across(waiter, k, work))
            return
        self.send(src_shard, db, [blocker.try_cmd, b"s"] + blocker.step(key), lambda value: self._served(waiter, k, value))

    async def _move_across(self, waiter: Waiter, k: Key, work: Coroutine[Any, Any, Any]) -> None:
        try:
            value = await work
        except CommandError as exc:
            value = ErrorReply(exc.text)
        except Exception as exc:
            log.warning(f"blocking move failed: {exc!r}")
            value = ErrorReply(f"ERR internal error: {exc}")
        self._served(waiter, k, value)

    def _served(self, waiter: Waiter, k: Key, value: Any) -> None:
        self.serving.discard(k)
        waiter.busy = False
        if isinstance(value, ErrorReply) and value.text.startswith("LOADING"):
            value = None  # the shard restarted: keep waiting (``rewatch`` re-arms its watches)
        if value is None:
            if waiter.expired is not None and not waiter.done:
                self._finish(waiter, waiter.expired)
            if k not in self.again:
                # nothing for this waiter; a waiter behind it of another kind (a stream
                # reader, or a list pop behind a sorted-set pop) may still get something
                q = self.queues.get(k)
                wide = waiter.blocker.broadcast
                kind = waiter.blocker.try_cmd
                nxt = None if not q else next((w for w in q if w.seq > waiter.seq and not w.busy and (wide or w.blocker.broadcast or w.blocker.try_cmd != kind)), None)
                if nxt is not None:
                    self.serving.add(k)
                    self._serve_waiter(k, nxt)
                    self._retry_others(waiter, k)
                    return
            if k in self.again:
                self.again.discard(k)
                self.serve(k)
            self._retry_others(waiter, k)
            return
        if not waiter.done:
            self._finish(waiter, value)
        self.serve(k)  # the key may hold more for the next waiter
        self._retry_others(waiter, k)

    def _retry_others(self, waiter: Waiter, k: Key) -> None:
        """Keys that were ready while this waiter was busy on ``k`` get their round now."""
        for key in waiter.blocker.keys:
            other = (waiter.db, key)
            if other != k and other in self.again and other not in self.serving:
                self.again.discard(other)
                self.serve(other)

    # -- unblocking --------------------------------------------------------------
    def _finish(self, waiter: Waiter, reply: Any) -> None:
        """Unblock ``waiter`` with ``reply`` (None: the connection is gone, no reply)."""
        if waiter.done:
            return
        waiter.done = True
        if waiter.timer is not None:
            waiter.timer.cancel()
        conn = waiter.conn
        if self.waiters.get(conn.id) is waiter:
            del self.waiters[conn.id]
        keys = waiter.blocker.keys
        for key in keys:
            k = (waiter.db, key)
            q = self.queues.get(k)
            if q is not None:
                try:
                    q.remove(waiter)
                except ValueError:
                    pass
                if not q:
                    del self.queues[k]
                    self.again.discard(k)
        self._unwatch(waiter.db, keys)
        if reply is not None:
            shape = waiter.blocker.shape
            if shape is not None and not isinstance(reply, ErrorReply):
                reply = shape(reply, conn.resp3)
            self.fill(conn, waiter.cell, reply)

    def rewatch(self, shard: int) -> None:
        """A restarted shard starts with no watches: give it those of the clients still blocked."""
        per_db: dict[int, list[bytes]] = {}
        for waiter in self.waiters.values():
            for key in waiter.blocker.keys:
                if self.owner(key) == shard:
                    per_db.setdefault(waiter.db, []).append(key)
        for db, keys in per_db.items():
            self.send(shard, db, [b"__watch"] + keys, lambda value: None)

    def _unwatch(self, db: int, keys: list[bytes]) -> None:
        by_shard: dict[int, list[bytes]] = {}
        for key in keys:
            by_shard.setdefault(self.owner(key), []).append(key)
        for shard, ks in by_shard.items():
            self.send(shard, db, [b"__unwatch"] + ks, lambda value: None)

    def _timed_out(self, waiter: Waiter) -> None:
        waiter.timer = None
        self._expire(waiter, waiter.blocker.timeout_reply)

    def _expire(self, waiter: Waiter, reply: Any) -> None:
        if waiter.done:
            return
        if waiter.busy:  # a serve is in flight: it may bring an element, which must not be lost
            waiter.expired = reply
            return
        self._finish(waiter, reply)

    def drop(self, conn: ClientConnection) -> None:
        """The client disconnected, was killed or RESET: it stops waiting."""
        conn.block_stat = None  # not counted: Valkey counts a blocked command only when it completes
        waiter = self.waiters.get(conn.id)
        if waiter is not None:
            self._finish(waiter, None)

    def unblock(self, client_id: int, error: bool) -> bool:
        """CLIENT UNBLOCK: as a timeout, or with the UNBLOCKED error."""
        waiter = self.waiters.get(client_id)
        if waiter is None or waiter.done:
            return False
        if error:  # Valkey counts the UNBLOCKED error as the command's rejected call
            name = waiter.blocker.argv[0].decode("latin-1").lower()
            self.front.cmdstats.reject(name, errors.UNBLOCKED)
            if not waiter.blocker.keys:  # WAIT, WAITAOF: Valkey also counts one more call
                self.front.cmdstats.record(name, 0)
        self._expire(waiter, ErrorReply(errors.UNBLOCKED) if error else waiter.blocker.timeout_reply)
        return True


_BLOCKED = object()

# conn.block_stat while a command that waits on keys starts: Front._timed then keeps its
# statistics for Blocking.fill instead of counting them (WAIT and WAITAOF, which wait on
# no key, Valkey counts when they are called, and so does _timed)
COUNT_AT_END = ("", 0)


def _count_at_end(conn: ClientConnection, blocker: Blocker) -> None:
    conn.block_stat = COUNT_AT_END if blocker.keys else None


def move_across(
    fr: Front,
    db: int,
    src: bytes,
    dst: bytes,
    wherefrom: bytes,
    whereto: bytes,
    empty_ok: bool = False,
    on_empty: Callable[[Any], None] | None = None,
) -> Coroutine[Any, Any, Any]:
    """LMOVE between two shards, under a hold on both: check, pop, push; never loses an element.

    The source is checked first (missing: None; another type: WRONGTYPE), then
    the destination's type, and only then is the element popped (logged as
    LPOP/RPOP on the source's shard) and pushed (LPUSH/RPUSH on the
    destination's).  ``empty_ok``: a source of another type counts as empty
    (a blocked client is not served from a key of another type).  A blocking
    attempt passes ``on_empty``: when the source is empty, or holds data that
    clients blocked before this one are about to get (probe state 3), the
    source is watched and ``on_empty`` runs, both under the hold, and the
    result is ``_BLOCKED``.
    """
    a, b = fr.slot_owner[key_slot(src)], fr.slot_owner[key_slot(dst)]
    hold = fr.hold([a, b])  # taken now, in arrival order; the steps run when it is granted
    return _move_steps(fr, hold, a, b, db, src, dst, wherefrom, whereto, empty_ok, on_empty)


async def _move_steps(
    fr: Front,
    hold: Hold,
    a: int,
    b: int,
    db: int,
    src: bytes,
    dst: bytes,
    wherefrom: bytes,
    whereto: bytes,
    empty_ok: bool,
    on_empty: Callable[[Any], None] | None,
) -> Any:
    try:
        await hold.ready
        probe_src = hold.call(a, db, [[b"__lprobe", src]])
        probe_dst = hold.call(b, db, [[b"__lprobe", dst]])
        s = (await probe_src)[0]
        d = (await probe_dst)[0]
        for v in (s, d):
            if isinstance(v, ErrorReply):
                raise CommandError(v.text)
        if empty_ok and s[0] in (0, 2):  # serving a blocked client: nothing for it, the round ends
            hold.call(a, db, [[b"__unpend", src]])
            return None
        if s[0] == 2:
            raise CommandError(errors.WRONGTYPE)
        if s[0] == 0 or (s[0] == 3 and on_empty is not None):
            if on_empty is None:
                return None
            hold.call(a, db, [[b"__watch", src]])
            on_empty(1 if s[0] == 3 else None)
            return _BLOCKED
        if d[0] == 2:
            raise CommandError(errors.WRONGTYPE)
        # read, then push and pop as one write across both shards (whole after a crash: Front.tx_send)
        peeked = (await hold.call(a, db, [[b"__lpeekmove", src, wherefrom]]))[0]
        if isinstance(peeked, ErrorReply):
            raise CommandError(peeked.text)
        if peeked is None:
            return None
        value, counted = peeked
        parts = [(b, db, [[b"__lpushval", dst, whereto, value, b"%d" % counted]]), (a, db, [[b"__lpopone", src, wherefrom]])]
        for values in await fr.tx_send(parts):
            if isinstance(values[0], ErrorReply):
                raise CommandError(values[0].text)
        return value
    finally:
        fr.release(hold)
