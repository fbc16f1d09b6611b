"""Where a shard's reply goes when it is not one connection's run.

Ownership: the front owns these objects; each is the target of one internal
run (``Front.call``, ``Front.split``, a group of one connection's commands
spread over shards) or a hold on some shards for a cross-shard operation.
A target gets ``deliver(payload)`` with the shard's reply, or ``fail(text)``
when the shard died.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shardserver.errors import CommandError
from shardserver.resp import ErrorReply, encode, interleave, merge_splits

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


class Hold:
    """A cross-shard operation's claim on some shards, granted in arrival order."""

    def __init__(self, front: Front, shards: list[int]) -> None:
        self.front = front
        self.shards = sorted(set(shards))
        self.granted = 0
        self.ready: asyncio.Future[None] = front.loop.create_future()

    def grant(self) -> None:
        self.granted += 1
        if self.granted == len(self.shards) and not self.ready.done():
            self.ready.set_result(None)

    def call(self, shard: int, db: int, cmds: list[list[bytes]]) -> asyncio.Future[list[Any]]:
        """Run internal commands on a held shard; resolves to their reply values."""
        return self.front.call(shard, db, cmds, bypass=True)


class FutureTarget:
    """Target of an internal run: resolves an asyncio future with the values."""

    __slots__ = ("future", "n")

    def __init__(self, future: asyncio.Future[list[Any]], n: int) -> None:
        self.future = future
        self.n = n

    def deliver(self, payload: Any) -> None:
        if not self.future.done():
            self.future.set_result(payload)

    def fail(self, text: str) -> None:
        self.deliver([ErrorReply(text)] * self.n)


class ShardRuns:
    """One reply cell filled from several shards' runs, each answering with its joined
    replies and their lengths (``LENGTHS``): ``done`` fills the cell once all are in."""

    __slots__ = ("front", "conn", "cell", "parts", "remaining")

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], raws: list[bytes | None]) -> None:
        self.front = front
        self.conn = conn
        self.cell = cell
        self.parts: list[tuple[bytes, bytes] | None] = [None] * len(raws)
        # every part counted before any is sent: a shard that is down fails its part at once
        self.remaining = len(raws) - raws.count(None)

    def part_done(self, shard: int, part: tuple[bytes, bytes]) -> None:
        self.parts[shard] = part
        self.remaining -= 1
        if self.remaining == 0:
            self.done()

    def done(self) -> None:
        raise NotImplementedError

    def replies_of(self, shard: int) -> int:
        """How many replies ``shard``'s run holds (a failed run gets that many errors)."""
        raise NotImplementedError


class GroupTarget(ShardRuns):
    """A connection's commands spread over shards: replies merge in request order."""

    __slots__ = ("order",)

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], order: bytes, raws: list[bytes | None]) -> None:
        super().__init__(front, conn, cell, raws)
        self.order = order

    def done(self) -> None:
        self.cell[0] = interleave(self.order, self.parts)
        self.front._dirty_conns.add(self.conn)

    def replies_of(self, shard: int) -> int:
        return self.order.count(shard)


class RawSplit(ShardRuns):
    """Commands the C router split over shards (MGET, MSET, DEL...): each shard's run
    holds their sub-commands; the shards' replies become the clients' replies through
    ``merge_splits`` once all are in."""

    __slots__ = ("merges", "orders")

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], merges: bytes, orders: list[bytes], raws: list[bytes | None]) -> None:
        super().__init__(front, conn, cell, raws)
        self.merges = merges
        self.orders = orders

    def done(self) -> None:
        try:
            self.cell[0] = merge_splits(self.merges, self.orders, self.parts)
        except ValueError as exc:  # a shard's reply of an unexpected shape: a bug, not a crash
            self.cell[0] = encode(ErrorReply(f"ERR internal error: {exc}")) * len(self.orders)
        self.front.reply_ready(self.conn)

    def replies_of(self, shard: int) -> int:
        return sum(1 for order in self.orders if shard in order)  # its sub-commands in the run


class TxRawSplit(RawSplit):
    """A RawSplit of writes under an intent (``Front._close_split_tx``): tells the front
    when every part is answered, so the intent's file may go.  (Not a RawSplit to the
    C path's ``part_done``, so its parts come through ``ShardPart.deliver``.)"""

    __slots__ = ("tx_seq",)

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], merges: bytes, orders: list[bytes], raws: list[bytes | None]) -> None:
        super().__init__(front, conn, cell, merges, orders, raws)
        self.tx_seq = -1  # its intent's file, once written

    def done(self) -> None:
        super().done()
        if self.tx_seq >= 0:
            self.front.tx_answered(self.tx_seq)


class ShardPart:
    """The target of one shard's run of a ``ShardRuns``."""

    __slots__ = ("job", "shard")

    def __init__(self, job: ShardRuns, shard: int) -> None:
        self.job = job
        self.shard = shard

    def deliver(self, payload: list[bytes]) -> None:
        self.job.part_done(self.shard, (payload[0], payload[1]))

    def fail(self, text: str) -> None:
        err = encode(ErrorReply(text))
        n = self.job.replies_of(self.shard)
        self.job.part_done(self.shard, (err * n, array("I", [len(err)] * n).tobytes()))


class SplitJob:
    """One command split over shards; merges the parts' replies when all are in."""

    __slots__ = ("front", "conn", "cell", "values", "remaining", "merge")

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], n: int, merge: Callable[[list[Any]], Any]) -> None:
        self.front = front
        self.conn = conn
        self.cell = cell
        self.values: list[Any] = [None] * n
        self.remaining = n
        self.merge = merge

    def part_done(self, index: int, value: Any) -> None:
        self.values[index] = value
        self.remaining -= 1
        if self.remaining:
            return
        result: Any = next((v for v in self.values if isinstance(v, ErrorReply)), None)
        if result is None:
            try:
                result = self.merge(self.values)
            except CommandError as exc:
                result = ErrorReply(exc.text)
        self.cell[0] = encode(result, self.conn.resp3)
        self.front.reply_ready(self.conn)


class TxSplitJob(SplitJob):
    """A split write under an intent (``Front.split_write``): tells the front when its
    parts are all answered, so the intent's file may go."""

    __slots__ = ("seq",)

    def __init__(self, front: Front, conn: ClientConnection, cell: list[Any], n: int, merge: Callable[[list[Any]], Any], seq: int) -> None:
        super().__init__(front, conn, cell, n, merge)
        self.seq = seq

    def part_done(self, index: int, value: Any) -> None:
        super().part_done(index, value)
        if not self.remaining:
            self.front.tx_answered(self.seq)


class SplitPart:
    __slots__ = ("job", "index")

    def __init__(self, job: SplitJob, index: int) -> None:
        self.job = job
        self.index = index

    def deliver(self, payload: list[Any]) -> None:
        self.job.part_done(self.index, payload[0])

    def fail(self, text: str) -> None:
        self.job.part_done(self.index, ErrorReply(text))


class TxSplitPart(SplitPart):
    """A part tagged with its intent: the shard answers the ``__tx`` head first."""

    __slots__ = ()

    def deliver(self, payload: list[Any]) -> None:
        self.job.part_done(self.index, payload[-1])
