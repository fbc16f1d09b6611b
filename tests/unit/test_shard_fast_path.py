"""The shard's C fast path for GET, MGET, SET, MSET and INCR & co (``_speedups.run_raw_runs``,
replies joined by ``join_finals``) against the Python path.

The same forwarded runs go through a ShardWorker with the fast path and one
without; replies, keyspace, statistics, slow log and AOF records must match.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc.channel import Channel
from shardserver import wire
from shardserver.resp import encode_command
from shardserver.shard import worker as worker_mod
from shardserver.shard.worker import ShardWorker

pytestmark = pytest.mark.skipif(worker_mod.run_raw_runs is None, reason="built without the C helpers")


MODES = {  # what each harness turns off
    "batch": (),
    "python": ("run_raw_runs", "join_finals"),
}


class Harness:
    def __init__(self, tmp: Path, mode: str, aof: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.channel = Channel.create(0, capacity=1 << 20)
        settings: dict[str, Any] = {"dir": str(tmp), "appendonly": aof, "appendfsync": "no"}
        self.worker = ShardWorker(0, 1, self.channel, [(0, 16383)], settings)
        self.worker.load()
        self.replies: list[Any] = []
        self.worker.reply = lambda payload, ring=True: self.replies.append(wire.unpack(payload))  # type: ignore[method-assign]
        self.mode = mode
        self.monkeypatch = monkeypatch
        self.records: list[bytes] = []

    def run(self, db: int, flags: int, cmds: list[list[bytes]]) -> Any:
        return self.run_many([(db, flags, cmds, 9)])

    def run_many(self, runs: list[tuple[int, int, list[list[bytes]], int]]) -> Any:
        """One message of several runs (db, flags, commands, client id); its reply."""
        message = wire.pack([2**62, [[i + 1, db, flags, b"".join(encode_command(c) for c in cmds), cid] for i, (db, flags, cmds, cid) in enumerate(runs)]])
        with self.monkeypatch.context() as m:
            for name in MODES[self.mode]:
                m.setattr(worker_mod, name, None)
            writer = self.worker.persist.writer
            before = writer.size if writer is not None else 0
            self.worker.handle([message])
            if writer is not None:  # what this message wrote to the file (and what a failed write left buffered)
                with open(writer.path, "rb") as f:
                    f.seek(before)
                    self.records.append(f.read() + bytes(writer.buf))
        return self.replies.pop()

    def state(self) -> Any:
        def plain(v: Any) -> Any:
            return (type(v).__name__, bytes(v) if isinstance(v, bytes | bytearray) else v.state())

        def slots(index: Any) -> dict[int, list[bytes]]:
            return {slot: sorted(index.keys(slot)) for slot in index.slots()}

        dbs = [({k: plain(v) for k, v in db.data.items()}, db.expires, db.atime, slots(db.by_slot)) for db in self.worker.keyspace.dbs[:2]]
        stats = {name: (e[1] > 0, e[2], sum(e[4])) for name, e in self.worker.stats.commands.items()}
        return dbs, stats, self.worker.stats.errors, self.worker.keyspace.expired_keys

    def close(self) -> None:
        if self.worker.persist.writer is not None:
            self.worker.persist.close()
        self.channel.close()


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[tuple[Harness, Harness]]:
    aof = getattr(request, "param", False)
    (tmp_path / "fast").mkdir()
    (tmp_path / "slow").mkdir()
    fast = Harness(tmp_path / "fast", "batch", aof, monkeypatch)
    slow = Harness(tmp_path / "slow", "python", aof, monkeypatch)
    yield fast, slow
    fast.close()
    slow.close()


def _other(rnd: random.Random, k: bytes) -> list[bytes]:
    """A command of another type or family: run_raw_runs takes it through its handler."""
    return rnd.choice(
        [
            [b"DEL", k],
            [b"hset", k, b"f", b"v"],
            [b"HGET", k, b"f"],
            [b"SADD", k, b"m", b"7"],
            [b"ZADD", k, b"1.5", b"m"],
            [b"ZADD", k, b"nan", b"m"],  # an error reply
            [b"zrange", k, b"0", b"-1", b"WITHSCORES"],  # a list reply (RESP3: doubles)
            [b"LPOP", k],
            [b"TYPE", k],
            [b"TTL", k],
            [b"EXPIRE", k, b"100"],
            [b"HGETALL", k],  # a map in RESP3
            [b"LRANGE", k, b"0", b"-1"],  # bulk strings only: encoded in C
            [b"ZPOPMIN", k],  # mostly an empty array
            [b"OBJECT", b"ENCODING", k],
            [b"GETDEL", k],
            [b"NOSUCHCOMMAND", k],  # no handler: the Python loop's error
            [b"Hset", k, b"g", b"w"],  # an odd spelling: its statistics entry comes first from Python
        ]
    )


def _runs(seed: int) -> Iterator[tuple[int, int, list[list[bytes]]]]:
    rnd = random.Random(seed)
    keys = [b"k%d" % i for i in range(12)] + [b"{tag}x", b""]
    for _ in range(300):
        cmds = []
        for _ in range(rnd.randrange(1, 20)):
            k = rnd.choice(keys)
            x = rnd.random()
            if x < 0.25:
                cmds.append([rnd.choice([b"GET", b"get", b"Get"]), k])
            elif x < 0.3:  # a key named twice counts twice; an expired one is Python's
                cmds.append([rnd.choice([b"EXISTS", b"exists"]), *rnd.sample(keys, rnd.randrange(1, 4)), *([k] if rnd.random() < 0.3 else [])])
            elif x < 0.35:
                cmds.append([rnd.choice([b"MGET", b"mget"]), *rnd.sample(keys, rnd.randrange(1, 5))])
            elif x < 0.7:
                value = rnd.choice([b"v", b"", b"12", b"x" * 300, b"-3", b"9223372036854775806", b"-9223372036854775807", b"007", b"-0", b" 1"])
                cmds.append([rnd.choice([b"SET", b"set", b"sEt"]), k, value])
            elif x < 0.75:  # a relative TTL: expires soon or later, or a time Python refuses
                t = rnd.choice([b"1", b"2", b"100000", b"0", b"-5", b"x", b"01", b"9223372036854775807", b"9223372036854775"])
                unit = rnd.choice([b"PX", b"px", b"EX", b"ex", b"Ex", b"EXAT", b"KEEPTTL", b"NX"])
                cmds.append(rnd.choice([[rnd.choice([b"SET", b"set"]), k, b"v", unit, t], [rnd.choice([b"SETEX", b"setex", b"PSETEX", b"psetex"]), k, t, b"w"]]))
            elif x < 0.8:  # later, at once (the key goes: Python's), or a time Python refuses
                t = rnd.choice([b"0", b"1", b"50000", b"-3", b"100", b"9223372036854775", b"9223372036854776", b"-9223372036854775", b"-9223372036854776", b"9223372036854775807", b"-9223372036854775808", b"x"])
                cmds.append([rnd.choice([b"PEXPIRE", b"pexpire", b"EXPIRE", b"expire"]), k, t, *([b"NX"] if rnd.random() < 0.1 else [])])
            elif x < 0.81:
                cmds.append([rnd.choice([b"DEL", b"del", b"UNLINK", b"unlink"]), *rnd.sample(keys, rnd.randrange(1, 3)), *([k] if rnd.random() < 0.3 else [])])
            elif x < 0.82:
                cmds.append([rnd.choice([b"TTL", b"ttl", b"PTTL", b"pttl"]), k])
            elif x < 0.83:
                pairs = [x for _ in range(rnd.randrange(1, 4)) for x in (rnd.choice(keys), rnd.choice([b"m", b"7", b""]))]
                cmds.append([rnd.choice([b"MSET", b"mset"]), *pairs, *([k] if rnd.random() < 0.1 else [])])  # (an odd count: an error)
            elif x < 0.85:
                cmds.append([b"RPUSH", k, b"a"])  # another type: GET gets WRONGTYPE, SET replaces it
            elif x < 0.87:
                cmds.append([b"APPEND", k, b"z"])
            elif x < 0.9:
                cmds.append(_other(rnd, k))
            elif x < 0.95:
                name = rnd.choice([b"INCR", b"incr", b"DECR", b"decr", b"Incr"])
                cmds.append([name, k])
            else:
                name = rnd.choice([b"INCRBY", b"incrby", b"DECRBY", b"decrby"])
                by = rnd.choice([b"1", b"-5", b"0", b"9223372036854775807", b"-9223372036854775808", b"x", b"01", b"+1", b"-0"])
                cmds.append([name, k, by])
        flags = rnd.choice([0, wire.RESP3, wire.LENGTHS, wire.NO_TOUCH])
        yield rnd.randrange(2), flags, cmds


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_fast_path_matches_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    from shardserver.shard import keyspace

    fast, slow = pair
    now = [1_700_000_000.0]
    monkeypatch.setattr(keyspace.time, "time", lambda: now[0])  # both see the same clock: TTLs expire alike
    for db, flags, cmds in _runs(11):
        now[0] += 0.3  # the access times of reads differ from the writes' before
        got, want = fast.run(db, flags, cmds), slow.run(db, flags, cmds)
        assert got == want, cmds
        assert fast.state() == slow.state(), cmds  # a key's access time before the next write overwrites it
    assert fast.state() == slow.state()
    assert fast.records == slow.records
    assert (b"".join(fast.records) != b"") == (fast.worker.persist.writer is not None)
    for name in ("get", "mget", "set", "mset", "incr", "decrby", "setex", "psetex", "exists", "expire", "del", "ttl", "pttl"):  # the fast path counted its calls
        assert sum(fast.worker.stats.commands[name][4]) == sum(slow.worker.stats.commands[name][4]) > 0


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_messages_of_many_runs_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """Several runs per message, as the front sends them: databases, flags and clients
    change from run to run, and a run the C loop cannot finish hands over mid-run."""
    from shardserver.shard import keyspace

    fast, slow = pair
    monkeypatch.setattr(keyspace.time, "time", lambda: 1_700_000_000.0)
    rnd = random.Random(5)
    for h in (fast, slow):  # statistics entries for every spelling, so the fast path takes them
        h.run(0, 0, [[n, b"k0", b"1"] if n.lower() in (b"set", b"incrby", b"decrby") else [n, b"k0"] for n in (b"GET", b"get", b"Get", b"SET", b"set", b"sEt")])
    fast.worker.slowlog.slower_than = slow.worker.slowlog.slower_than = 0  # every command logged, with its client
    runs = list(_runs(12))
    for start in range(0, len(runs), 7):
        batch = [(db, flags, cmds, 100 + rnd.randrange(5)) for db, flags, cmds in runs[start : start + rnd.randrange(1, 8)]]
        assert fast.run_many(batch) == slow.run_many(batch), batch
    assert fast.state() == slow.state()
    assert fast.records == slow.records
    assert (b"".join(fast.records) != b"") == (fast.worker.persist.writer is not None)
    got = [(e[3], e[4]) for e in fast.worker.slowlog.entries]
    want = [(e[3], e[4]) for e in slow.worker.slowlog.entries]
    assert got == want and len(got) > 100  # the same commands, with the same client ids, in the same order


def test_fast_path_over_large_keyspaces(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path prefetches and finds stored keys through the dicts' internals (one, two
    and four byte index slots as a dict grows, deleted slots, a TTL dict once keys have one):
    the replies and state stay the Python path's."""
    from shardserver.shard import keyspace

    fast, slow = pair
    monkeypatch.setattr(keyspace.time, "time", lambda: 1_700_000_000.0)
    rnd = random.Random(4)
    filled = 0
    for size in (100, 6000, 50000):
        while filled < size:  # MSET runs of 16 new keys: the dicts grow through their index widths
            pairs = [x for i in range(filled, min(filled + 16, size)) for x in (b"key:%d" % i, b"%d" % i)]
            for h in (fast, slow):
                h.run(0, 0, [[b"MSET", *pairs]])
            filled = min(filled + 16, size)
        ttls = [[b"PEXPIRE", b"key:%d" % rnd.randrange(size), b"100000"] for _ in range(5)]
        for h in (fast, slow):
            h.run(0, 0, ttls)
        for _ in range(40):
            cmds: list[list[bytes]] = []
            for _ in range(rnd.randrange(1, 40)):
                k = b"key:%d" % rnd.randrange(size + size // 4)  # a fifth of them missing
                x = rnd.random()
                if x < 0.4:
                    cmds.append([b"GET", k])
                elif x < 0.7:
                    cmds.append([b"SET", k, b"v%d" % rnd.randrange(9)])
                elif x < 0.8:
                    cmds.append([b"INCR", k])
                elif x < 0.85:
                    cmds.append([b"MGET", k, b"key:%d" % rnd.randrange(size), b"nope"])
                elif x < 0.95:
                    cmds.append([b"MSET", k, b"1", b"key:%d" % rnd.randrange(size), b"2"])
                else:  # deleted slots the lookups probe past (and keys that come back)
                    cmds.append([b"DEL", k])
            assert fast.run(0, wire.LENGTHS, cmds) == slow.run(0, wire.LENGTHS, cmds), cmds
    assert fast.state() == slow.state()


def test_fast_path_runs_the_leading_gets_and_sets(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = pair
    fast.run(0, 0, [[b"SET", b"a", b"1"], [b"GET", b"a"]])  # creates the statistics entries
    taken: list[int] = []
    real = worker_mod.run_raw_runs

    def spy(*args: Any) -> Any:
        i, resume, done = real(*args[:-1], None)  # without the handlers' path: the fast commands alone
        taken.append(done)
        return i, resume, done

    monkeypatch.setattr(worker_mod, "run_raw_runs", spy)
    cmds = [[b"SET", b"a", b"2"], [b"GET", b"a"], [b"GET", b"missing"], [b"DEL", b"a"], [b"GET", b"a"]]
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == b"+OK\r\n$1\r\n2\r\n$-1\r\n:1\r\n$-1\r\n"
    assert taken == [3]  # DEL and what follows went the Python way
    fast.run(0, 0, [[b"INCR", b"n"], [b"DECR", b"n"], [b"INCRBY", b"n", b"1"], [b"DECRBY", b"n", b"1"]])  # statistics entries
    taken.clear()
    cmds = [[b"INCR", b"n"], [b"INCRBY", b"n", b"5"], [b"DECR", b"n"], [b"DECRBY", b"n", b"2"], [b"GET", b"n"], [b"INCRBY", b"n", b"x"], [b"INCR", b"n"]]
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == b":1\r\n:6\r\n:5\r\n:3\r\n$1\r\n3\r\n-ERR value is not an integer or out of range\r\n:4\r\n"
    assert taken == [5]  # the bad INCRBY (an error reply) and what follows went the Python way
    fast.run(0, 0, [[b"MSET", b"p", b"0"]])
    taken.clear()
    cmds = [[b"MSET", b"p", b"1", b"q", b"2", b"p", b"3"], [b"GET", b"p"], [b"MSET", b"p"], [b"GET", b"q"]]
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == b"+OK\r\n$1\r\n3\r\n-ERR wrong number of arguments for 'mset' command\r\n$1\r\n2\r\n"
    assert taken == [2]
    fast.run(0, 0, [[b"MGET", b"p"]])
    fast.run(0, 0, [[b"RPUSH", b"list", b"x"]])
    taken.clear()
    cmds = [[b"MGET", b"p", b"nope", b"list", b"q"], [b"PEXPIRE", b"q", b"1"]]
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == b"*4\r\n$1\r\n3\r\n$-1\r\n$-1\r\n$1\r\n2\r\n:1\r\n"
    assert fast.run(0, wire.LENGTHS | wire.RESP3, [[b"MGET", b"nope", b"p"]])[1][0] == b"*2\r\n_\r\n$1\r\n3\r\n"
    assert taken == [1, 1]


def test_slow_log_and_histogram_see_fast_path_commands(pair: tuple[Harness, Harness]) -> None:
    fast, _ = pair
    fast.run(0, 0, [[b"GET", b"a"]])
    fast.run(0, 0, [[b"MSET", b"c", b"1"]])
    fast.worker.slowlog.slower_than = 0  # log everything
    fast.run(0, 0, [[b"GET", b"a"], [b"SET", b"b", b"v"], [b"SET", b"b", b"w"], [b"MSET", b"c", b"2", b"d", b"3"]])
    entries = list(fast.worker.slowlog.entries)
    assert [e[3] for e in entries] == [[b"GET", b"a"], [b"SET", b"b", b"v"], [b"SET", b"b", b"w"], [b"MSET", b"c", b"2", b"d", b"3"]]
    assert sum(fast.worker.stats.commands["set"][4]) == 2 and sum(fast.worker.stats.commands["get"][4]) == 2


def test_the_c_loop_sums_each_command_into_its_statistics(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop adds a run's times when the name changes, before a handler, and at
    its end: calls (the histogram's sum) are exact, and the nanoseconds added agree
    with the buckets counted (bucket b holds times of b bits)."""
    fast, _ = pair
    taken = _count_c_commands(monkeypatch)
    fast.run(0, 0, [[b"GET", b"a"], [b"SET", b"a", b"1"], [b"set", b"a", b"1"], [b"TYPE", b"a"]])  # the entries
    commands = fast.worker.stats.commands
    before = {name: (commands[name][1], list(commands[name][4])) for name in ("get", "set", "type")}
    cmds = [[b"GET", b"a"]] * 5 + [[b"SET", b"a", b"2"]] * 3 + [[b"TYPE", b"a"]] + [[b"GET", b"a"]] * 4 + [[b"set", b"b", b"3"], [b"GET", b"b"]]
    fast.run(0, 0, cmds)
    assert taken[-1] == len(cmds)  # all in the C loop (TYPE through its handler)
    for name, calls in (("get", 10), ("set", 4), ("type", 1)):
        nanos, hist = commands[name][1] - before[name][0], [a - b for a, b in zip(commands[name][4], before[name][1], strict=True)]
        assert sum(hist) == calls, name
        low = sum(c << (b - 1) for b, c in enumerate(hist) if b)
        assert low <= nanos < sum(c << b for b, c in enumerate(hist)) + (hist[0] == calls), (name, nanos, hist)


def _count_c_commands(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, how many commands each run_raw_runs call ran (appended per call)."""
    taken: list[int] = []
    real = worker_mod.run_raw_runs

    def spy(*args: Any) -> Any:
        i, resume, done = real(*args)
        taken.append(done)
        return i, resume, done

    monkeypatch.setattr(worker_mod, "run_raw_runs", spy)
    return taken


def test_handlers_run_inside_the_c_loop(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """Other commands go through their handlers from run_raw_runs, which stops only where
    the Python loop must decide (a spelling without statistics entry yet, no handler)."""
    fast, slow = pair
    for h in (fast, slow):
        h.run(0, 0, [[b"LPUSH", b"l", b"a"], [b"HSET", b"h", b"f", b"v"], [b"ZADD", b"z", b"1", b"m"], [b"GET", b"l"]])
    taken = _count_c_commands(monkeypatch)
    cmds = [[b"LPUSH", b"l", b"b"], [b"HSET", b"h", b"f", b"w"], [b"ZADD", b"z", b"x", b"m"], [b"GET", b"l"], [b"ZADD", b"z", b"2", b"n"], [b"LPUSH", b"l", b"c"]]
    want = b":2\r\n:0\r\n-ERR value is not a valid float\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:1\r\n:3\r\n"
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == want
    assert taken == [6]
    assert slow.run(0, wire.LENGTHS, cmds)[1][0] == want
    taken.clear()
    fast.run(0, 0, [[b"LPUSH", b"l", b"d"], [b"lpusH", b"l", b"e"], [b"LPUSH", b"l", b"f"]])
    assert taken == [1]  # the new spelling and the rest of its run went the Python way (it creates its entry)
    fast.run(0, 0, [[b"lpusH", b"l", b"g"]])
    assert taken == [1, 1]  # now it has one
    assert fast.worker.stats.errors == slow.worker.stats.errors == {"ERR": 1, "WRONGTYPE": 2}  # (one GET in the set-up)
    assert fast.worker.stats.commands["zadd"][2] == 1 and fast.worker.stats.commands["get"][2] == 2


@pytest.mark.parametrize("flags", [0, wire.RESP3])
def test_list_replies_of_handlers_are_encoded_in_c_as_in_python(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch, flags: int) -> None:
    """A handler's reply that is a list of bulk strings (LRANGE, an empty pop) is encoded by
    the C loop itself; anything else in a list (nil, floats, nested lists) by the Python encoder."""
    fast, slow = pair
    cmds = [[b"RPUSH", b"l", b"a", b"", b"c"], [b"LRANGE", b"l", b"0", b"-1"], [b"LPOP", b"l", b"2"], [b"ZPOPMIN", b"nope"],
            [b"ZADD", b"z", b"1.5", b"m"], [b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"], [b"HSET", b"h", b"f", b"v"], [b"HKEYS", b"h"],
            [b"HMGET", b"h", b"f", b"nope"], [b"LRANGE", b"nope", b"0", b"-1"]]  # fmt: skip
    for h in (fast, slow):
        h.run(0, 0, cmds)  # statistics entries, so the C loop takes every one of them next
    taken = _count_c_commands(monkeypatch)
    got = fast.run(0, wire.LENGTHS | flags, cmds)
    assert taken == [len(cmds)]
    assert got == slow.run(0, wire.LENGTHS | flags, cmds)
    replies = got[1][0]
    # the first run left [c]: LRANGE sees c a "" c, LPOP 2 takes c a; then an empty pop, HKEYS, an empty range
    assert replies.startswith(b":4\r\n*4\r\n$1\r\nc\r\n$1\r\na\r\n$0\r\n\r\n$1\r\nc\r\n*2\r\n$1\r\nc\r\n$1\r\na\r\n*0\r\n")
    assert replies.endswith(b"*0\r\n") and b"*1\r\n$1\r\nf\r\n" in replies


def test_a_handler_that_fails_is_an_internal_error_as_in_python(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    from shardserver.shard import list_cmds

    fast, slow = pair
    logged: list[str] = []
    monkeypatch.setattr(worker_mod.log, "warning", logged.append)

    def broken(ctx: Any, argv: list[bytes]) -> Any:
        raise ZeroDivisionError("boom")

    for h in (fast, slow):  # (a command the C loop runs through its handler)
        h.run(0, 0, [[b"LINDEX", b"l", b"0"]])
        monkeypatch.setitem(h.worker.handlers, b"LINDEX", broken)
    cmds = [[b"LINDEX", b"l", b"0"], [b"LPUSH", b"l", b"a"]]
    want = b"-ERR internal error in shard 0: boom\r\n:1\r\n"
    assert fast.run(0, wire.LENGTHS, cmds)[1][0] == slow.run(0, wire.LENGTHS, cmds)[1][0] == want
    assert len(logged) == 2 and all("ZeroDivisionError" in text and "boom" in text for text in logged)
    assert "Traceback" in logged[0] and "broken" in logged[0]  # the C path's log has the handler's frame too
    assert fast.worker.stats.commands["lindex"][2] == slow.worker.stats.commands["lindex"][2] == 1
    assert list_cmds  # (the real handler is back after the test)


@pytest.mark.parametrize("pair", [True], indirect=True, ids=["aof-on"])
def test_handlers_keep_the_c_loop_on_the_aof_database_and_current_dicts(pair: tuple[Harness, Harness]) -> None:
    """A handler's write moves the AOF buffer to its database, and FLUSHDB replaces the
    dicts: the fast commands after them in the same call must see both."""
    fast, slow = pair
    for h in (fast, slow):
        h.run(0, 0, [[b"SET", b"w", b"0"], [b"HSET", b"h0", b"f", b"v"], [b"FLUSHDB"], [b"GET", b"w"]])  # statistics entries
    runs = [(0, 0, [[b"SET", b"a", b"1"]], 1), (1, 0, [[b"HSET", b"h", b"f", b"v"]], 1), (0, 0, [[b"SET", b"b", b"2"]], 1)]
    assert fast.run_many(runs) == slow.run_many(runs)
    assert fast.records == slow.records
    assert (b"".join(fast.records) != b"") == (fast.worker.persist.writer is not None)
    assert fast.records[-1].endswith(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n")
    cmds = [[b"SET", b"x", b"1"], [b"FLUSHDB"], [b"SET", b"y", b"2"], [b"GET", b"y"], [b"GET", b"x"]]
    assert fast.run(0, wire.LENGTHS, cmds) == slow.run(0, wire.LENGTHS, cmds)
    assert fast.state() == slow.state()
    assert fast.worker.keyspace.dbs[0].data == {b"y": b"2"}
    for h in (fast, slow):
        h.run(0, 0, [[b"SWAPDB", b"0", b"1"]])  # its statistics entry
    cmds = [[b"SET", b"z", b"3"], [b"SWAPDB", b"0", b"1"], [b"SET", b"after", b"4"], [b"GET", b"z"], [b"GET", b"after"]]
    assert fast.run(0, wire.LENGTHS, cmds) == slow.run(0, wire.LENGTHS, cmds)
    assert fast.state() == slow.state()
    assert b"after" in fast.worker.keyspace.dbs[0].data and b"z" in fast.worker.keyspace.dbs[1].data


@pytest.mark.parametrize("pair", [True], indirect=True, ids=["aof-on"])
def test_the_c_loop_appends_after_records_a_partial_write_left(pair: tuple[Harness, Harness]) -> None:
    """A write cut short leaves the buffer's tail with its start moved inside the
    allocation; the C loop's records must follow that tail, not overwrite it."""
    fast, slow = pair
    for h in (fast, slow):
        h.run(0, 0, [[b"SET", b"w", b"0"]])  # statistics entries
        writer = h.worker.persist.writer
        writer.buf = bytearray(b"#pad\r\n" * 1000)
        del writer.buf[-24:]  # room for 24 bytes after the end: fewer than the first SET's 27
        del writer.buf[:6]  # as AofWriter.write does after a partial write: a shifted start
        assert writer.buf.__alloc__() == 6001 and len(writer.buf) == 6000 - 30
    cmds = [[b"SET", b"a", b"1"], [b"SET", b"b", b"x" * 9000], [b"GET", b"a"]]
    assert len(encode_command(cmds[0])) == 27
    assert fast.run(0, 0, cmds) == slow.run(0, 0, cmds)
    assert fast.records == slow.records
    assert fast.records[-1] == b"#pad\r\n" * 995 + b"".join(encode_command(c) for c in cmds[:2])


@pytest.mark.parametrize("pair", [True], indirect=True, ids=["aof-on"])
def test_a_failed_aof_write_turns_handler_writes_into_misconf(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = pair
    cmds = [[b"LPUSH", b"l", b"a"], [b"LLEN", b"l"], [b"SET", b"s", b"1"], [b"SREM", b"t", b"m"], [b"SADD", b"t", b"m"], [b"SADD", b"t", b"m"]]
    for h in (fast, slow):
        h.run(0, 0, cmds)  # statistics entries
        monkeypatch.setattr(h.worker.persist, "commit", lambda: "No space left on device")
    got, want = fast.run(0, wire.LENGTHS, cmds), slow.run(0, wire.LENGTHS, cmds)
    assert got == want
    misconf = b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    # every write that logged a record; the second SADD changed nothing, so it logged nothing
    assert want[1][0] == misconf + b":2\r\n" + misconf * 3 + b":0\r\n"


@pytest.mark.parametrize("pair", [True], indirect=True, ids=["aof-on"])
def test_a_write_the_aof_cannot_log_is_an_internal_error_as_in_python(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = pair
    monkeypatch.setattr(worker_mod.log, "warning", lambda text: None)
    cmds = [[b"LPUSH", b"l", b"a"], [b"APPEND", b"s", b"m"], [b"SET", b"k", b"v"]]
    for h in (fast, slow):
        h.run(0, 0, cmds)  # statistics entries
        writer = h.worker.persist.writer
        real = writer.log

        def log(db: int, argv: list[bytes], records: Any, real: Any = real) -> bool:
            if argv[0] == b"APPEND":  # a write its Python handler runs (the C loop logs its own)
                raise TypeError("cannot log this")
            return bool(real(db, argv, records))

        monkeypatch.setattr(writer, "log", log)
    got, want = fast.run(0, wire.LENGTHS, cmds), slow.run(0, wire.LENGTHS, cmds)
    assert got == want
    assert want[1][0] == b":2\r\n-ERR internal error in shard 0: cannot log this\r\n+OK\r\n"
    assert fast.records == slow.records
    assert fast.worker.stats.commands["append"][2] == slow.worker.stats.commands["append"][2] == 1


def test_the_stored_key_hint_is_on_where_the_fast_path_reads_dict_internals() -> None:
    """On CPython 3.11 (which CI builds for) the import-time self-test must pass:
    the fast path then looks keys up by the stored object, not by a copy."""
    import sys

    from shardserver import _speedups

    assert _speedups.STORED_KEY_HINT == (1 if sys.version_info[:2] == (3, 11) else 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=3)), max_size=400), st.lists(st.binary(max_size=3), max_size=30))
def test_stored_key_finds_the_stored_object_or_nothing(ops: list[tuple[bool, bytes]], probes: list[bytes]) -> None:
    """Through inserts, deletions (dummy slots) and resizes: the very key object the dict
    holds for an equal key, and None for a key it does not hold."""
    from shardserver import _speedups

    d: dict[bytes, int] = {}
    for add, key in ops:
        if add:
            d.setdefault(bytes(bytearray(key)), 0)  # a fresh object: found only by equality
        else:
            d.pop(key, None)
    for key in [k for _, k in ops] + probes:
        found = _speedups.stored_key(d, bytes(bytearray(key)))
        if not _speedups.STORED_KEY_HINT:
            assert found is None
        elif key in d:
            assert found is next(k for k in d if k == key)
        else:
            assert found is None


def _messages(seed: int, prefix: bytes, step: Any) -> Iterator[tuple[int, int, list[list[bytes]]]]:
    """400 messages of 1-11 commands on four keys: mostly ``step(rnd, key)`` (the type's own
    commands), else what the C twins leave to Python around a value: another type (SET),
    DEL (new keys start in the small encoding), PEXPIRE (lazy expiry)."""
    rnd = random.Random(seed)
    keys = [prefix + b"%d" % i for i in range(4)]
    for _ in range(400):
        cmds = []
        for _ in range(rnd.randrange(1, 12)):
            k = rnd.choice(keys)
            x = rnd.random()
            if x < 0.02:
                cmds.append([b"SET", k, b"str"])  # WRONGTYPE for the type's commands after it
            elif x < 0.1:
                cmds.append([b"DEL", k])
            elif x < 0.12:
                cmds.append([b"PEXPIRE", k, b"%d" % rnd.choice([1, 100000])])
            else:
                cmds.append(step(rnd, k))
        yield rnd.randrange(2), rnd.choice([0, wire.RESP3, wire.NO_TOUCH]), cmds


def _run_alike(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch, steps: Any, cls: type | None, switch: Any = None, check_each: int = 0, tick: float = 0.0007) -> set[str]:
    """Each step through both harnesses (one clock, ``tick`` seconds on per step; one random
    state: SPOP picks alike), replies equal; ``switch(i)`` runs before step i; states
    compared after the first ``check_each`` steps and at the end, with the AOF records.
    The encodings of the ``cls`` values (if any) seen after each step."""
    from shardserver.shard import keyspace

    fast, slow = pair
    now = [1_700_000_000.0]
    monkeypatch.setattr(keyspace.time, "time", lambda: now[0])
    seen: set[str] = set()
    for i, (db, flags, cmds) in enumerate(steps):
        if switch is not None:
            switch(i)
        now[0] += tick
        state = random.getstate()
        got = fast.run(db, flags, cmds)
        random.setstate(state)
        assert got == slow.run(db, flags, cmds), cmds
        if i < check_each:
            assert fast.state() == slow.state(), cmds
        else:  # the access times at least: a read's before the next write overwrites it
            assert [d.atime for d in fast.worker.keyspace.dbs[:2]] == [d.atime for d in slow.worker.keyspace.dbs[:2]], cmds
        if cls is not None:
            seen.update(v.encoding() for d in fast.worker.keyspace.dbs[:2] for v in d.data.values() if isinstance(v, cls))
    assert fast.state() == slow.state()
    assert fast.records == slow.records
    return seen


def _list_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """LPUSH/RPUSH (the C loop's onto a live list) among the list commands that change the encoding."""
    x = rnd.random()
    if x < 0.7:
        values = []
        for _ in range(rnd.choice([1, 1, 1, 1, 1, 2, 5, 40])):
            y = rnd.random()
            sizes = [1, 3, 20, 100, 2000, 4000, 4100, 8000, 8200, 9000, 70000]
            values.append(b"%d" % rnd.randrange(-300000, 300000) if y < 0.3 else b"e" * rnd.choice(sizes) if y < 0.38 else b"v%d" % rnd.randrange(100))
        return [rnd.choice([b"LPUSH", b"lpush", b"RPUSH", b"rpush", b"Rpush"]), k, *values]
    if x < 0.85:
        return [rnd.choice([b"LPOP", b"RPOP"]), k, *([b"%d" % rnd.randrange(1, 30)] if rnd.random() < 0.5 else [])]
    if x < 0.9:
        return [b"LTRIM", k, b"%d" % rnd.randrange(0, 5), b"%d" % rnd.randrange(-5, 50)]
    if x < 0.92:
        return [b"LLEN", k]
    if x < 0.96:  # from the nearer end, past either end, empty, not integers (Python's error)
        index = [b"0", b"-1", b"1", b"-2", b"5", b"-7", b"99", b"-99", b"9223372036854775807", b"-9223372036854775808", b"01", b"x"]
        return [rnd.choice([b"LRANGE", b"lrange"]), k, rnd.choice(index), rnd.choice(index)]
    return [rnd.choice([b"LPUSH", b"RPUSH"]), k]  # wrong arity: Python's error


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
@pytest.mark.parametrize("fill", [-2, -1, -5, 0, 3, 128])
def test_list_pushes_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch, fill: int) -> None:
    """The C loop's LPUSH/RPUSH and LPOP/RPOP against ListValue.push and pop: replies, every
    list's items, byte counts and quicklist nodes, the AOF records; list-max-listpack-size
    changes midway (a quicklist keeps the fill it was made with)."""
    from shardserver.shard.types import list as list_mod

    fast = pair[0]
    saved = list_mod.FILL[0]
    list_mod.FILL[0] = fill
    names = [b"LPUSH", b"lpush", b"RPUSH", b"rpush", b"LPOP", b"lpop", b"RPOP", b"rpop"]
    edges = [  # a pop that leaves one small node (back to a listpack), or empties the list
        (1, 0, [[n, b"warm", b"v"] if n.lower().endswith(b"push") else [n, b"warm"] for n in names]),  # statistics entries first
        (0, 0, [[b"RPUSH", b"e", b"a", b"b"], [b"RPUSH", b"e", b"x" * 9000], [b"RPOP", b"e"]]),
        (0, 0, [[b"RPOP", b"e"], [b"LPOP", b"e"], [b"LPOP", b"e"]]),
        (0, 0, [[b"LPUSH", b"e", b"a", b"b"], [b"LPUSH", b"e", b"x" * 9000], [b"LPOP", b"e"]]),
        (0, 0, [[b"RPUSH", b"e", b"c"], [b"LPOP", b"e"]]),
        (0, 0, [[b"RPUSH", b"e", *[b"%d" % i for i in range(300)]], *[[b"RPOP", b"e"]] * 290]),
        # a node of 4011 bytes does not take 4175 more at 8 KB: quicklist's estimate adds 8
        (0, 0, [[b"RPUSH", b"q", b"x" * 9000], [b"RPUSH", b"q", b"y" * 4000], [b"RPUSH", b"q", b"z" * 4175]]),
    ]

    def switch(i: int) -> None:
        if i == 200:
            list_mod.FILL[0] = -2 if fill != -2 else 4  # both harnesses share the process's setting

    try:
        # a third of a second per step: the access times of reads (LRANGE) differ from the writes' before
        seen = _run_alike(pair, monkeypatch, [*edges, *_messages(fill + 40, b"l", _list_step)], list_mod.ListValue, switch, len(edges), tick=0.3)
    finally:
        list_mod.FILL[0] = saved
    assert seen == {"listpack", "quicklist"}
    assert sum(fast.worker.stats.commands["lpush"][4]) > 100 and sum(fast.worker.stats.commands["rpush"][4]) > 100


def _set_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """SADD (the C loop's onto a live hashtable or listpack set) among the set commands that
    remove members and change the encoding."""

    def member() -> bytes:
        y = rnd.random()
        if y < 0.25:
            return b"%d" % rnd.randrange(-1000, 1000)  # an intset member
        if y < 0.3:
            return b"m" * rnd.choice([64, 65, 200])  # at and past set-max-listpack-value
        return b"m%d" % rnd.randrange(300)

    x = rnd.random()
    if x < 0.68:
        return [rnd.choice([b"SADD", b"sadd", b"Sadd"]), k, *[member() for _ in range(rnd.choice([1, 1, 1, 2, 4, 40, 130]))]]
    if x < 0.82:
        return [b"SREM", k, *[member() for _ in range(rnd.choice([1, 5, 50]))]]
    if x < 0.9:
        return [b"SPOP", k, *([b"%d" % rnd.randrange(1, 20)] if rnd.random() < 0.5 else [])]
    if x < 0.94:
        return [rnd.choice([b"SISMEMBER", b"sismember"]), k, member()]  # (an intset's: Python's)
    return [b"SCARD", k] if x < 0.98 else [b"SADD", k]  # (wrong arity: Python's error)


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_set_adds_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop's SADD against SetValue.add: replies, every set's encoding and members in
    order, the AOF records (an SADD that adds nothing is not logged); the listpack limits
    lowered midway."""
    from shardserver.shard.types import set as set_mod

    saved = dict(set_mod.LIMITS)
    warm = [[n, b"warm", b"v"] for n in (b"SADD", b"sadd", b"Sadd")] + [[n, b"warm"] for n in (b"SPOP", b"spop")]  # statistics entries first

    def switch(i: int) -> None:
        if i == 250:
            set_mod.LIMITS.update({"set-max-listpack-entries": 5, "set-max-listpack-value": 3})

    pops = [  # SPOP from a hashtable: holes, trailing holes dropped, a compaction (holes past members)
        (0, 0, [[b"SADD", b"p", *[b"m%d" % i for i in range(200)]]]),
        (0, 0, [[b"SPOP", b"p"]] * 170),
        (0, 0, [[b"SPOP", b"p"]] * 31),  # the last member's pop deletes the key (Python's)
    ]
    try:
        seen = _run_alike(pair, monkeypatch, [(1, 0, warm), *pops, *_messages(3, b"s", _set_step)], set_mod.SetValue, switch, 1 + len(pops), tick=0.3)
    finally:
        set_mod.LIMITS.update(saved)
    assert seen == {"intset", "listpack", "hashtable"}
    assert sum(pair[0].worker.stats.commands["sadd"][4]) > 100
    assert _scanlists(pair[0]) == _scanlists(pair[1]) != []  # SPOP's holes and compactions alike


def _scanlists(h: Harness) -> list[Any]:
    """The hashtable sets' ScanLists: members with their holes, positions, hole count."""
    from shardserver.shard.types.set import SetValue

    return [(k, v.big.items, v.big.pos, v.big.holes) for db in h.worker.keyspace.dbs[:2] for k, v in sorted(db.data.items()) if type(v) is SetValue and v.big is not None]


def _hash_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """HSET (the C loop's onto a live hash without field TTLs) among the hash commands that
    remove fields, set field TTLs and change the encoding."""

    def word() -> bytes:
        return b"w" * rnd.choice([64, 65, 300]) if rnd.random() < 0.04 else b"f%d" % rnd.randrange(400)

    x = rnd.random()
    if x < 0.68:
        n = rnd.choice([1, 1, 1, 2, 3, 40, 200])
        return [rnd.choice([b"HSET", b"hset", b"Hset"]), k, *[w for _ in range(n) for w in (word(), word())]]
    if x < 0.74:  # counters: a field's integer, a new field, not an integer, an overflow
        by = rnd.choice([b"1", b"-5", b"100", b"9223372036854775807", b"-9223372036854775808", b"x"])
        return [rnd.choice([b"HINCRBY", b"hincrby"]), k, rnd.choice([b"c1", b"c2", word()]), by]
    if x < 0.8:
        return [b"HDEL", k, *[word() for _ in range(rnd.choice([1, 5, 60]))]]
    if x < 0.85:
        return [b"HPEXPIRE", k, b"%d" % rnd.choice([1, 100000]), b"FIELDS", b"1", word()]  # a TTL: Python's HSET from then
    if x < 0.88:
        return [b"HPERSIST", k, b"FIELDS", b"1", word()]
    if x < 0.9:
        return [b"HLEN", k]
    if x < 0.95:  # reads (the C loop's without field TTLs; RESP3 maps)
        if x < 0.92:
            return [rnd.choice([b"HGET", b"hget", b"HEXISTS", b"hexists"]), k, word()]
        if x < 0.93:  # fields repeated and missing
            return [rnd.choice([b"HMGET", b"hmget"]), k, *[word() for _ in range(rnd.choice([1, 3, 20]))]]
        return [rnd.choice([b"HGETALL", b"hgetall"]), k]
    return [b"HSET", k, b"f"] if x < 0.975 else [b"HSET", k, b"f", b"v", b"g"]  # arity errors: Python's


def _buckets(h: Harness) -> list[Any]:
    from shardserver.shard.types.hash import Hash

    return [(k, v.buckets.bits, v.buckets.n, v.buckets.table) for db in h.worker.keyspace.dbs[:2] for k, v in sorted(db.data.items()) if type(v) is Hash and v.buckets is not None]


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_hash_sets_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop's HSET against Hash.set: replies, fields in order, HSCAN's buckets (and
    their resizes), field TTLs, the AOF records; the listpack limits lowered midway, and
    first at 6 entries the 6th field stays in the listpack, the 7th converts it."""
    from shardserver.shard.types import hash as hash_mod

    fast, slow = pair
    saved = dict(hash_mod.LIMITS)
    warm = [[n, b"warm", b"f", b"v"] for n in (b"HSET", b"hset", b"Hset")] + [[n, b"warm", b"f"] for n in (b"HGET", b"hget", b"HMGET", b"hmget")] + [[n, b"warm"] for n in (b"HGETALL", b"hgetall")]
    fields = [b"f%d" % i for i in range(8)]
    edges = [
        (0, 0, warm),
        (0, 0, [[b"HSET", b"e", *[w for f in fields[:5] for w in (f, b"v")]]]),
        (0, 0, [[b"HSET", b"e", fields[5], b"v", fields[0], b"w"]]),
        (0, 0, [[b"HSET", b"e", fields[0], b"x", fields[6], b"v"]]),
        (0, 0, [[b"HSET", b"e2", b"a", b"v"], [b"HSET", b"e2", b"b", b"vvvvv"]]),  # a long value converts
        (0, 0, [[b"HSET", b"big", b"x", b"long value"], *[[b"HSET", b"big", b"g%d" % i, b"v"] for i in range(300)]]),  # buckets resized
        *[(0, 0, [[b"HLEN", b"other"]])] * 4,
        (0, wire.RESP3, [[b"HGET", b"e2", b"a"], [b"HGETALL", b"big"], [b"HGETALL", b"nosuch"], [b"HGET", b"nosuch", b"a"]]),  # reads record their access
        *[(0, flags, [[b"HMGET", b"e2", b"a", b"zz", b"a"], [b"HMGET", b"nosuch", b"a", b"b"]]) for flags in (0, wire.RESP3)],
    ]

    def switch(i: int) -> None:
        if i == len(edges):
            assert fast.worker.keyspace.dbs[0].data[b"e"].encoding() == "hashtable"
            hash_mod.LIMITS.update(saved)
        elif i == len(edges) + 250:
            hash_mod.LIMITS.update(entries=6, value=4)

    hash_mod.LIMITS.update(entries=6, value=4)
    try:
        # HINCRBY's edges: a listpack the lowered limits convert (more fields than allowed, a
        # longer value), and a hash with a field TTL (Python logs the result as HSET)
        setup = [(0, 0, [[b"HSET", b"lp8", *[w for i in range(8) for w in (b"f%d" % i, b"1")]], [b"HSET", b"cnt", b"c", b"1"], [b"HSET", b"vt", b"x", b"1", b"c", b"1"]])]
        last = [
            (0, 0, [[b"HPEXPIRE", b"vt", b"100000", b"FIELDS", b"1", b"x"], [b"HINCRBY", b"vt", b"c", b"5"], [b"HINCRBY", b"lp8", b"f1", b"1"], [b"HINCRBY", b"cnt", b"c", b"99999"]]),
            (0, 0, [[b"HSET", b"vt2", b"a", b"1", b"b", b"2"], [b"HPEXPIRE", b"vt2", b"1", b"FIELDS", b"1", b"a"]]),
            (0, 0, [[b"HMGET", b"vt2", b"a", b"b"], [b"HGET", b"vt2", b"a"]]),  # a field expired, not yet reclaimed: null
        ]
        seen = _run_alike(pair, monkeypatch, [*edges, *setup, *_messages(9, b"h", _hash_step), *last], hash_mod.Hash, switch, len(edges), tick=0.3)
    finally:
        hash_mod.LIMITS.update(saved)
    assert _buckets(fast) == _buckets(slow) != []
    assert seen == {"listpack", "hashtable"}
    assert sum(fast.worker.stats.commands["hset"][4]) > 100


def _zset_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """ZADD of one member and ZPOPMIN/ZPOPMAX of one (the C loop's on a live sorted set) among
    the sorted set commands that move, remove, count, build the rank tree and convert."""

    def score() -> bytes:
        return rnd.choice([b"0", b"1", b"-0", b"2.5", b"-3", b"007", b"0.1", b"1e2", b"inf", b"-inf", b"+4", b"1.", b".5", b"nan", b"x"])

    def member() -> bytes:
        return b"z" * rnd.choice([64, 65]) if rnd.random() < 0.03 else b"m%d" % rnd.randrange(900)

    x = rnd.random()
    if x < 0.55:
        return [rnd.choice([b"ZADD", b"zadd", b"Zadd"]), k, score(), member()]
    if x < 0.6:
        return [b"ZADD", k, *[w for _ in range(rnd.choice([2, 50, 300])) for w in (score(), member())]]
    if x < 0.63:
        return [b"ZADD", k, rnd.choice([b"NX", b"XX", b"GT", b"CH"]), score(), member()]
    if x < 0.78:
        return [rnd.choice([b"ZPOPMIN", b"zpopmin", b"ZPOPMAX", b"zpopmax"]), k, *([b"%d" % rnd.randrange(0, 40)] if rnd.random() < 0.2 else [])]
    if x < 0.84:
        return [b"ZREM", k, *[member() for _ in range(rnd.choice([1, 5, 200]))]]
    if x < 0.9:  # rank queries build the Fenwick tree the C twins keep up to date
        return [b"ZRANK", k, member()] if x < 0.87 else [b"ZRANGE", k, b"%d" % rnd.randrange(-50, 50), b"-1"]
    if x < 0.94:
        return [b"ZINCRBY", k, score(), member()]
    if x < 0.96:
        return [rnd.choice([b"ZSCORE", b"zscore"]), k, member()]  # RESP3: a double
    return [b"ZCARD", k] if x < 0.99 else [b"ZADD", k, b"1"]  # (wrong arity: Python's error)


def _zsets(h: Harness) -> list[Any]:
    """The sorted sets' whole structure: blocks, scores side by side, maxes, rank tree, size,
    steps, the skiplist's ScanList (each index checked)."""
    from shardserver.shard.types.zset import ZSetValue

    out = []
    for db in h.worker.keyspace.dbs[:2]:
        for k, v in sorted(db.data.items()):
            if type(v) is ZSetValue:
                r = v.index
                r.check()
                sl = v.scan_list
                out.append((k, v.enc, v.scores, r.blocks, [list(b) for b in r.bscores], r.maxes, list(r.mscores), r.tree, r.size, r.steps, sl and (sl.items, sl.pos, sl.holes)))
    return out


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_zset_adds_and_pops_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop's ZADD of one member and ZPOPMIN/ZPOPMAX of one against ZSetValue.insert and
    pop_one: replies (RESP2 and RESP3 doubles), scores, the RankedList's blocks, side arrays,
    rank tree and step count, the skiplist's ScanList with its holes and compactions, the AOF
    records (a ZADD of the same score is not logged); the listpack limits lowered midway."""
    from shardserver.shard.types import zset as zset_mod

    fast, slow = pair
    saved = dict(zset_mod.LIMITS)
    names = [b"ZADD", b"zadd", b"Zadd", b"ZPOPMIN", b"zpopmin", b"ZPOPMAX", b"zpopmax"]
    warm = [[n, b"warm", b"1", b"v"] if b"add" in n.lower() else [n, b"warm"] for n in names]  # statistics entries first
    many = [w for i in range(1100) for w in (b"%d" % (i % 7), b"b%d" % i)]
    edges = [
        (1, 0, warm),
        (0, 0, [[b"ZADD", b"big", *many], [b"ZRANK", b"big", b"b5"]]),  # blocks of 256, the tree built
        (0, 0, [[b"ZADD", b"big", b"3", b"n%d" % i] for i in range(300)]),  # into a middle block until it splits
        (0, 0, [[b"ZADD", b"big", b"9", b"t%d" % i] for i in range(300)]),  # past the last item: appended, maxes moved
        (0, 0, [[b"ZADD", b"big", b"-0", b"t1"], [b"ZADD", b"big", b"9", b"t1"], [b"ZADD", b"big", b"9.0", b"t2"]]),
        (0, wire.RESP3, [[b"ZPOPMIN", b"big"]] * 300 + [[b"ZPOPMAX", b"big"]] * 300),  # end blocks emptied (Python's), holes compacted
        (0, 0, [[b"ZADD", b"small", b"1", b"a"], [b"ZADD", b"small", b"-0", b"b"], [b"ZADD", b"small", b"2", b"c"], [b"ZPOPMAX", b"small"]] + [[b"ZPOPMIN", b"small"]] * 3),
        (0, 0, [[b"ZPOPMIN", b"nosuch"], [b"ZPOPMAX", b"nosuch"], [b"ZADD", b"nosuch", b"1", b"a"]]),
        *[(0, flags, [[b"ZSCORE", b"big", b"b999"], [b"ZSCORE", b"big", b"t7"], [b"ZSCORE", b"nosuch", b"a"], [b"ZSCORE", b"nosuch", b"zz"]]) for flags in (0, wire.RESP3)],
    ]

    def moves() -> Iterator[tuple[int, int, list[list[bytes]]]]:
        """New scores that move members between blocks while the rank tree is built: out of
        the last block until it merges, into the first until it splits, and back."""
        yield 0, 0, [[b"ZADD", b"mv", *[w for i in range(700) for w in (b"5", b"m%03d" % i)]], [b"ZRANK", b"mv", b"m001"]]
        for score, end in ((b"1", -1), (b"9", 0), (b"1", -1)):
            index = fast.worker.keyspace.dbs[0].data[b"mv"].index
            assert index.tree is not None or end == -1
            yield 0, 0, [[b"ZADD", b"mv", score, m] for _, m in index.blocks[end]] + [[b"ZRANK", b"mv", b"m002"]]

    def switch(i: int) -> None:
        if i == len(edges):
            assert fast.worker.keyspace.dbs[0].data[b"big"].encoding() == "skiplist"
            assert _zsets(fast) == _zsets(slow)
        elif i == len(edges) + 254:
            zset_mod.LIMITS.update({"zset-max-listpack-entries": 5, "zset-max-listpack-value": 3})

    try:
        steps = itertools.chain(edges, moves(), _messages(21, b"z", _zset_step))  # lazily: moves() reads the state it reaches
        seen = _run_alike(pair, monkeypatch, steps, zset_mod.ZSetValue, switch, len(edges) + 4, tick=0.3)
    finally:
        zset_mod.LIMITS.update(saved)
    assert _zsets(fast) == _zsets(slow) != []
    assert seen == {"listpack", "skiplist"}
    for name in (b"zadd", b"zpopmin", b"zpopmax"):
        assert sum(fast.worker.stats.commands[name.decode()][4]) > 100


def _stream_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """XADD key * f v... (the C loop's onto a live stream's last node) among the stream commands
    that pass explicit and exhausted IDs, trim, delete entries and add groups."""

    def fields() -> list[bytes]:
        n = rnd.choice([1, 1, 1, 2, 3])
        names = [b"f", b"g", b"h"] if rnd.random() < 0.8 else [b"x%d" % rnd.randrange(5) for _ in range(3)]
        value = [b"v", b"%d" % rnd.randrange(-70000, 70000), b"w" * rnd.choice([1, 70, 300, 5000])]
        return [w for i in range(n) for w in (names[i], rnd.choice(value))]

    x = rnd.random()
    if x < 0.6:
        return [rnd.choice([b"XADD", b"xadd", b"Xadd"]), k, b"*", *fields()]
    if x < 0.66:
        ms = rnd.choice([b"1", b"99999999999999", b"18446744073709551615"])
        return [b"XADD", k, ms + rnd.choice([b"-*", b"-18446744073709551615", b"-5"]), *fields()]
    if x < 0.7:
        return [b"XADD", k, rnd.choice([b"MAXLEN", b"NOMKSTREAM"]), *([b"~", b"%d" % rnd.randrange(50)] if x < 0.68 else []), b"*", *fields()]
    if x < 0.78:
        return [b"XDEL", k, *[b"%d-%d" % (1_700_000_000_000 + rnd.randrange(400), rnd.randrange(8)) for _ in range(rnd.choice([1, 20]))], b"0-1"]
    if x < 0.82:
        return [b"XTRIM", k, b"MAXLEN", b"%d" % rnd.randrange(30)]
    if x < 0.85:
        return [b"XGROUP", b"CREATE", k, b"g%d" % rnd.randrange(3), b"$", b"MKSTREAM"]
    if x < 0.93:
        return [b"XLEN", k] if x < 0.89 else [b"XRANGE", k, b"-", b"+", b"COUNT", b"3"]
    return [b"XADD", k, b"*", b"f"] if x < 0.97 else [b"XADD", k, b"*"]  # arity errors: Python's


def _streams(h: Harness) -> list[Any]:
    """The streams' whole structure: every node's fields and the stream's counters."""
    from shardserver.shard.types.stream import Stream

    def node(n: Any) -> tuple[Any, ...]:
        return (n.key, n.key_ms, n.key_seq, n.last, n.ids, n.entries, n.used, n.master, n.body_bytes, n.lp_bytes())

    return [
        (k, s.keys, [node(n) for n in s.nodes], s.length, s.last_id, s.first_id, s.max_deleted, s.entries_added, s._rax_nodes, sorted(s.groups or ()))
        for db in h.worker.keyspace.dbs[:2]
        for k, s in sorted(db.data.items())
        if type(s) is Stream
    ]


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_stream_adds_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop's XADD key * f v... against Stream.append: replies (the auto IDs), every
    node's IDs, entries and listpack byte count, the stream's counters, the AOF records
    (logged with the ID); the node limits lowered midway, and IDs whose sequence or whole
    range is exhausted."""
    from shardserver.shard.types import stream as stream_mod

    fast, slow = pair
    saved = dict(stream_mod.LIMITS)
    warm = [[n, b"warm", b"*", b"f", b"v"] for n in (b"XADD", b"xadd", b"Xadd")]
    edges = [
        (1, 0, warm),
        (0, 0, [[b"XADD", b"e", b"*", b"f", b"1", b"g", b"2"], *[[b"XADD", b"e", b"*", b"f", b"%d" % i, b"g", b"v"] for i in range(150)]]),  # a new node at 100
        (0, 0, [[b"XADD", b"e", b"*", b"other", b"x"]] * 3),  # fields not the master's
        (0, 0, [[b"XADD", b"e", b"99999999999999-18446744073709551614", b"f", b"v"], [b"XADD", b"e", b"*", b"f", b"v"], [b"XADD", b"e", b"*", b"f", b"v"]]),  # seq, then ms, carried
        (0, 0, [[b"XADD", b"x", b"18446744073709551615-18446744073709551614", b"f", b"v"], [b"XADD", b"x", b"*", b"f", b"v"], [b"XADD", b"x", b"*", b"f", b"v"]]),  # exhausted
        (0, 0, [[b"XADD", b"d", b"*", b"f", b"v"], [b"XADD", b"d", b"*", b"f", b"v"], [b"XTRIM", b"d", b"MAXLEN", b"0"], [b"XADD", b"d", b"*", b"f", b"v"]]),  # first_id again
        (0, wire.RESP3, [[b"XADD", b"e", b"*", b"f", b"w" * 5000], [b"XADD", b"e", b"*", b"f", b"v"]]),  # a node full by bytes
    ]

    def boundary() -> Iterator[tuple[int, int, list[list[bytes]]]]:
        """An entry that brings the last node (with a deleted entry) exactly to
        stream-node-max-bytes: it starts a new node."""
        last = fast.worker.keyspace.dbs[0].data[b"e"].nodes[-1]
        yield 0, 0, [[b"XDEL", b"e", stream_mod.fmt_id(last.ids[0])]]
        stream_mod.LIMITS["stream-node-max-bytes"] = last.lp_bytes() + 11  # + len(b"f") + len(the value)
        yield 0, 0, [[b"XADD", b"e", b"*", b"f", b"x" * 10], [b"XADD", b"e", b"*", b"f", b"v"]]
        assert fast.worker.keyspace.dbs[0].data[b"e"].nodes[-1] is not last
        stream_mod.LIMITS.update(saved)

    def switch(i: int) -> None:
        if i == len(edges) + 2:
            assert _streams(fast) == _streams(slow)
        elif i == len(edges) + 200:
            stream_mod.LIMITS.update({"stream-node-max-entries": 5, "stream-node-max-bytes": 300})
        elif i == len(edges) + 300:
            stream_mod.LIMITS.update({"stream-node-max-entries": 0, "stream-node-max-bytes": 0})

    try:
        _run_alike(pair, monkeypatch, itertools.chain(edges, boundary(), _messages(33, b"x", _stream_step)), stream_mod.Stream, switch, len(edges) + 2)
    finally:
        stream_mod.LIMITS.update(saved)
    assert _streams(fast) == _streams(slow) != []
    assert sum(fast.worker.stats.commands["xadd"][4]) > 100


def _bitfield_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """BITFIELD with GET, SET and INCRBY (the C loop's, in WRAP), sometimes an OVERFLOW clause,
    more than 16 operations, or a bad type, offset or value (Python's)."""
    types = [b"u1", b"u8", b"u13", b"u32", b"u63", b"i1", b"i8", b"i17", b"i32", b"i64"] * 3 + [b"u64", b"i65", b"i0", b"U8", b"x8", b"u08"]
    # the values are 20-150 bytes long: fields at their last byte, the byte after it (grown in Python) and beyond
    offsets = [b"0", b"3", b"7", b"13", b"100", b"733", b"790", b"799", b"800", b"1199", b"1200", b"#0", b"#3", b"#24", b"#99", b"#100", b"#199"] * 2
    offsets += [b"-1", b"x", b"#", b"4294967296", b"#9223372036854775807"]
    values = [b"0", b"1", b"-1", b"5", b"255", b"256", b"-129", b"12345678901", b"9223372036854775807", b"-9223372036854775808"] * 2 + [b"x", b"1.5"]
    argv = [rnd.choice([b"BITFIELD", b"bitfield"]), k]
    for _ in range(rnd.choice([1, 1, 2, 3, 17])):
        op = rnd.choice([b"GET", b"get", b"SET", b"set", b"INCRBY", b"incrby", b"IncrBy"])
        argv += [op, rnd.choice(types), rnd.choice(offsets)]
        if op.lower() != b"get":
            argv.append(rnd.choice(values))
        if rnd.random() < 0.03:
            argv += [b"OVERFLOW", rnd.choice([b"SAT", b"FAIL", b"WRAP"])]
    return argv


def _bits_step(rnd: random.Random, k: bytes) -> list[bytes]:
    """GETBIT and GETRANGE of any string, SETBIT and SETRANGE inside a RawStr (the C loop's),
    among the writes that create, unshare, lengthen and retype the value."""

    def offset() -> bytes:
        return rnd.choice([b"0", b"7", b"8", b"100", b"799", b"800", b"5000", b"-1", b"x", b"01", b"4294967296", b"9223372036854775807"])  # the last two: past 512 MB

    if rnd.random() < 0.25:
        return _bitfield_step(rnd, k)
    x = rnd.random()
    if x < 0.25:
        return [rnd.choice([b"SETBIT", b"setbit"]), k, offset(), rnd.choice([b"0", b"1", b"1", b"2", b"x", b"01"])]
    if x < 0.45:
        return [rnd.choice([b"GETBIT", b"getbit"]), k, offset()]
    if x < 0.65:
        index = [b"0", b"-1", b"3", b"-3", b"50", b"-200", b"99", b"9223372036854775807", b"-9223372036854775808", b"x"]
        return [rnd.choice([b"GETRANGE", b"getrange"]), k, rnd.choice(index), rnd.choice(index)]
    if x < 0.85:
        patch = rnd.choice([b"", b"p", b"ab", b"z" * 30, b"\x00\xff"])
        return [rnd.choice([b"SETRANGE", b"setrange"]), k, rnd.choice([b"0", b"5", b"90", b"100", b"-1", b"x", b"600"]), patch]
    if x < 0.9:  # creates or unshares a RawStr (Python), or lengthens one (the C loop, to the size limit)
        return [rnd.choice([b"APPEND", b"append"]), k, rnd.choice([b"", b"a", b"b", b"xyz" * 17])]
    if x < 0.94:
        return [b"SET", k, b"v" * rnd.choice([0, 20, 100])]  # a plain string again
    if x < 0.96:
        return [b"INCRBYFLOAT", k, b"1.5"]  # an EmbStr (or an error)
    return [b"RPUSH", k, b"a"]  # another type: WRONGTYPE


@pytest.mark.parametrize("pair", [False, True], indirect=True, ids=["aof-off", "aof-on"])
def test_string_edits_match_the_python_path(pair: tuple[Harness, Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop's GETBIT, GETRANGE, SETBIT, SETRANGE, BITFIELD and APPEND against their handlers: replies, values
    (their types: bytes, RawStr, EmbStr), access times, the AOF records (a SETBIT that leaves the
    bit as it was is not logged); proto-max-bulk-len lowered below the values midway."""
    fast, slow = pair
    names = [b"GETBIT", b"getbit", b"GETRANGE", b"getrange", b"SETBIT", b"setbit", b"SETRANGE", b"setrange", b"BITFIELD", b"bitfield", b"APPEND", b"append"]
    warm = [
        [n, b"warm", b"0", b"1"] if n.lower() in (b"getrange", b"setbit", b"setrange") else [n, b"warm", b"GET", b"u8", b"0"] if n.lower() == b"bitfield" else [n, b"warm", b"0"]
        for n in names
    ]

    def switch(i: int) -> None:
        if i == 300:
            for h in (fast, slow):
                h.worker.ctx.proto_max_bulk_len = 90  # below the longer values: SETRANGE to byte 91 is refused

    edges = [  # an edit in place records its access even for a NO-TOUCH client (Database.touched)
        (0, 0, [[b"APPEND", k, b"q" * 50] for k in (b"t", b"t", b"u", b"u", b"w", b"w")]),  # the second APPEND unshares a RawStr
        *[(0, 0, [[b"GETBIT", b"other", b"1"]])] * 5,
        (0, wire.NO_TOUCH, [[b"SETBIT", b"t", b"3", b"1"], [b"SETRANGE", b"u", b"2", b"zz"], [b"GETBIT", b"t", b"3"]]),
        # the C loop takes 16 operations, no more: 16 and 17 of them, reads and writes
        (0, 0, [[b"BITFIELD", b"t", *[x for i in range(n) for x in (b"SET", b"u8", b"#%d" % i, b"%d" % (i + 7))]] for n in (16, 17)]),
        (0, 0, [[b"BITFIELD", b"t", *[x for i in range(n) for x in (b"GET", b"i8", b"#%d" % i)]] for n in (16, 17)]),
        (0, 0, [*[[b"BITFIELD", b"u", b"INCRBY", b"u8", b"#%d" % i, b"1"] for i in (99, 100)], [b"STRLEN", b"u"]]),  # its last byte, then the next
    ]
    last = [  # the limit, 90 bytes, by one byte
        (0, 0, [[b"SETRANGE", b"w", b"90", b"p"], [b"SETRANGE", b"w", b"89", b"p"]]),
        (0, 0, [[b"SET", b"z", b"q" * 88], [b"APPEND", b"z", b"r"], *[[b"APPEND", b"z", x] for x in (b"s", b"t", b"")], [b"GET", b"z"]]),
    ]
    try:
        _run_alike(pair, monkeypatch, [(1, 0, warm), *edges, *_messages(41, b"b", _bits_step), *last], None, switch, 1 + len(edges), tick=0.3)
    finally:
        for h in (fast, slow):
            h.worker.ctx.proto_max_bulk_len = 512 * 1024 * 1024
    types = {type(v).__name__ for db in fast.worker.keyspace.dbs[:2] for v in db.data.values()}
    assert {"RawStr", "bytes"} <= types
    for name in ("setbit", "getbit", "getrange", "setrange"):
        assert sum(fast.worker.stats.commands[name][4]) > 100
