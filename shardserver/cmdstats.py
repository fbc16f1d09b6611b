"""Per-command statistics and the slow log, kept by every process that runs commands.

Ownership: each shard keeps the numbers of the commands it ran, the front those
of the commands it answers itself and the calls it rejected (arity, auth).  The
front merges snapshots for INFO commandstats / errorstats / latencystats,
LATENCY HISTOGRAM and SLOWLOG.  Pure data: no I/O.

Latencies go into power-of-two nanosecond buckets (bucket i holds durations in
[2^(i-1), 2^i) ns): cheap to update on every call, mergeable across processes,
and what LATENCY HISTOGRAM reports (after conversion to microseconds).
Percentiles derived from them are bucket-resolution approximations.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

BUCKETS = 64
CALLS, NANOS, FAILED, REJECTED, HIST = range(5)


def new_entry() -> list[Any]:
    return [0, 0, 0, 0, [0] * BUCKETS]


class CommandStats:
    def __init__(self) -> None:
        self.commands: dict[str, list[Any]] = {}
        self.errors: dict[str, int] = {}
        # latency monitor: event -> [max ms, deque of [unix seconds, ms]] (one sample per second)
        self.latency: dict[str, list[Any]] = {}

    def note_latency(self, event: str, ms: int, threshold_ms: int) -> None:
        """Record a latency spike when the monitor is on (threshold > 0) and it is reached."""
        if threshold_ms <= 0 or ms < threshold_ms:
            return
        now = int(time.time())
        slot = self.latency.get(event)
        if slot is None:
            slot = self.latency[event] = [0, deque(maxlen=160)]
        slot[0] = max(slot[0], ms)
        samples = slot[1]
        if samples and samples[-1][0] == now:
            samples[-1][1] = max(samples[-1][1], ms)
        else:
            samples.append([now, ms])

    def reset_latency(self, events: list[bytes]) -> None:
        if not events:
            self.latency.clear()
        for event in events:
            self.latency.pop(event.decode("utf-8", "surrogateescape"), None)

    def entry(self, name: str) -> list[Any]:
        e = self.commands.get(name)
        if e is None:
            e = self.commands[name] = new_entry()
        return e

    def record(self, name: str, nanos: int, failed: bool = False, calls: int = 1) -> None:
        """``calls`` calls of ``nanos`` each (several: the front's PINGs, answered too fast to time)."""
        e = self.entry(name)
        e[CALLS] += calls
        e[NANOS] += nanos * calls
        e[HIST][nanos.bit_length()] += calls
        if failed:
            e[FAILED] += 1

    def fail(self, name: str, error_text: str) -> None:
        """A call already counted ended with an error (a reply that came later)."""
        self.entry(name)[FAILED] += 1
        self.error(error_text)

    def reject(self, name: str | None, error_text: str) -> None:
        if name is not None:
            self.entry(name)[REJECTED] += 1
        self.error(error_text)

    def error(self, text: str) -> None:
        code = text.split(" ", 1)[0]
        self.errors[code] = self.errors.get(code, 0) + 1

    def snapshot(self) -> dict[bytes, Any]:
        for e in self.commands.values():  # shards skip counting calls on the hot path
            e[CALLS] = max(e[CALLS], sum(e[HIST]))
        return {
            b"commands": {k.encode(): v for k, v in self.commands.items()},
            b"errors": {k.encode(): v for k, v in self.errors.items()},
            b"latency": {k.encode(): [v[0], [list(x) for x in v[1]]] for k, v in self.latency.items()},
        }

    def reset(self) -> None:
        self.commands.clear()
        self.errors.clear()


def merge(snapshots: list[dict[bytes, Any]]) -> tuple[dict[str, list[Any]], dict[str, int]]:
    commands: dict[str, list[Any]] = {}
    errors: dict[str, int] = {}
    for snap in snapshots:
        for raw, e in snap[b"commands"].items():
            name = raw.decode() if isinstance(raw, bytes) else raw
            acc = commands.setdefault(name, new_entry())
            for i in (CALLS, NANOS, FAILED, REJECTED):
                acc[i] += e[i]
            hist = acc[HIST]
            for i, n in enumerate(e[HIST]):
                hist[i] += n
        for raw, n in snap[b"errors"].items():
            code = raw.decode() if isinstance(raw, bytes) else raw
            errors[code] = errors.get(code, 0) + n
    return commands, errors


def percentile_usec(hist: list[int], pct: float) -> float:
    """The upper bound (in microseconds) of the bucket holding the pct-th percentile."""
    total = sum(hist)
    if not total:
        return 0.0
    target = total * pct / 100.0
    seen = 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= target:
            return (1 << i) / 1000.0
    return (1 << (len(hist) - 1)) / 1000.0


def histogram_usec(hist: list[int]) -> dict[int, int]:
    """Cumulative counts per power-of-two microsecond bucket, like LATENCY HISTOGRAM."""
    out: dict[int, int] = {}
    cumulative = 0
    for i, n in enumerate(hist):
        if not n:
            continue
        cumulative += n
        usec = max(1, 1 << max(i - 10, 0))  # 2^i ns is about 2^(i-10) us
        out[usec] = cumulative
    return out


class SlowLog:
    """The last ``max_len`` commands slower than ``slower_than`` microseconds."""

    def __init__(self, slower_than: int = 10000, max_len: int = 128) -> None:
        self.slower_than = slower_than
        self.entries: deque[list[Any]] = deque(maxlen=max(max_len, 0) or None)
        self.max_len = max_len
        self.next_id = 0

    def configure(self, slower_than: int | None = None, max_len: int | None = None) -> None:
        if slower_than is not None:
            self.slower_than = slower_than
        if max_len is not None:
            self.max_len = max_len
            self.entries = deque(list(self.entries)[-max_len:] if max_len else [], maxlen=max_len or None)

    def maybe_add(self, micros: int, argv: list[bytes], conn_id: int) -> None:
        if self.slower_than < 0 or micros < self.slower_than or self.max_len == 0:
            return
        shown: list[bytes] = []
        for i, arg in enumerate(argv):
            if i == 31 and len(argv) > 32:  # Valkey keeps 32 arguments, the last says how many more
                shown.append(b"... (%d more arguments)" % (len(argv) - 31))
                break
            if len(arg) > 128:
                arg = arg[:128] + b"... (%d more bytes)" % (len(arg) - 128)
            shown.append(arg)
        self.entries.append([self.next_id, int(time.time()), micros, shown, conn_id])
        self.next_id += 1
