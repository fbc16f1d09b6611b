"""Strings edited in place (APPEND, SETRANGE, SETBIT, BITFIELD) on a large value, side by side
with Valkey 9 and Redis 7 on the same machine in one run.

One client sends each workload in pipelined chunks (the commands encoded once
beforehand, the replies counted, so the client costs little beside the
server).  The value grows to ``--mb`` MB by APPENDs of 1 KB; then random
SETRANGEs of 16 bytes, SETBITs and BITFIELD SETs land anywhere in it, and
GETRANGEs read 64-byte slices of it.  Each server edits the value in place:
a command costs what it changes, whatever the value's size.  Then single
commands on a bitmap of 512 MB less 1 KB (``--huge-mb``): SETBIT at its last
bit creating it, BITCOUNT, BITPOS of a bit at its end and of one at its start, an APPEND
and a SETRANGE at its end.

    python bench/string_edits.py --rounds 3 --mb 32 --write
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time

import hiredis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.aof import Target, all_targets  # noqa: E402
from bench.redis_benchmark import write_doc  # noqa: E402
from shardserver.resp import encode_command  # noqa: E402

KEY = b"{edits}big"
CHUNK = 1000  # commands per pipelined send


def workloads(mb: int, ops: int, seed: int) -> list[tuple[str, list[bytes], int]]:
    """(name, encoded chunks, commands) per workload, in the order they run."""
    rnd = random.Random(seed)
    size = mb << 20
    piece = b"x" * 1024

    def chunks(cmds: list[list[bytes]]) -> list[bytes]:
        return [b"".join(encode_command(c) for c in cmds[i : i + CHUNK]) for i in range(0, len(cmds), CHUNK)]

    appends = [[b"APPEND", KEY, piece] for _ in range(size // 1024)]
    setranges = [[b"SETRANGE", KEY, b"%d" % rnd.randrange(size - 16), b"%016x" % rnd.getrandbits(64)] for _ in range(ops)]
    setbits = [[b"SETBIT", KEY, b"%d" % rnd.randrange(size * 8), b"%d" % rnd.getrandbits(1)] for _ in range(ops)]
    fields = [[b"BITFIELD", KEY, b"SET", b"u32", b"%d" % rnd.randrange(size * 8 - 32), b"%d" % rnd.getrandbits(32)] for _ in range(ops)]
    getranges = [[b"GETRANGE", KEY, b"%d" % (at := rnd.randrange(size - 64)), b"%d" % (at + 63)] for _ in range(ops)]
    return [
        ("APPEND 1 KB (to the full size)", chunks(appends), len(appends)),
        ("SETRANGE 16 B", chunks(setranges), ops),
        ("SETBIT", chunks(setbits), ops),
        ("BITFIELD SET u32", chunks(fields), ops),
        ("GETRANGE 64 B", chunks(getranges), ops),
    ]


def huge_commands(mb: int) -> list[tuple[str, list[bytes]]]:
    """(name, command) run one at a time on a bitmap of ``mb`` MB, in order."""
    key = b"{edits}huge"
    last = ((mb << 20) - 1024) * 8 - 1  # room for the APPEND below proto-max-bulk-len (512 MB)
    return [
        (f"SETBIT at bit {last} (creates {mb} MB - 1 KB)", [b"SETBIT", key, b"%d" % last, b"1"]),
        ("BITCOUNT (whole value)", [b"BITCOUNT", key]),
        ("BITPOS 1 (the last bit)", [b"BITPOS", key, b"1"]),
        ("BITPOS 0 (the first bit)", [b"BITPOS", key, b"0"]),
        ("APPEND 1 KB", [b"APPEND", key, b"x" * 1024]),
        ("SETRANGE 16 B at its end", [b"SETRANGE", key, b"%d" % ((mb << 20) - 16), b"y" * 16]),
        ("DEL", [b"DEL", key]),
    ]


def run_one(port: int, cmd: list[bytes]) -> float:
    """Seconds for one command's round trip."""
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        t0 = time.perf_counter()
        s.sendall(encode_command(cmd))
        while (reply := reader.gets()) is False:
            data = s.recv(1 << 16)
            if not data:
                raise RuntimeError(f"{cmd[0]!r}: the server closed the connection")
            reader.feed(data)
        secs = time.perf_counter() - t0
    if isinstance(reply, hiredis.ReplyError):
        raise RuntimeError(f"{cmd[0]!r}: {reply}")
    return secs


def run_workload(port: int, name: str, chunks: list[bytes]) -> float:
    """Seconds to send every chunk and read all its replies, one chunk in flight at a time."""
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        for chunk in chunks:
            want = chunk.count(b"\r\n*") + 1  # commands in the chunk
            s.sendall(chunk)
            got = 0
            while got < want:
                data = s.recv(1 << 20)
                if not data:
                    raise RuntimeError(f"{name}: the server closed the connection")
                reader.feed(data)
                while (reply := reader.gets()) is not False:
                    if isinstance(reply, hiredis.ReplyError):
                        raise RuntimeError(f"{name}: {reply}")
                    got += 1
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=32, help="size the APPENDs build")
    ap.add_argument("--ops", type=int, default=100_000, help="commands per random-edit workload")
    ap.add_argument("--huge-mb", type=int, default=512, help="size of the bitmap single commands work on (0: none)")
    ap.add_argument("--shards", default="1,2")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks-strings.md")
    args = ap.parse_args()
    targets = all_targets(args.shards, args.no_redis)
    work = workloads(args.mb, args.ops, seed=11)
    huge = huge_commands(args.huge_mb) if args.huge_mb else []
    times: dict[tuple[str, str], list[float]] = {}
    for rnd in range(args.rounds):
        for t in targets:
            workdir = tempfile.mkdtemp(prefix=f"bench-edits-{t.kind}-")
            port, handle = t.start(workdir, "off")
            try:
                for name, chunks, n in work:
                    secs = run_workload(port, name, chunks)
                    times.setdefault((t.name, name), []).append(secs)
                    print(f"round {rnd + 1} {t.name:22s} {name:32s} {secs:8.3f} s {n / secs:>12,.0f} ops/s", flush=True)
                for name, cmd in huge:
                    secs = run_one(port, cmd)
                    times.setdefault((t.name, name), []).append(secs)
                    print(f"round {rnd + 1} {t.name:22s} {name:32s} {secs:8.3f} s", flush=True)
            finally:
                t.stop(handle)
                shutil.rmtree(workdir, ignore_errors=True)
    table = render(targets, work, huge, times, args)
    print(table)
    if args.write:
        write_doc("benchmarks-strings.md", table)


def render(
    targets: list[Target],
    work: list[tuple[str, list[bytes], int]],
    huge: list[tuple[str, list[bytes]]],
    times: dict[tuple[str, str], list[float]],
    args: argparse.Namespace,
) -> str:
    import platform

    import psutil

    lines = [
        "# Strings edited in place",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node() or 'this machine'}: "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total // 2**30} GiB, Python {platform.python_version()}, AOF off.",
        "",
        f"Command: `python bench/string_edits.py {' '.join(sys.argv[1:])}`",
        "",
        f"One client, pipelined {CHUNK} commands at a time, on one key: APPENDs of 1 KB build a "
        f"{args.mb} MB value, then {args.ops:,} random SETRANGEs, SETBITs, BITFIELD SETs and GETRANGEs anywhere in it. "
        f"Median of {args.rounds} rounds, a fresh server per round.",
        "",
        "| workload | server | seconds | ops/s | x Valkey |",
        "|---|---|---|---|---|",
    ]
    for name, _, n in work:
        base = statistics.median(times[(targets[0].name, name)])
        for t in targets:
            secs = statistics.median(times[(t.name, name)])
            lines.append(f"| {name} | {t.name} | {secs:.3f} | {n / secs:,.0f} | {base / secs:.2f} |")
    if huge:
        lines += [
            "",
            f"Single commands on a {args.huge_mb} MB bitmap, one after another (median seconds of the round trip):",
            "",
            "| command | " + " | ".join(t.name for t in targets) + " |",
            "|---|" + "---|" * len(targets),
        ]
        for name, _ in huge:
            lines.append(f"| {name} | " + " | ".join(f"{statistics.median(times[(t.name, name)]):.4f}" for t in targets) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
