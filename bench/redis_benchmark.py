"""Side-by-side redis-benchmark: shardserver (1 and 2 shards) vs Valkey 9 and Redis 7.

One run starts every server on a free port, then runs each redis-benchmark test
against each server in interleaved rounds (so drift on a noisy machine hits all
servers alike), and reports per test the median requests/s, the ratio to
Valkey, p50/p99 latency, and the server CPU time per operation split by process
role (front, shards; Valkey and Redis are one process).  The table is printed
and, with ``--write``, stored in docs/benchmarks.md with the exact command.

    python bench/redis_benchmark.py --tests set,get --pipelines 1,16 --rounds 3 --write
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.servers import free_port, start_shardserver, valkey_binary  # noqa: E402

# redis-benchmark's default suite, plus XADD (redis-benchmark 7.0 has no XADD test: run as a command)
DEFAULT_TESTS = (
    "ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,"
    "lrange_100,lrange_300,lrange_500,lrange_600,mset,xadd"
)
COMMAND_TESTS = {"xadd": ["XADD", "mystream", "*", "myfield", "myvalue"]}


@dataclass
class Server:
    name: str
    port: int
    procs: dict[str, psutil.Process]
    stop: object
    results: dict[tuple[str, int], list[dict[str, float]]] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        out = {}
        for role, p in self.procs.items():
            t = p.cpu_times()
            out[role] = t.user + t.system
        return out


def _start_plain(binary: str, name: str, extra: list[str]) -> Server:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix=f"bench-{name}-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir, "--bind", "127.0.0.1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)  # an external binary with no readiness signal we can await

    def stop() -> None:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    return Server(name, port, {"server": psutil.Process(proc.pid)}, stop)


def _start_shardserver(shards: int) -> Server:
    server = start_shardserver(shards=shards)
    info = subprocess.run(["redis-cli", "-p", str(server.port), "info", "all"], capture_output=True, text=True).stdout
    front = int(re.search(r"front_process_id:(\d+)", info).group(1))  # type: ignore[union-attr]
    shard_pids = [int(p) for p in re.findall(r"shard\d+:pid=(\d+)", info)]
    procs = {"front": psutil.Process(front)}
    for i, pid in enumerate(shard_pids):
        procs[f"shard{i}"] = psutil.Process(pid)

    def stop() -> None:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

    return Server(f"shardserver {shards} shard{'s' if shards > 1 else ''}", server.port, procs, stop)


def run_one(server: Server, test: str, pipeline: int, requests: int, clients: int) -> dict[str, float]:
    before = server.cpu()
    what = COMMAND_TESTS.get(test) or ["-t", test]
    out = subprocess.run(
        ["redis-benchmark", "-p", str(server.port), "-c", str(clients), "-n", str(requests),
         "-r", "100000", "-P", str(pipeline), "--csv", *what],
        capture_output=True, text=True, timeout=600,
    )
    after = server.cpu()
    if out.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed against {server.name}: {out.stderr}")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if not rows:
        raise RuntimeError(f"no result from redis-benchmark for {test} on {server.name}: {out.stdout} {out.stderr}")
    # -t lrange_100 first runs "LPUSH (needed to benchmark LRANGE)": take the test's own row
    row = next((r for r in rows if r["test"].upper().startswith(test.upper())), rows[-1])
    result = {
        "rps": float(row["rps"]),
        "p50": float(row["p50_latency_ms"]),
        "p99": float(row["p99_latency_ms"]),
    }
    for role in before:
        result[f"cpu_{role}"] = (after[role] - before[role]) / requests * 1e6
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tests", default=DEFAULT_TESTS)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000, help="requests per test at -P 1 (x4 at higher -P)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--shards", default="1,2")
    ap.add_argument("--no-redis", action="store_true", help="skip Redis 7 even if redis-server is installed")
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    args = ap.parse_args()
    tests = [t.strip() for t in args.tests.split(",") if t.strip()]
    pipelines = [int(p) for p in args.pipelines.split(",")]
    servers: list[Server] = []
    try:
        servers.append(_start_plain(valkey_binary(), "Valkey 9", []))
        if not args.no_redis and shutil.which("redis-server"):
            servers.append(_start_plain(shutil.which("redis-server") or "", "Redis 7", []))
        for n in args.shards.split(","):
            servers.append(_start_shardserver(int(n)))
        for rnd in range(args.rounds):
            for test in tests:
                for p in pipelines:
                    n = args.requests * (4 if p > 1 else 1)
                    for server in servers:
                        res = run_one(server, test, p, n, args.clients)
                        server.results.setdefault((test, p), []).append(res)
                        print(f"round {rnd + 1} {test:12s} -P {p:<3d} {server.name:22s} {res['rps']:>12,.0f} rps", flush=True)
    finally:
        for server in servers:
            try:
                server.stop()  # type: ignore[operator]
            except Exception as exc:  # keep stopping the others
                print(f"stopping {server.name}: {exc}", file=sys.stderr)
    table = render(servers, tests, pipelines, args)
    print(table)
    if args.write:
        write_doc("benchmarks.md", table)


def write_doc(name: str, text: str) -> None:
    """Replace docs/<name> (temporary file, then rename) and say so."""
    path = os.path.join(ROOT, "docs", name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")


# the other side-by-side benchmarks, written by their own scripts
OTHER_BENCHMARKS = (
    "Other side-by-side benchmarks, each with its command: AOF throughput and loading in "
    "docs/benchmarks-aof.md (`bench/aof.py`), strings edited in place in "
    "docs/benchmarks-strings.md (`bench/string_edits.py`).  docs/performance.md explains them."
)


def render(servers: list[Server], tests: list[str], pipelines: list[int], args: argparse.Namespace) -> str:
    cmd = "python bench/redis_benchmark.py " + " ".join(sys.argv[1:])
    lines = [
        "# Benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node() or 'this machine'}: "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total // 2**30} GiB, Python {platform.python_version()}.",
        "",
        f"Command: `{cmd}`",
        "",
        f"redis-benchmark `-c {args.clients} -r 100000`, {args.requests} requests per test at -P 1 and "
        f"{args.requests * 4} at higher -P; median of {args.rounds} interleaved rounds. "
        "The benchmark client shares the machine's cores with the servers. "
        "CPU is server CPU time (user + system) per operation, per process role.",
        "",
        "| test | -P | server | requests/s | x Valkey | p50 ms | p99 ms | CPU us/op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    valkey = servers[0]
    for test in tests:
        for p in pipelines:
            base = median([r["rps"] for r in valkey.results.get((test, p), [])])
            for server in servers:
                rs = server.results.get((test, p), [])
                rps = median([r["rps"] for r in rs])
                cpu_parts = []
                for role in server.procs:
                    cpu_parts.append(f"{role} {median([r[f'cpu_{role}'] for r in rs]):.2f}")
                lines.append(
                    f"| {test} | {p} | {server.name} | {rps:,.0f} | {rps / base:.2f} | "
                    f"{median([r['p50'] for r in rs]):.3f} | {median([r['p99'] for r in rs]):.3f} | {', '.join(cpu_parts)} |"
                )
    lines += ["", OTHER_BENCHMARKS, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
