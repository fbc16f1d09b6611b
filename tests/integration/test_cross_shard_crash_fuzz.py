"""Crash fuzzing of writes across shards: SIGKILL at random moments, then check the data.

Client threads run random writes that span shards (MSET, MSETNX, DEL, UNLINK,
RENAME, RENAMENX, SMOVE, LMOVE, RPOPLPUSH, BLMOVE) mixed with one-shard
writes to the same keys, and one thread runs FLUSHALL, FLUSHDB and SWAPDB
(alone: it holds a lock the others share).  Each thread owns its keys, so it
keeps a model of them: what its acknowledged writes left, and the one write it
has in flight.  After a crash, each thread's keys must hold exactly the model,
or the model with the write in flight applied whole: half of a write (an MSET
group not uniform, a moved item in both keys or neither) and a lost
acknowledged write both fail that.  A write answered ``LOADING`` (a shard was
killed under it) is checked the same way once the shard is back.

The kill moments are random delays: they are the fuzzing, not a
synchronisation.  The seed is fixed, so a run picks the same operations,
configurations and delays (the processes' timing still varies).
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from persistence import intents as txi
from tests.integration.helpers import key_on, shard_of, shard_pids
from tests.integration.test_persistence import _inject_env
from tests.servers import ServerProc, kill_tree, start_shardserver

Value = tuple[str, Any]  # ("string", bytes) | ("list", tuple[bytes, ...]) | ("set", frozenset[bytes])
Model = dict[tuple[int, bytes], Value]  # (db, key) -> value
Expect = tuple[str, Any]  # ("ok", None) | ("int", n) | ("bulk", bytes | None)
DBS = (0, 1)
HISTORY = 12  # writes each thread remembers for a failure's message
EVENTS: list[str] | None = None  # a log of every write and kill, when a caller sets one
AFTER_EARLY_KILL: Callable[[Path], None] | None = None  # a caller's look at the files a killed start left


class Failure(AssertionError):
    pass


# ----------------------------------------------------------------------------- keys


def _spread(prefix: str, count: int) -> list[bytes]:
    """``count`` keys ``prefix<n>`` that fall on different shards with 3 shards and
    on both shards with 2, so each group's writes span shards in either layout."""
    out: list[str] = []
    n = 0
    while len(out) < count:
        key = f"{prefix}{n}"
        n += 1
        want3 = len(out) % 3
        if shard_of(key, 3) != want3:
            continue
        if len(out) == 1 and shard_of(key, 2) == shard_of(out[0], 2):
            continue
        out.append(key)
    return [k.encode() for k in out]


@dataclass
class Keys:
    groups: list[list[bytes]]  # string keys written together (MSET, MSETNX, DEL, UNLINK)
    moved: list[bytes]  # RENAME / RENAMENX between these two
    sets: list[bytes]  # SMOVE between these two
    lists: list[bytes]  # LMOVE, RPOPLPUSH, BLMOVE between these two

    def all(self) -> list[bytes]:
        return [k for g in self.groups for k in g] + self.moved + self.sets + self.lists


def thread_keys(t: int) -> Keys:
    base = f"fz:t{t}:"
    return Keys(
        groups=[_spread(f"{base}g{g}:", 2 + g % 3) for g in range(3)],
        moved=_spread(f"{base}r:", 2),
        sets=_spread(f"{base}s:", 2),
        lists=_spread(f"{base}l:", 2),
    )


def owner_of(key: bytes) -> int | None:
    if not key.startswith(b"fz:t"):
        return None
    return int(key[4 : key.index(b":", 4)])


# ----------------------------------------------------------------------------- operations


@dataclass
class Op:
    argv: list[bytes]
    apply: Callable[[Model], tuple[Model, Expect]]  # pure: the model after it, and its reply

    def __repr__(self) -> str:
        return " ".join(a[:40].decode(errors="replace") for a in self.argv)


def _get(m: Model, key: bytes, db: int = 0) -> Value | None:
    return m.get((db, key))


def _put(m: Model, key: bytes, value: Value | None, db: int = 0) -> Model:
    out = dict(m)
    if value is None or (value[0] != "string" and not value[1]):
        out.pop((db, key), None)
    else:
        out[(db, key)] = value
    return out


def op_mset(keys: list[bytes], values: list[bytes], nx: bool = False) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        if nx and any(_get(m, k) is not None for k in keys):
            return m, ("int", 0)
        for k, v in zip(keys, values, strict=True):
            m = _put(m, k, ("string", v))
        return m, (("int", 1) if nx else ("ok", None))

    argv = [b"MSETNX" if nx else b"MSET"]
    for k, v in zip(keys, values, strict=True):
        argv += [k, v]
    return Op(argv, apply)


def op_del(keys: list[bytes], name: bytes = b"DEL") -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        n = sum(1 for k in keys if _get(m, k) is not None)
        for k in keys:
            m = _put(m, k, None)
        return m, ("int", n)

    return Op([name, *keys], apply)


def op_set(key: bytes, value: bytes) -> Op:
    return Op([b"SET", key, value], lambda m: (_put(m, key, ("string", value)), ("ok", None)))


def op_rename(src: bytes, dst: bytes, nx: bool) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        value = _get(m, src)
        assert value is not None, "the generator renames an existing key only"
        if nx and _get(m, dst) is not None:
            return m, ("int", 0)
        return _put(_put(m, dst, value), src, None), (("int", 1) if nx else ("ok", None))

    return Op([b"RENAMENX" if nx else b"RENAME", src, dst], apply)


def op_rpush(key: bytes, items: list[bytes]) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        old = _get(m, key)
        new = (old[1] if old else ()) + tuple(items)
        return _put(m, key, ("list", new)), ("int", len(new))

    return Op([b"RPUSH", key, *items], apply)


def op_lpop(key: bytes) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        old = _get(m, key)
        if old is None:
            return m, ("bulk", None)
        return _put(m, key, ("list", old[1][1:])), ("bulk", old[1][0])

    return Op([b"LPOP", key], apply)


def op_lmove(src: bytes, dst: bytes, wherefrom: bytes, whereto: bytes, form: str) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        old = _get(m, src)
        if old is None:
            return m, ("bulk", None)
        items = old[1]
        item, rest = (items[0], items[1:]) if wherefrom == b"LEFT" else (items[-1], items[:-1])
        m = _put(m, src, ("list", rest))
        target = _get(m, dst)
        have = target[1] if target else ()
        m = _put(m, dst, ("list", (item, *have) if whereto == b"LEFT" else (*have, item)))
        return m, ("bulk", item)

    if form == "rpoplpush":
        assert (wherefrom, whereto) == (b"RIGHT", b"LEFT")
        argv = [b"RPOPLPUSH", src, dst]
    elif form == "blmove":
        argv = [b"BLMOVE", src, dst, wherefrom, whereto, b"0.01"]
    else:
        argv = [b"LMOVE", src, dst, wherefrom, whereto]
    return Op(argv, apply)


def op_sadd(key: bytes, members: list[bytes]) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        old = _get(m, key)
        have: frozenset[bytes] = old[1] if old else frozenset()
        return _put(m, key, ("set", have | set(members))), ("int", len(set(members) - have))

    return Op([b"SADD", key, *members], apply)


def op_smove(src: bytes, dst: bytes, member: bytes) -> Op:
    def apply(m: Model) -> tuple[Model, Expect]:
        old = _get(m, src)
        if old is None or member not in old[1]:
            return m, ("int", 0)
        m = _put(m, src, ("set", old[1] - {member}))
        target = _get(m, dst)
        return _put(m, dst, ("set", (target[1] if target else frozenset()) | {member})), ("int", 1)

    return Op([b"SMOVE", src, dst, member], apply)


# the operations that act on every thread's keys (run alone)
def x_flushall(m: Model) -> Model:
    return {}


def x_flushdb(m: Model) -> Model:
    return {(db, k): v for (db, k), v in m.items() if db != 0}


def x_swapdb(m: Model) -> Model:
    return {(1 - db, k): v for (db, k), v in m.items()}


EXCLUSIVE: dict[str, tuple[list[bytes], Callable[[Model], Model]]] = {
    "flushall": ([b"FLUSHALL"], x_flushall),
    "flushdb": ([b"FLUSHDB"], x_flushdb),
    "swapdb": ([b"SWAPDB", b"0", b"1"], x_swapdb),
}


# ----------------------------------------------------------------------------- the load


class RWLock:
    """Shared for the threads' own writes, exclusive for FLUSHALL/FLUSHDB/SWAPDB."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._writer and not self._readers)
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class Owner:
    """One client thread's keys, its model of them and its write in flight."""

    index: int
    keys: Keys
    rng: random.Random
    model: Model = field(default_factory=dict)
    pending: Op | None = None
    counter: int = 0
    done: int = 0
    history: list[str] = field(default_factory=list)  # the last writes, for a failure's message

    def note(self, what: str) -> None:
        if EVENTS is not None:
            EVENTS.append(f"{time.monotonic():.4f} t{self.index} {what}")
        self.history.append(what)
        del self.history[:-HISTORY]

    def token(self) -> bytes:
        self.counter += 1
        return b"t%d.%d.%d" % (self.index, self.counter, self.rng.randrange(1 << 30))


@dataclass
class Config:
    shards: int = 2
    fsync: str = "always"
    rewrites: bool = False  # a thread runs BGREWRITEAOF meanwhile
    rotate: int = 0  # a small intent file size (the fault hook), so files rotate and go
    shard_kills: int = 0  # SIGKILL one shard this many times (the supervisor restarts it) before the tree
    big: bool = False  # some MSET values of 128 KiB
    early_kill: bool = False  # first SIGKILL a start while its shards load (a layout change, a roll-forward)

    def args(self) -> list[str]:
        return ["--appendonly", "yes", "--appendfsync", self.fsync]

    def env(self) -> dict[str, str] | None:
        return _inject_env(SHARDSERVER_TEST_INTENT_ROTATE=str(self.rotate)) if self.rotate else None


def connect(port: int, db: int = 0) -> redis.Redis:
    # no retries: a write resent after a lost connection could apply twice
    return redis.Redis(port=port, db=db, socket_timeout=20, retry=Retry(NoBackoff(), 0), single_connection_client=True)


def read_value(r: redis.Redis, key: bytes) -> Value | None:
    kind = r.type(key)
    if kind == b"none":
        return None
    if kind == b"string":
        return ("string", r.get(key))
    if kind == b"list":
        return ("list", tuple(r.lrange(key, 0, -1)))
    if kind == b"set":
        return ("set", frozenset(r.smembers(key)))
    raise Failure(f"{key!r} has type {kind!r}")


def read_keys(port: int, keys: list[bytes] | None = None) -> Model:
    """The live values of ``keys`` (None: every key, by SCAN) in each database."""
    out: Model = {}
    for db in DBS:
        r = connect(port, db)
        try:
            for key in r.scan_iter(count=500) if keys is None else keys:
                value = read_value(r, key)
                if value is not None:
                    out[(db, key)] = value
        finally:
            r.close()
    return out


def describe(model: Model) -> dict[str, Any]:
    return {f"{db}:{k.decode()}": (v[0], v[1] if v[0] != "string" else v[1][:40]) for (db, k), v in sorted(model.items())}


def diff(model: Model, actual: Model) -> dict[str, Any]:
    """The keys where ``actual`` differs from ``model``: (modelled, actual)."""
    keys = sorted(set(model) | set(actual))
    return {f"{db}:{k.decode()}": (model.get((db, k)), actual.get((db, k))) for db, k in keys if model.get((db, k)) != actual.get((db, k))}


def check_reply(reply: Any, expect: Expect) -> bool:
    kind, want = expect
    if kind == "ok":
        return reply is True or reply in (b"OK", "OK")
    if kind == "int":
        return int(reply) == want
    return bool(reply == want)


class Load:
    """The client threads of one run of the server, until it is killed."""

    def __init__(self, proc: ServerProc, owners: list[Owner], cfg: Config, rng: random.Random) -> None:
        self.proc = proc
        self.owners = owners
        self.cfg = cfg
        self.rng = random.Random(rng.randrange(1 << 30))
        self.lock = RWLock()
        self.dead = threading.Event()  # the tree is gone: start nothing more
        self.failures: list[str] = []
        self.exclusive_pending: tuple[str, Callable[[Model], Model]] | None = None
        self.resolved = 0  # writes answered LOADING, found whole once the shard was back
        self.threads = [threading.Thread(target=self._guard, args=(self._owner_loop, o), daemon=True) for o in owners]
        self.threads.append(threading.Thread(target=self._guard, args=(self._exclusive_loop, None), daemon=True))
        if cfg.rewrites:
            self.threads.append(threading.Thread(target=self._guard, args=(self._rewrite_loop, None), daemon=True))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(60)
            assert not t.is_alive(), "a client thread hangs"

    def _guard(self, fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception as exc:  # a failure of the checks, or a client error nobody expected
            self.failures.append(f"{fn.__name__}: {exc!r}")
            self.dead.set()

    # -- the owners' writes ---------------------------------------------------
    def _next_op(self, o: Owner) -> Op:
        rng, k, m = o.rng, o.keys, o.model
        roll = rng.random()
        if roll < 0.35:
            group = rng.choice(k.groups)
            kind = rng.random()
            if kind < 0.45:
                big = self.cfg.big and rng.random() < 0.3
                tok = o.token() + (b"|" + b"x" * (128 << 10) if big else b"")
                return op_mset(group, [tok] * len(group))
            if kind < 0.6:
                tok = o.token()
                return op_mset(group, [tok] * len(group), nx=True)
            if kind < 0.8:
                return op_del(group, rng.choice([b"DEL", b"UNLINK"]))
            return op_set(rng.choice(group), o.token())  # one shard: the group is no longer uniform, the model knows
        if roll < 0.55:
            src, dst = k.moved if rng.random() < 0.5 else k.moved[::-1]
            if _get(m, src) is None:
                src, dst = dst, src
            if _get(m, src) is None:
                if rng.random() < 0.5:
                    return op_set(src, o.token())
                return op_rpush(src, [o.token(), o.token()])
            return op_rename(src, dst, nx=rng.random() < 0.3)
        if roll < 0.75:
            src, dst = k.sets if rng.random() < 0.5 else k.sets[::-1]
            have = _get(m, src)
            if have is None or rng.random() < 0.2:
                return op_sadd(src, [o.token() for _ in range(rng.randint(1, 3))])
            member = rng.choice(sorted(have[1])) if rng.random() < 0.9 else b"nothere"
            return op_smove(src, dst, member)
        src, dst = k.lists if rng.random() < 0.5 else k.lists[::-1]
        have = _get(m, src)
        if have is None and rng.random() < 0.7:
            return op_rpush(src, [o.token() for _ in range(rng.randint(1, 3))])
        if have is not None and rng.random() < 0.1:
            return op_lpop(src)
        form = rng.choice(["lmove", "lmove", "rpoplpush", "blmove"])
        if form == "rpoplpush":
            return op_lmove(src, dst, b"RIGHT", b"LEFT", form)
        return op_lmove(src, dst, rng.choice([b"LEFT", b"RIGHT"]), rng.choice([b"LEFT", b"RIGHT"]), form)

    def _owner_loop(self, o: Owner) -> None:
        r = connect(self.proc.port)
        try:
            while not self.dead.is_set():
                with self.lock.shared():
                    if self.dead.is_set():
                        return
                    op = self._next_op(o)
                    o.pending = op
                    try:
                        reply = r.execute_command(*op.argv)
                    except redis.exceptions.BusyLoadingError:  # a ConnectionError to redis-py
                        if not self._resolve(o, op):
                            return
                        continue
                    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                        self.dead.set()  # the tree was killed: the write stays in flight
                        return
                    except redis.exceptions.ResponseError as exc:
                        raise Failure(f"{op!r}: {exc}") from None
                    o.model, expect = op.apply(o.model)
                    o.pending = None
                    o.done += 1
                    o.note(f"{op!r} -> {reply!r}")
                    if not check_reply(reply, expect):
                        actual = read_keys(self.proc.port, o.keys.all())
                        raise Failure(
                            f"{op!r} answered {reply!r}, the model expects {expect!r}; thread {o.index}'s keys now "
                            f"differ from its model in {diff(o.model, actual)}; its last writes: {o.history}"
                        )
        finally:
            r.close()

    def _wait_loaded(self, read: Callable[[], Model]) -> Model | None:
        """``read`` once no shard answers LOADING (None: the tree is gone)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return read()
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                self.dead.set()
                return None
            time.sleep(0.02)  # polling: a client has no event for the end of a shard's load

    def _resolve(self, o: Owner, op: Op) -> bool:
        """A write answered LOADING: once the shard is back its keys hold it whole or not at all."""
        actual = self._wait_loaded(lambda: read_keys(self.proc.port, o.keys.all()))
        if actual is None:
            return False
        after, _ = op.apply(o.model)
        if actual == after:
            o.model = after
            o.note(f"{op!r} -> LOADING, then found applied")
        elif actual == o.model:
            o.note(f"{op!r} -> LOADING, then found not applied")
        else:
            raise Failure(
                f"thread {o.index}: {op!r} answered LOADING and left neither the state before nor after it: "
                f"before={describe(o.model)} after={describe(after)} actual={describe(actual)}; last writes: {o.history}"
            )
        o.pending = None
        self.resolved += 1
        return True

    # -- FLUSHALL, FLUSHDB, SWAPDB ------------------------------------------------
    def _exclusive_loop(self, _: None) -> None:
        r = connect(self.proc.port)
        try:
            while not self.dead.wait(self.rng.uniform(0.15, 0.6)):  # how often, not a synchronisation
                name = self.rng.choice(["swapdb", "swapdb", "swapdb", "flushdb", "flushall"])
                argv, fn = EXCLUSIVE[name]
                with self.lock.exclusive():
                    if self.dead.is_set():
                        return
                    self.exclusive_pending = (name, fn)
                    try:
                        reply = r.execute_command(*argv)
                    except redis.exceptions.BusyLoadingError:
                        actual = self._wait_loaded(lambda: read_keys(self.proc.port))
                        if actual is None:
                            return
                        problem = match_all(actual, self.owners, (name, fn))
                        if problem:
                            raise Failure(f"{name} answered LOADING: {problem}") from None
                        adopt(actual, self.owners)  # applied or not: the models go on from what is there
                        self.exclusive_pending = None
                        self.resolved += 1
                        if EVENTS is not None:
                            EVENTS.append(f"{time.monotonic():.4f} X {name} -> LOADING, then found whole")
                        continue
                    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                        self.dead.set()
                        return
                    except redis.exceptions.ResponseError as exc:
                        raise Failure(f"{name}: {exc}") from None
                    if EVENTS is not None:
                        EVENTS.append(f"{time.monotonic():.4f} X {name} -> {reply!r}")
                    if not check_reply(reply, ("ok", None)):
                        raise Failure(f"{name} answered {reply!r}")
                    for o in self.owners:
                        o.model = fn(o.model)
                    self.exclusive_pending = None
        finally:
            r.close()

    def _rewrite_loop(self, _: None) -> None:
        r = connect(self.proc.port)
        try:
            while not self.dead.wait(self.rng.uniform(0.1, 0.5)):  # how often, not a synchronisation
                try:
                    r.bgrewriteaof()
                except redis.exceptions.BusyLoadingError:
                    pass  # a shard is loading
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    return
                except redis.exceptions.ResponseError:
                    pass  # one already running
        finally:
            r.close()


def match_all(actual: Model, owners: list[Owner], exclusive: tuple[str, Callable[[Model], Model]] | None) -> str:
    """'' when every owner's keys hold its model, or its model with its write in flight,
    and an exclusive write in flight applied to all of them or to none; else what differs."""
    split: dict[int, Model] = {o.index: {} for o in owners}
    for (db, key), value in actual.items():
        who = owner_of(key)
        if who not in split:
            return f"a key nobody wrote: {db}:{key!r}"
        split[who][(db, key)] = value
    problems = []
    for x in ([None, exclusive] if exclusive else [None]):
        problems = []
        for o in owners:
            before = o.model
            after = o.pending.apply(before)[0] if o.pending else None
            options = [before] + ([after] if after is not None else [])
            if x is not None:
                options = [x[1](m) for m in options]
            if split[o.index] not in options:
                problems.append(
                    f"thread {o.index} (in flight: {o.pending!r}{', then ' + x[0] if x else ''}): "
                    f"actual={describe(split[o.index])} expected one of {[describe(m) for m in options]}; "
                    f"its last writes: {o.history}"
                )
        if not problems:
            return ""
    return "; ".join(problems)


def adopt(actual: Model, owners: list[Owner]) -> None:
    """After a check passed: the models continue from what the keys hold."""
    for o in owners:
        o.model = {(db, k): v for (db, k), v in actual.items() if owner_of(k) == o.index}
        o.pending = None


# ----------------------------------------------------------------------------- the crash cycle


@dataclass
class CycleResult:
    cfg: Config
    ops: int  # writes acknowledged
    resolved: int  # writes answered LOADING, found whole once the shard was back
    rolled: int  # parts the shards rolled forward from intents (their log says so)
    seconds: float


class World:
    """What the crashes must keep: every owner's model, and an exclusive write in flight."""

    def __init__(self, seed: int, threads: int) -> None:
        self.rng = random.Random(seed)
        self.owners = [Owner(t, thread_keys(t), random.Random(self.rng.randrange(1 << 30))) for t in range(threads)]
        self.exclusive: tuple[str, Callable[[Model], Model]] | None = None
        self.logs: list[str] = []  # the servers' logs of the last cycle, for a failure's report

    def check(self, port: int, when: str) -> None:
        actual = read_keys(port)
        problem = match_all(actual, self.owners, self.exclusive)
        if problem:
            raise Failure(f"{when}: {problem}")
        adopt(actual, self.owners)
        self.exclusive = None

    def cycle(self, data: Path, cfg: Config, run_for: tuple[float, float] = (0.3, 1.5)) -> CycleResult:
        """Start on ``data``, check what the last crash left, load, SIGKILL at a random moment."""
        t0 = time.monotonic()
        done0 = sum(o.done for o in self.owners)
        if cfg.early_kill:
            early = start_shardserver(*cfg.args(), shards=cfg.shards, dir=str(data), env=cfg.env(), ready=rb"starting: pid (\d+)")
            time.sleep(self.rng.uniform(0.0, 0.25))  # a random moment of the load: the fuzzing itself
            kill_tree(early)
            early.stop()
            if AFTER_EARLY_KILL is not None:
                AFTER_EARLY_KILL(data)
        proc = start_shardserver(*cfg.args(), shards=cfg.shards, dir=str(data), env=cfg.env())
        load: Load | None = None
        self.logs = [early.text()] if cfg.early_kill else []
        try:
            self.check(proc.port, f"after the restart ({cfg})")
            load = Load(proc, self.owners, cfg, self.rng)
            load.start()
            for _ in range(cfg.shard_kills):
                if load.dead.wait(self.rng.uniform(*run_for) / 2):  # a random moment: the fuzzing itself
                    break
                kill_one_shard(proc, cfg, self.rng)
            load.dead.wait(self.rng.uniform(*run_for))  # the random moment of the crash: the fuzzing itself
            kill_tree(proc)
            load.dead.set()
            load.join()
            self.exclusive = load.exclusive_pending
            if load.failures:
                raise Failure(f"during the load ({cfg}): " + "; ".join(load.failures))
            ops = sum(o.done for o in self.owners) - done0
            return CycleResult(cfg, ops, load.resolved, rolled_forward(proc.text()), time.monotonic() - t0)
        finally:
            if load is not None:
                load.dead.set()
            kill_tree(proc)
            proc.stop()
            self.logs.append(proc.text())

    def final(self, data: Path, cfg: Config) -> None:
        """A last start, with no crash after it."""
        proc = start_shardserver(*cfg.args(), shards=cfg.shards, dir=str(data))
        try:
            self.check(proc.port, f"after the last restart ({cfg})")
        finally:
            proc.stop()
            kill_tree(proc)


def rolled_forward(text: str) -> int:
    return sum(int(n) for n in re.findall(r"rolled forward (\d+) part", text))


def kill_one_shard(proc: ServerProc, cfg: Config, rng: random.Random) -> None:
    """SIGKILL one shard and wait until the supervisor's new one is serving."""
    admin = connect(proc.port)
    try:
        pids = shard_pids(admin.info("shards"), cfg.shards)
    finally:
        admin.close()
    victim = rng.randrange(cfg.shards)
    mark = proc.log_size()
    if EVENTS is not None:
        EVENTS.append(f"{time.monotonic():.4f} KILL shard {victim}")
    os.kill(pids[victim], signal.SIGKILL)
    proc.wait_log(rb"Shard %d ready: " % victim, 60, start=mark)


def plan(rng: random.Random, cycles: int) -> list[Config]:
    """Each cycle's configuration: the shard count changes now and then (2 <-> 3, so a
    restart changes the layout), and fsync policies, rewrites, rotating intent files and
    single-shard kills vary."""
    out = []
    shards = 2
    for i in range(cycles):
        changes = bool(i) and rng.random() < 0.25
        if changes:
            shards = 5 - shards
        out.append(
            Config(
                shards=shards,
                fsync="everysec" if rng.random() < 0.3 else "always",
                rewrites=rng.random() < 0.4,
                rotate=2048 if rng.random() < 0.3 else 0,
                shard_kills=rng.choice([0, 0, 1, 2]),
                # not while the shard count changes: a kill as the new layout is promoted can
                # leave a manifest naming deleted files (ShardPersistence._change_layout
                # unlinks the old files before the manifest that drops them is written)
                early_kill=not changes and rng.random() < 0.2,
            )
        )
    return out


# ----------------------------------------------------------------------------- the test


def test_writes_across_shards_stay_whole_through_random_crashes(tmp_path: Path) -> None:
    """12 crash cycles on one data directory: 2 and 3 shards (two restarts change the count),
    fsync always and everysec, rewrites and rotating intent files in some, one or two shards
    killed under the load in some, a start killed while its shards load in some."""
    world = World(seed=20251127, threads=3)
    configs = plan(world.rng, 12)
    results = [world.cycle(tmp_path, cfg) for cfg in configs]
    world.final(tmp_path, configs[-1])
    assert sum(r.ops for r in results) > 1000
    # the windows the intents are for were crossed: writes cut by a shard's death or a crash
    assert sum(r.resolved + r.rolled for r in results) > 0


def test_an_intent_cut_while_the_front_appends_it_is_not_rolled_forward(tmp_path: Path) -> None:
    """A kill in the middle of the front's write of an intent (a write of more than a page can
    stop part way) leaves its first parts whole and the last cut: no part may roll forward
    (none was queued).  The fuzzer found it with MSETs of 128 KiB values (``Config.big``)."""
    a0, a1 = key_on(0, 2, "a"), key_on(1, 2, "a")
    args = ("--appendonly", "yes", "--appendfsync", "always")
    proc = start_shardserver(*args, shards=2, dir=str(tmp_path))
    try:
        assert connect(proc.port).mset({a0: "old", a1: "old"})
    finally:
        proc.stop()
        kill_tree(proc)
    aofdir = str(tmp_path / "appendonlydir")
    high, _ = txi.read_intents(aofdir)
    _, path = txi.existing(aofdir)[-1]
    parts = [(0, 0, [[b"mset", a0.encode(), b"new"]]), (1, 0, [[b"mset", a1.encode(), b"new"]])]
    record = txi.encode_intent(high + 1, parts)
    with open(path, "ab") as f:  # what the kill leaves: the first part whole, the last cut
        f.write(record[: len(record) - len(a1) - 10])
    proc = start_shardserver(*args, shards=2, dir=str(tmp_path))
    try:
        assert connect(proc.port).mget(a0, a1) == [b"old", b"old"]
    finally:
        proc.stop()
        kill_tree(proc)
