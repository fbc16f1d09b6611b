"""The front's C read/reply path (``front/_fastpath.c``) on stand-in objects.

A stand-in front, connection and shard links carry exactly the attributes the
C path reads and writes, so each test can check what it queued (runs, their
targets, reply cells), what it left to the Python twins (``conn.routed``), and
what reached the client's transport.  The integration and differential tests
cover the same path end to end (and its Python twins on the one-shard server).
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from typing import Any

import pytest

from shardserver import wire
from shardserver.front import connection
from shardserver.front.server import route_tables
from shardserver.front.targets import GroupTarget, RawSplit, ShardPart
from shardserver.resp import FastRequestParser, encode_command, interleave, merge_splits
from shardserver.slots import MAP_BYTES, SlotMap, key_slot

fastpath = connection.fastpath
pytestmark = pytest.mark.skipif(fastpath is None or FastRequestParser is None, reason="built without the C front path")

NAMES, FAST = route_tables()
# keys on shard 0 and shard 1 of two (shard 0 owns slots 0..8191)
K0 = next(b"k%d" % i for i in range(100) if key_slot(b"k%d" % i) < 8192)
K1 = next(b"k%d" % i for i in range(100) if key_slot(b"k%d" % i) >= 8192)


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class Link(connection.LinkBase):  # type: ignore[misc]
    def __init__(self) -> None:
        self.holder: Any = None
        self.lockq: deque[Any] = deque()
        self.up = True
        self.inflight: dict[int, Any] = {}
        self.out: list[list[Any]] = []


class Front(connection.FrontBase):  # type: ignore[misc]
    def __init__(self, nshards: int) -> None:
        self.pause_mode: str | None = None
        self.monitors: set[Any] = set()
        self._fast = FAST
        self._names = NAMES
        self.slotmap = SlotMap(bytearray(MAP_BYTES))
        self.slotmap.assign_even(nshards)
        self.nshards = nshards
        self.links = [Link() for _ in range(nshards)]
        self._dirty_links: set[Link] = set()
        self._dirty_conns: set[Any] = set()
        self._flush_scheduled = False
        self.flushes = 0
        self._next_run = 1
        self.stats = {"total_commands_processed": 0}
        self.query_buffer_limit = 1 << 20
        self.splits: list[tuple[Any, ...]] = []

    def _schedule_flush(self) -> None:
        self._flush_scheduled = True
        self.flushes += 1

    def _split_sent(self, conn: Any, names: list[bytes], orders: list[bytes], raws: list[bytes | None], took: int) -> None:
        self.splits.append((conn, names, orders, raws, took))

    def reply_ready(self, conn: Any) -> None:  # RawSplit.done's
        self._dirty_conns.add(conn)


class Conn(connection.ConnBase):  # type: ignore[misc]
    def __init__(self, front: Front) -> None:
        self.front = front
        self.closing = False
        self.blocked = False
        self.authenticated = True
        self.parser = FastRequestParser(512 * 1024 * 1024, 1 << 20)
        self.net_in = 0
        self.net_out = 0
        self.last_active = 0.0
        self.pending: deque[list[Any]] = deque()
        self.db = 3
        self.resp3 = False
        self.no_touch = False
        self.id = 42
        self.tot_cmds = 0
        self.last_cmd: Any = None
        self.transport = Transport()
        self.close_after_flush = False
        self.handed: list[tuple[list[Any], int, str | None]] = []

    def routed(self, items: list[Any], start: int, error: str | None) -> None:
        self.handed.append((items[start:], start, error))


def raw(*cmds: list[bytes]) -> bytes:
    return b"".join(encode_command(c) for c in cmds)


def test_one_shard_runs_are_queued_and_their_replies_written_in_order() -> None:
    front = Front(2)
    conn = Conn(front)
    data = raw([b"SET", K1, b"v"], [b"GET", K1])
    assert fastpath.receive(front, conn, data) is True
    assert conn.handed == [] and front.links[0].out == []
    [[run_id, db, flags, run, cid]] = front.links[1].out
    assert (run_id, db, flags, run, cid) == (1, 3, 0, data, 42)
    target = front.links[1].inflight[run_id]
    assert target[0] is conn and target[2] == 2 and list(conn.pending) == [target[1]] == [[None]]
    assert front._next_run == 2 and front.flushes == 1 and front._dirty_links == {front.links[1]}
    assert conn.net_in == len(data) and conn.tot_cmds == 2 and front.stats["total_commands_processed"] == 2
    assert conn.last_cmd is NAMES[b"get"] and conn.last_active > 0
    assert conn.transport.written == []  # nothing known yet
    # the shard's reply message
    dirty: set[Any] = set()
    fastpath.deliver([run_id, b"+OK\r\n$1\r\nv\r\n"], front.links[1].inflight, dirty, None)
    assert dirty == {conn} and front.links[1].inflight == {}
    fastpath.write_all(dirty)
    assert conn.transport.written == [b"+OK\r\n$1\r\nv\r\n"] and not conn.pending and conn.net_out == 12


def test_flags_follow_the_connection_and_ping_is_answered_in_place() -> None:
    front = Front(1)
    conn = Conn(front)
    conn.resp3 = conn.no_touch = True
    assert fastpath.receive(front, conn, raw([b"PING"], [b"PING"], [b"GET", b"a"], [b"PING"]))
    [[_, _, flags, _, _]] = front.links[0].out
    assert flags == wire.RESP3 | wire.NO_TOUCH
    assert conn.transport.written == [b"+PONG\r\n+PONG\r\n"]  # up to the GET, whose reply is not in
    assert len(conn.pending) == 2 and conn.tot_cmds == 4 and conn.last_cmd is NAMES[b"ping"]


def test_a_group_over_shards_is_merged_in_request_order() -> None:
    front = Front(2)
    conn = Conn(front)
    assert fastpath.receive(front, conn, raw([b"GET", K0], [b"GET", K1], [b"SET", K0, b"x"]))
    assert conn.handed == []
    (r0,) = front.links[0].out
    (r1,) = front.links[1].out
    assert r0[2] == r1[2] == wire.LENGTHS
    assert r0[3] == raw([b"GET", K0], [b"SET", K0, b"x"]) and r1[3] == raw([b"GET", K1])
    p0, p1 = front.links[0].inflight[r0[0]], front.links[1].inflight[r1[0]]
    assert type(p0) is type(p1) is ShardPart and p0.job is p1.job and (p0.shard, p1.shard) == (0, 1)
    group = p0.job
    assert type(group) is GroupTarget and group.conn is conn and group.order == b"\x00\x01\x00" and group.remaining == 2
    assert front.flushes == 1 and conn.tot_cmds == 3
    dirty: set[Any] = set()
    lengths = array("I", [5, 5]).tobytes()
    fastpath.deliver([r0[0], [b"$-1\r\n+OK\r\n", lengths]], front.links[0].inflight, dirty, None)
    assert dirty == set() and group.remaining == 1 and list(conn.pending) == [[None]]
    fastpath.deliver([r1[0], [b"$1\r\nb\r\n", array("I", [7]).tobytes()]], front.links[1].inflight, dirty, None)
    assert dirty == {conn}
    want = b"$-1\r\n$1\r\nb\r\n+OK\r\n"
    assert conn.pending[0] == [want] == [interleave(b"\x00\x01\x00", [(b"$-1\r\n+OK\r\n", lengths), (b"$1\r\nb\r\n", array("I", [7]).tobytes())])]


def test_a_command_split_over_shards_is_queued_and_merged_on_the_c_path() -> None:
    front = Front(2)
    conn = Conn(front)
    conn.resp3 = True
    assert fastpath.receive(front, conn, raw([b"MSET", K0, b"a", K1, b"b"], [b"mget", K1, K0, K1]))
    assert conn.handed == [] and conn.tot_cmds == 2 and conn.last_cmd is NAMES[b"mget"]
    (r0,) = front.links[0].out
    (r1,) = front.links[1].out
    assert r0[2] == r1[2] == wire.RESP3 | wire.LENGTHS | wire.SPLIT_PART
    assert r0[3] == raw([b"MSET", K0, b"a"], [b"mget", K0]) and r1[3] == raw([b"MSET", K1, b"b"], [b"mget", K1, K1])
    p0, p1 = front.links[0].inflight[r0[0]], front.links[1].inflight[r1[0]]
    assert type(p0) is type(p1) is ShardPart and p0.job is p1.job and (p0.shard, p1.shard) == (0, 1)
    job = p0.job
    assert type(job) is RawSplit and job.conn is conn and job.remaining == 2 and job.parts == [None, None]
    [(who, names, orders, raws, took)] = front.splits
    assert who is conn and names == [b"MSET", b"mget"] and orders == job.orders and raws == [r0[3], r1[3]] and took >= 0
    assert front.flushes == 1 and list(conn.pending) == [[None]]
    dirty: set[Any] = set()
    # each shard's part: its sub-MSET's +OK, then its sub-MGET's array
    part0 = (b"+OK\r\n*1\r\n$1\r\na\r\n", array("I", [5, 11]).tobytes())
    part1 = (b"+OK\r\n*2\r\n$1\r\nb\r\n$1\r\nb\r\n", array("I", [5, 18]).tobytes())
    fastpath.deliver([r1[0], list(part1)], front.links[1].inflight, dirty, None)
    assert dirty == set() and job.remaining == 1 and list(conn.pending) == [[None]]
    fastpath.deliver([r0[0], list(part0)], front.links[0].inflight, dirty, None)
    assert dirty == {conn} and front.links[0].inflight == front.links[1].inflight == {}
    assert conn.pending[0] == [b"+OK\r\n*3\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nb\r\n"]
    assert conn.pending[0][0] == merge_splits(job.merges, job.orders, [part0, part1])


def test_a_split_reply_of_an_unexpected_shape_becomes_an_error_reply() -> None:
    front = Front(2)
    conn = Conn(front)
    assert fastpath.receive(front, conn, raw([b"MGET", K0, K1]))
    (r0,) = front.links[0].out
    (r1,) = front.links[1].out
    dirty: set[Any] = set()
    fastpath.deliver([r0[0], [b"$1\r\na\r\n", array("I", [7]).tobytes()]], front.links[0].inflight, dirty, None)
    fastpath.deliver([r1[0], [b"+OK\r\n", array("I", [99]).tobytes()]], front.links[1].inflight, dirty, None)  # a length past the end
    assert conn.pending[0][0].startswith(b"-ERR internal error") and front._dirty_conns == {conn}


@pytest.mark.parametrize("why", ["holder", "down"])
def test_a_split_touching_a_shard_on_hold_or_down_goes_to_python(why: str) -> None:
    front = Front(2)
    conn = Conn(front)
    if why == "holder":
        front.links[1].holder = object()
    else:
        front.links[1].up = False
    assert fastpath.receive(front, conn, raw([b"GET", K0], [b"DEL", K0, K1], [b"GET", K0]))
    assert len(front.links[0].out) == 1 and front.links[1].out == [] and front.splits == []
    [(rest, start, _)] = conn.handed
    assert start == 1 and len(rest) == 2 and len(rest[0]) == 4 and rest[0][3] == [b"DEL"]
    assert conn.tot_cmds == 1 and len(conn.pending) == 1


def test_what_the_c_path_does_not_cover_goes_to_the_python_twin_in_place() -> None:
    front = Front(2)
    conn = Conn(front)
    assert fastpath.receive(front, conn, raw([b"GET", K1], [b"CONFIG", b"GET", b"port"], [b"GET", K1]))
    assert len(front.links[1].out) == 1  # the first GET only
    [(rest, start, error)] = conn.handed
    assert start == 1 and error is None and rest[0] == [b"CONFIG", b"GET", b"port"] and len(rest) == 2
    assert conn.tot_cmds == 1  # the rest is counted by the twin


@pytest.mark.parametrize("why", ["holder", "lockq", "down"])
def test_a_shard_on_hold_or_down_leaves_the_run_to_python(why: str) -> None:
    front = Front(2)
    conn = Conn(front)
    link = front.links[1]
    if why == "holder":
        link.holder = object()
    elif why == "lockq":
        link.lockq.append(object())
    else:
        link.up = False
    for data in (raw([b"GET", K1], [b"SET", K1, b"v"]), raw([b"GET", K0], [b"GET", K1])):  # a run there; a group touching it
        conn = Conn(front)
        assert fastpath.receive(front, conn, data)
        [(rest, start, _)] = conn.handed
        assert start == 0 and len(rest) == 1 and not conn.pending
        assert front.links[0].out == link.out == [] and front.links[0].inflight == link.inflight == {}
    conn = Conn(front)
    assert fastpath.receive(front, conn, raw([b"GET", K0]))  # the other shard is free
    assert conn.handed == [] and len(front.links[0].out) == 1


def test_ineligible_connections_are_not_touched() -> None:
    front = Front(1)
    for change in ("blocked", "unauthenticated", "monitor", "pause"):
        conn = Conn(front)
        if change == "blocked":
            conn.blocked = True
        elif change == "unauthenticated":
            conn.authenticated = False
        elif change == "monitor":
            front.monitors = {object()}
        else:
            front.monitors = set()
            front.pause_mode = "write"
        assert fastpath.receive(front, conn, raw([b"GET", b"a"])) is False
        assert conn.net_in == 0 and conn.parser.buffered() == 0 and not conn.pending and front.links[0].out == []
    closing = Conn(Front(1))
    closing.closing = True
    assert fastpath.receive(closing.front, closing, raw([b"GET", b"a"])) is True  # dropped, as the twin does
    assert closing.net_in == 0 and closing.parser.buffered() == 0


def test_protocol_errors_and_partial_commands() -> None:
    front = Front(1)
    conn = Conn(front)
    data = raw([b"GET", b"a"])
    assert fastpath.receive(front, conn, data[:7])
    assert front.links[0].out == [] and conn.handed == [] and not conn.pending
    assert fastpath.receive(front, conn, data[7:] + b"*1\r\n$x\r\n")
    assert len(front.links[0].out) == 1
    [(rest, start, error)] = conn.handed
    assert rest == [] and start == 1 and error is not None and error.startswith("ERR Protocol error")
    assert conn.parser.failed() is not None


def test_replies_for_a_closed_transport_or_a_closing_connection() -> None:
    front = Front(1)
    conn = Conn(front)
    conn.pending.extend([[b"+A\r\n"], [b"+B\r\n"], [None]])
    conn.close_after_flush = True
    fastpath.write_ready(conn)
    assert conn.transport.written == [b"+A\r\n+B\r\n"] and not conn.transport.closed  # a reply is still due
    conn.pending[0][0] = b"+C\r\n"
    fastpath.write_ready(conn)
    assert conn.transport.written[-1] == b"+C\r\n" and conn.transport.closed
    gone = Conn(front)
    gone.transport = None  # type: ignore[assignment]
    gone.pending.append([b"+X\r\n"])
    fastpath.write_ready(gone)
    assert not gone.pending and gone.net_out == 0


def test_special_runs_and_other_targets() -> None:
    seen: list[tuple[int, Any]] = []

    class Other:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def deliver(self, payload: Any) -> None:
            self.got.append(payload)

    other = Other()
    inflight: dict[int, Any] = {5: other}
    fastpath.deliver([wire.HELLO_RUN, [123], 5, [b"v"], 6, b"unknown run"], inflight, set(), lambda rid, p: seen.append((rid, p)))
    assert seen == [(wire.HELLO_RUN, [123])] and other.got == [[b"v"]] and inflight == {}


def test_monotonic_clock_matches_python() -> None:
    front = Front(1)
    conn = Conn(front)
    before = time.monotonic()
    fastpath.receive(front, conn, raw([b"GET", b"a"]))
    assert before <= conn.last_active <= time.monotonic()


def test_conn_base_fields_are_plain_attributes_to_python() -> None:
    front = Front(1)
    conn = Conn(front)
    conn.net_in += 5
    conn.tot_cmds = 7
    conn.last_active = 2.5
    conn.blocked = 1  # a flag takes any truth value, as a plain attribute would
    conn.db = 9
    assert (conn.net_in, conn.tot_cmds, conn.last_active, conn.blocked, conn.db) == (5, 7, 2.5, 1, 9)
    conn.transport = None
    assert conn.transport is None
    del conn.last_cmd
    with pytest.raises(AttributeError):
        _ = conn.last_cmd
    conn.extra = "x"  # other attributes live in the instance dict
    assert conn.extra == "x"
    with pytest.raises(TypeError):
        fastpath.receive(front, object(), raw([b"GET", b"a"]))


def test_data_received_takes_the_c_path_or_hands_the_bytes_to_process_data() -> None:
    front = Front(1)

    class Twin(Conn):
        def __init__(self, front: Front) -> None:
            super().__init__(front)
            self.slow: list[bytes] = []

        def process_data(self, data: bytes) -> None:
            self.slow.append(data)

    conn = Twin(front)
    conn.data_received(raw([b"GET", b"a"]))
    assert conn.slow == [] and len(front.links[0].out) == 1 and conn.net_in == len(raw([b"GET", b"a"]))
    conn.blocked = True  # not eligible now: the Python twin gets the bytes
    conn.data_received(b"*1\r\n$4\r\nPING\r\n")
    assert conn.slow == [b"*1\r\n$4\r\nPING\r\n"] and len(front.links[0].out) == 1


def test_a_cycle_through_conn_base_fields_is_collected() -> None:
    import gc
    import weakref

    front = Front(1)
    conn = Conn(front)
    conn.transport.owner = conn  # type: ignore[attr-defined]  # conn -> transport -> conn, as uvloop's protocol and transport
    conn.pending.append([conn])
    ref = weakref.ref(conn)
    del conn
    gc.collect()
    assert ref() is None


def test_front_and_link_bases_are_plain_attributes_and_required_by_the_c_path() -> None:
    import gc
    import weakref

    front = Front(2)
    front._next_run += 41
    front.query_buffer_limit = 10
    front.pause_mode = "write"
    assert (front._next_run, front.query_buffer_limit, front.pause_mode) == (42, 10, "write")
    front.pause_mode = None
    conn = Conn(front)
    assert fastpath.receive(front, conn, raw([b"GET", K0]))
    assert front._next_run == 43 and front.links[0].out[0][0] == 42
    link = front.links[1]
    link.back = front  # type: ignore[attr-defined]  # front -> links -> link -> front, as ShardLink.special does
    ref = weakref.ref(front)
    del front, link, conn
    gc.collect()
    assert ref() is None

    class Plain:
        pass

    other = Front(1)
    with pytest.raises(TypeError):
        fastpath.receive(Plain(), Conn(other), raw([b"GET", b"a"]))
    other.links = [Plain()]
    with pytest.raises(TypeError):
        fastpath.receive(other, Conn(other), raw([b"GET", b"a"]))


def test_buffer_peaks_keep_each_seconds_maximum_for_eight_seconds() -> None:
    from shardserver.front.connection import BufferPeaks

    p = BufferPeaks()
    assert (p.recent_max(0, 100.0), p.recent_max(1, 100.0)) == (0, 0)
    p.sample(100.2, 10, 500)
    p.sample(100.7, 30, 100)  # the same second: its maxima
    p.sample(103.1, 5, 900)
    assert (p.recent_max(0, 103.5), p.recent_max(1, 103.5)) == (30, 900)
    assert (p.recent_max(0, 107.9), p.recent_max(1, 107.9)) == (30, 900)  # second 100 is 7 seconds back
    assert (p.recent_max(0, 108.0), p.recent_max(1, 108.0)) == (5, 900)  # 8 seconds: it no longer counts
    p.sample(108.5, 1, 2)  # second 108 reuses second 100's slot: cleared first
    assert p.peaks[108 % 8] == [1, 2]
    assert (p.recent_max(0, 111.0), p.recent_max(1, 111.0)) == (1, 2)  # second 103 is 8 back
