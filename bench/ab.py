"""A/B of two revisions of shardserver under redis-benchmark, on the same machine in one run.

The base revision is checked out in a temporary git worktree (its C helpers
built there); the other side is this working tree.  Rounds alternate A and B,
each a fresh server, so drift on a noisy machine hits both alike.  Per test
it prints the median requests/s of each side and the server CPU time per
operation per process role (front, shards), which varies less than
requests/s on a shared 2-core VM.

    python bench/ab.py --base 4301fb6 --tests set,get --pipelines 16 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# Run in a child interpreter whose cwd is the revision's tree, so that
# ``-m shardserver.supervisor`` (tests/servers.py) imports that tree.
_CHILD = r"""
import json, subprocess, sys
import psutil, redis
sys.path.insert(0, ".")
from tests.servers import start_shardserver
test, pipeline, shards, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = start_shardserver("--appendonly", "no", shards=shards, timeout=60)
try:
    r = redis.Redis(port=s.port)
    info = r.info("all")
    pids = [info[f"shard{i}"]["pid"] for i in range(shards)]
    front = [k for k in psutil.Process(s.proc.pid).children(recursive=True) if k.pid not in pids][0]
    procs = [front] + [psutil.Process(p) for p in pids]
    if test in ("get", "incr", "mget"):  # reads of keys that exist
        subprocess.run(["redis-benchmark", "-p", str(s.port), "-t", "set", "-c", "50", "-r", "100000", "-n", "300000", "-P", "16", "-q"], capture_output=True, timeout=600)
    if test in ("zpopmin", "lpop", "rpop", "spop"):  # pops from a full value, as after the full benchmark's pushes
        fill = {"zpopmin": "zadd", "spop": "sadd"}.get(test, "lpush")
        subprocess.run(["redis-benchmark", "-p", str(s.port), "-t", fill, "-c", "50", "-r", "100000", "-n", "300000", "-P", "16", "-q"], capture_output=True, timeout=600)
    before = [sum(p.cpu_times()[:2]) for p in procs]
    commands = {"xadd": ["XADD", "mystream", "*", "myfield", "myvalue"], "set_ex": ["SET", "key:__rand_int__", "xxx", "EX", "100"]}
    what = commands.get(test, ["-t", test])  # tests redis-benchmark 7 does not have: run as commands
    out = subprocess.run(["redis-benchmark", "-p", str(s.port), "-c", "50", "-r", "100000", "-n", str(requests), "-P", str(pipeline), "--csv", *what], capture_output=True, text=True, timeout=600).stdout
    after = [sum(p.cpu_times()[:2]) for p in procs]
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    print(json.dumps([rps, [(a - b) / requests * 1e6 for a, b in zip(after, before)]]))
finally:
    s.stop()
"""


def _worktree(rev: str) -> str:
    path = tempfile.mkdtemp(prefix="bench-ab-")
    os.rmdir(path)
    subprocess.run(["git", "worktree", "add", "-q", "--detach", path, rev], check=True)
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=path, check=True, capture_output=True)
    return path


def _run(root: str, test: str, pipeline: int, shards: int, requests: int) -> tuple[float, list[float]]:
    import json

    out = subprocess.run([sys.executable, "-c", _CHILD, test, str(pipeline), str(shards), str(requests)], cwd=root, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    rps, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return rps, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD~1", help="the revision to compare this working tree with")
    ap.add_argument("--tests", default="set,get")
    ap.add_argument("--pipelines", default="16")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000, help="requests per test at -P 1 (x10 at higher -P)")
    args = ap.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = _worktree(args.base)
    sides = {f"base {args.base}": base, "this tree": here}
    results: dict[tuple[str, int, str], list[tuple[float, list[float]]]] = {}
    try:
        for rnd in range(args.rounds):
            for name, root in sides.items():
                for test in args.tests.split(","):
                    for p in map(int, args.pipelines.split(",")):
                        n = args.requests if p == 1 else args.requests * 10
                        res = _run(root, test, p, args.shards, n)
                        results.setdefault((test, p, name), []).append(res)
                        print(f"round {rnd + 1} {test} -P {p} {name}: {res[0]:,.0f} rps, CPU us/op {[round(c, 2) for c in res[1]]}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", base], check=False)
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{args.shards} shard(s), -c 50 -r 100000, median of {args.rounds} alternating rounds")
    for (test, p, name), runs in sorted(results.items()):
        cpu = [[round(c[i], 2) for _, c in runs] for i in range(len(runs[0][1]))]
        roles = ["front"] + [f"shard{i}" for i in range(len(cpu) - 1)]
        print(f"{test:6s} -P {p:<2d} {name:20s} {statistics.median(r for r, _ in runs):>10,.0f} rps   " + ", ".join(f"{role} {c}" for role, c in zip(roles, cpu, strict=True)))


if __name__ == "__main__":
    main()
