"""AOF cost and load time: shardserver next to Valkey 9 (and Redis 7) in one run.

Part 1, write throughput: redis-benchmark SET at -P 1 and -P 16 with AOF off,
``appendfsync everysec`` and ``appendfsync always``, every server in rounds that
run its three modes back to back; reports requests/s, the ratio to the same
server with AOF off (the median of the rounds' own ratios), and how the
``always`` ratio compares with Valkey's.  With ``--mset``, each -P 16 run is
followed by redis-benchmark's MSET (10 keys, so with shards a write spanning
them: shardserver's intents) on the same server.

Part 2, load time: the same mixed data set (strings, hashes, sets, sorted
sets, lists) is written to each server through ``redis-cli --pipe``, the server
is shut down and started again, and the time until it serves is measured —
once from the incremental file as written, once after BGREWRITEAOF (Valkey's
base is then its RDB preamble, its default).  Reports keys loaded per second,
per shard for shardserver.

    python bench/aof.py --rounds 3 --requests 200000 --keys 2000000 --write
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.redis_benchmark import write_doc  # noqa: E402
from shardserver.resp import encode_command  # noqa: E402
from tests.servers import free_port, start_shardserver, valkey_binary  # noqa: E402

MODES = ("off", "everysec", "always")
NO_AUTO_REWRITE = ["--auto-aof-rewrite-percentage", "0"]


@dataclass
class Target:
    """A server kind that can be started on a data directory with AOF settings."""

    name: str
    kind: str  # "valkey", "redis" or "shardserver"
    shards: int = 0
    results: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    mset: dict[str, list[float]] = field(default_factory=dict)  # mode -> MSET -P 16 requests/s

    def start(self, workdir: str, mode: str, extra: list[str] | None = None) -> tuple[int, Any]:
        aof = ["--appendonly", "no"] if mode == "off" else ["--appendonly", "yes", "--appendfsync", mode]
        extra = extra or []
        if self.kind == "shardserver":
            server = start_shardserver(*aof, *extra, shards=self.shards, dir=workdir, timeout=600)
            return server.port, server
        port = free_port()
        binary = valkey_binary() if self.kind == "valkey" else shutil.which("redis-server") or "redis-server"
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--dir", workdir, "--bind", "127.0.0.1", *aof, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_serving(port, 600)
        return port, proc

    def stop(self, handle: Any) -> None:
        if self.kind == "shardserver":
            handle.stop(120)
        else:
            handle.terminate()
            handle.wait(120)


def all_targets(shards: str, no_redis: bool) -> list[Target]:
    """Valkey, Redis 7 (when installed and not ``no_redis``) and shardserver with each of the
    comma-separated ``shards`` counts."""
    targets = [Target("Valkey 9", "valkey")]
    if not no_redis and shutil.which("redis-server"):
        targets.append(Target("Redis 7", "redis"))
    return targets + [Target(f"shardserver {n} shard{'s' if int(n) > 1 else ''}", "shardserver", int(n)) for n in shards.split(",")]


def _wait_serving(port: int, timeout: float) -> None:
    """Until the server answers PING with PONG (not LOADING): an external binary has no other signal."""
    deadline = time.monotonic() + timeout
    r = redis.Redis(port=port, socket_timeout=5)
    while True:
        try:
            if r.execute_command("PING") in (True, b"PONG"):
                return
        except (redis.ConnectionError, redis.BusyLoadingError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on {port} did not start")
        time.sleep(0.005)


def _rps(port: int, pipeline: int, requests: int, clients: int, test: str = "set") -> float:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", test, "-c", str(clients), "-n", str(requests), "-r", "100000", "-P", str(pipeline), "--csv"],
        capture_output=True, text=True, timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    line = out.stdout.strip().splitlines()[-1]
    return float(line.split(",")[1].strip('"'))


def throughput(targets: list[Target], rounds: int, requests: int, clients: int, mset: bool = False) -> None:
    """Each server's three modes back to back (their order rotating per round), so a ratio to
    AOF off compares runs seconds apart: this VM's slow and fast spells last minutes."""
    for rnd in range(rounds):
        modes = MODES[rnd % 3 :] + MODES[: rnd % 3]
        for pipeline in (1, 16):
            n = requests * (4 if pipeline > 1 else 1)
            for t in targets:
                for mode in modes:
                    workdir = tempfile.mkdtemp(prefix=f"bench-aof-{t.kind}-")
                    port, handle = t.start(workdir, mode)
                    try:
                        rps = _rps(port, pipeline, n, clients)
                        many = _rps(port, pipeline, requests, clients, "mset") if mset and pipeline > 1 else 0.0
                    finally:
                        t.stop(handle)
                        shutil.rmtree(workdir, ignore_errors=True)
                    t.results.setdefault((mode, pipeline), []).append(rps)
                    print(f"round {rnd + 1} SET -P {pipeline:<2d} {mode:8s} {t.name:22s} {rps:>12,.0f} rps", flush=True)
                    if many:
                        t.mset.setdefault(mode, []).append(many)
                        print(f"round {rnd + 1} MSET -P {pipeline:<2d} {mode:8s} {t.name:22s} {many:>12,.0f} rps", flush=True)


def paired_ratio(t: Target, mode: str, pipeline: int) -> tuple[float, float, float]:
    """Median, lowest and highest over the rounds of ``mode`` / off, each round's pair measured together."""
    return _paired(t.results[(mode, pipeline)], t.results[("off", pipeline)])


def _paired(runs: list[float], offs: list[float]) -> tuple[float, float, float]:
    ratios = [a / b for a, b in zip(runs, offs, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


# The data set's five kinds of key: the write creating one, and what a loaded server must
# answer for it (TYPE, OBJECT ENCODING, the value read back).
KINDS: list[tuple[list[bytes], bytes, bytes, Any]] = [
    ([b"SET", b"v" * 20], b"string", b"embstr", b"v" * 20),
    ([b"HSET", b"f1", b"1", b"f2", b"22", b"f3", b"333", b"f4", b"4444"], b"hash", b"listpack", {b"f1": b"1", b"f2": b"22", b"f3": b"333", b"f4": b"4444"}),
    ([b"SADD", b"a", b"b", b"c", b"d", b"e"], b"set", b"listpack", {b"a", b"b", b"c", b"d", b"e"}),
    ([b"ZADD", b"1", b"a", b"2", b"b", b"3.5", b"c"], b"zset", b"listpack", [(b"a", 1.0), (b"b", 2.0), (b"c", 3.5)]),
    ([b"RPUSH", b"x", b"y", b"z"], b"list", b"listpack", [b"x", b"y", b"z"]),
]


def dataset(path: str, keys: int, seed: int = 7) -> bytearray:
    """A RESP file of writes creating ``keys`` keys: 70% strings, 10% hashes, 10% sets, 5% sorted
    sets, 5% lists; returns each key's kind (an index into KINDS)."""
    rnd = random.Random(seed)
    kinds = bytearray(keys)
    with open(path, "wb") as f:
        batch: list[bytes] = []
        for i in range(keys):
            x = rnd.random()
            kind = 0 if x < 0.70 else 1 if x < 0.80 else 2 if x < 0.90 else 3 if x < 0.95 else 4
            kinds[i] = kind
            write = KINDS[kind][0]
            batch.append(encode_command([write[0], b"key:%d" % i, *write[1:]]))
            if len(batch) >= 10000:
                f.write(b"".join(batch))
                batch = []
        f.write(b"".join(batch))
    return kinds


def check_loaded(r: redis.Redis, kinds: bytearray, name: str) -> None:
    """Every key's count, and a sample of about 500 keys read back: type, encoding and value."""
    assert r.dbsize() == len(kinds), f"{name} loaded {r.dbsize()} keys, not {len(kinds)}"
    pipe = r.pipeline(transaction=False)
    sample = range(0, len(kinds), max(len(kinds) // 500, 1))
    readers = [pipe.get, pipe.hgetall, pipe.smembers, lambda k: pipe.zrange(k, 0, -1, withscores=True), lambda k: pipe.lrange(k, 0, -1)]
    for i in sample:
        key = b"key:%d" % i
        pipe.type(key)
        pipe.object("encoding", key)
        readers[kinds[i]](key)
    got = pipe.execute()
    for n, i in enumerate(sample):
        _, kind, encoding, value = KINDS[kinds[i]]
        seen = got[3 * n : 3 * n + 3]
        assert seen == [kind, encoding, value], f"{name}: key:{i} loaded as {seen}, not {[kind, encoding, value]}"


def _pipe(port: int, path: str) -> None:
    with open(path, "rb") as f:
        out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True, text=True, timeout=3600)
    if "errors: 0" not in out.stdout:
        raise RuntimeError(f"redis-cli --pipe: {out.stdout} {out.stderr}")


def _load_seconds(t: Target, workdir: str, kinds: bytearray) -> tuple[float, float]:
    """Start on ``workdir`` and time until serving; (wall seconds, the slowest shard's own load time)."""
    start = time.monotonic()
    port, handle = t.start(workdir, "everysec", NO_AUTO_REWRITE)
    wall = time.monotonic() - start
    r = redis.Redis(port=port)
    try:
        check_loaded(r, kinds, t.name)
        own = wall
        if t.kind == "shardserver":
            info = r.info("persistence")
            own = max(int(info[f"shard{i}_aof"]["load_time_ms"]) for i in range(t.shards)) / 1000
        return wall, own
    finally:
        t.stop(handle)


PHASES = {"incr": "incremental", "base": "after rewrite"}


def _time_loads(t: Target, workdir: str, kinds: bytearray, rounds: int, phase: str, out: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    for rnd in range(rounds):
        res = _load_seconds(t, workdir, kinds)
        out.setdefault((t.name, phase), []).append(res)
        print(f"round {rnd + 1} load {PHASES[phase]} {t.name:22s} {res[0]:.2f} s wall, {res[1]:.2f} s loading", flush=True)


def load_times(targets: list[Target], keys: int, rounds: int) -> dict[tuple[str, str], list[tuple[float, float]]]:
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    path = os.path.join(tempfile.mkdtemp(prefix="bench-aof-data-"), "data.resp")
    kinds = dataset(path, keys)
    print(f"data set: {keys} keys, {os.path.getsize(path) / 2**20:.0f} MiB of commands", flush=True)
    for t in targets:
        workdir = tempfile.mkdtemp(prefix=f"bench-load-{t.kind}-")
        try:
            # no automatic rewrite: the first loads must read the commands as written
            port, handle = t.start(workdir, "everysec", NO_AUTO_REWRITE)
            try:
                _pipe(port, path)
                redis.Redis(port=port).execute_command("SHUTDOWN")
            except redis.ConnectionError:
                pass
            finally:
                t.stop(handle)
            _time_loads(t, workdir, kinds, rounds, "incr", out)
            port, handle = t.start(workdir, "everysec", NO_AUTO_REWRITE)
            try:
                r = redis.Redis(port=port)
                r.bgrewriteaof()
                while True:
                    info = r.info("persistence")
                    if not info["aof_rewrite_in_progress"] and not info.get("aof_rewrite_scheduled") and int(info.get("aof_rewrites", 1)) >= 1:
                        break
                    time.sleep(0.05)  # a rewrite of this size takes seconds; INFO is the only signal
            finally:
                t.stop(handle)
            _time_loads(t, workdir, kinds, rounds, "base", out)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    return out


def render(targets: list[Target], loads: dict[tuple[str, str], list[tuple[float, float]]], args: argparse.Namespace) -> str:
    med = statistics.median
    lines = [
        "# AOF benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node() or 'this machine'}: "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total // 2**30} GiB, Python {platform.python_version()}, "
        "files on the local ext4 disk.",
        "",
        f"Command: `python bench/aof.py {' '.join(sys.argv[1:])}`",
        "",
        f"## SET throughput (redis-benchmark -c {args.clients} -r 100000, {args.requests} requests at -P 1, "
        f"{args.requests * 4} at -P 16; {args.rounds} rounds, a fresh server per run)",
        "",
        "Requests/s are medians over the rounds.  Each round runs a server's three modes back to back, "
        "so a ratio to AOF off is the median of the rounds' own ratios (lowest-highest in brackets); "
        "\"ratio x Valkey's\" divides that `always` / off ratio by Valkey's (the issue's goal: at least 1); "
        "the last column compares the `always` requests/s themselves.",
        "",
        "| -P | server | off | everysec | always | everysec / off | always / off | always ratio x Valkey's | always x Valkey always |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    valkey = targets[0]
    if targets and targets[0].results:
        for p in (1, 16):
            v_ratio = paired_ratio(valkey, "always", p)[0]
            v_always = med(valkey.results[("always", p)])
            for t in targets:
                off, every, always = (med(t.results[(m, p)]) for m in MODES)
                e, e_lo, e_hi = paired_ratio(t, "everysec", p)
                a, a_lo, a_hi = paired_ratio(t, "always", p)
                lines.append(
                    f"| {p} | {t.name} | {off:,.0f} | {every:,.0f} | {always:,.0f} | {e:.2f} ({e_lo:.2f}-{e_hi:.2f}) "
                    f"| {a:.2f} ({a_lo:.2f}-{a_hi:.2f}) | {a / v_ratio:.2f} | {always / v_always:.2f} |"
                )
    if any(t.mset for t in targets):
        lines += [
            "",
            f"## MSET throughput (redis-benchmark -t mset: 10 keys a command; -P 16, -c {args.clients}, {args.requests} requests, "
            "right after the SET -P 16 run on the same server)",
            "",
            "With two shards nearly every MSET spans both: with the AOF on it goes under an intent (docs/persistence.md).",
            "",
            "| server | off | everysec | always | everysec / off | always / off | always x Valkey always |",
            "|---|---|---|---|---|---|---|",
        ]
        v_always = med(valkey.mset["always"]) if valkey.mset else float("nan")
        for t in targets:
            off, every, always = (med(t.mset[m]) for m in MODES)
            e, e_lo, e_hi = _paired(t.mset["everysec"], t.mset["off"])
            a, a_lo, a_hi = _paired(t.mset["always"], t.mset["off"])
            lines.append(
                f"| {t.name} | {off:,.0f} | {every:,.0f} | {always:,.0f} | {e:.2f} ({e_lo:.2f}-{e_hi:.2f}) | {a:.2f} ({a_lo:.2f}-{a_hi:.2f}) | {always / v_always:.2f} |"
            )
    if loads:
        lines += [
            "",
            f"## Load time ({args.keys:,} keys: 70% strings, 10% hashes, 10% sets, 5% sorted sets, 5% lists; median of {args.rounds})",
            "",
            "\"incremental\": the commands as written; \"after rewrite\": after BGREWRITEAOF (Valkey: its RDB preamble). "
            "Wall time runs from starting the process to serving; shardserver's own load time is its slowest shard's.",
            "",
            "| files | server | wall s | loading s | keys/s | keys/s per shard | per shard x Valkey |",
            "|---|---|---|---|---|---|---|",
        ]
        for phase, label in PHASES.items():
            v = loads.get((targets[0].name, phase))
            v_rate = args.keys / med([x[1] for x in v]) if v else float("nan")
            for t in targets:
                rs = loads.get((t.name, phase))
                if not rs:
                    continue
                wall, own = med([x[0] for x in rs]), med([x[1] for x in rs])
                rate = args.keys / own
                per = rate / max(t.shards, 1)
                lines.append(f"| {label} | {t.name} | {wall:.2f} | {own:.2f} | {rate:,.0f} | {per:,.0f} | {per / v_rate:.2f} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    # per run at -P 1 (x4 at -P 16): 200k keeps a -P 16 run near a second, long enough
    # that one of the VM's hiccups does not move it by the 10% the everysec goal allows
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--keys", type=int, default=2_000_000)
    ap.add_argument("--shards", default="1,2")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--skip", default="", help="throughput or load")
    ap.add_argument("--mset", action="store_true", help="also MSET at -P 16 after each SET -P 16 run")
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks-aof.md")
    args = ap.parse_args()
    targets = all_targets(args.shards, args.no_redis)
    if "throughput" not in args.skip:
        throughput(targets, args.rounds, args.requests, args.clients, args.mset)
        print(render(targets, {}, args), flush=True)  # kept even if the load part fails
    loads = {} if "load" in args.skip else load_times([t for t in targets if t.kind != "redis"], args.keys, args.rounds)
    table = render(targets, loads, args)
    print(table)
    if args.write:
        write_doc("benchmarks-aof.md", table)


if __name__ == "__main__":
    main()
