"""shardctl: the operator's command line for a running shardserver.

Ownership: a client of the server's normal port (or unix socket), like
redis-cli; it never touches shared memory or the processes directly.  Every
number comes from INFO (the ``# Shards`` section is documented in
docs/operations.md); rates (ops/s, CPU %) are computed here from two samples.

Exit codes, for scripts:

- 0 ok
- 1 the server answered with an error (wrong password, NOAUTH, LOADING, ...)
- 2 usage error (argparse)
- 3 the server is unreachable: refused, timed out, unknown host, closed
- 4 not supported

``check-aof [--fix] DIR`` works offline on the AOF directory (see
``persistence/check.py``): 0 when every file is valid (or was fixed), 1 when
not.

Errors are one line on stderr naming the server (``host:port`` or the unix
socket); with ``--json`` an object ``{"error": ..., "exit_code": ...}`` is also
printed on stdout so that a script reading stdout always gets JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from shardserver.resp import encode_command

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from persistence.check import FileReport

EXIT_OK = 0
EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_UNSUPPORTED = 4

# One round trip gives everything `stats` shows.
STATS_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "cpu", "shards")


class CtlError(Exception):
    """A failure with its exit code; ``str()`` is the message for stderr."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- the connection


class Client:
    """A blocking RESP2 connection with AUTH and a timeout on every operation."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, unix: str = "", password: str = "", timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.unix = unix
        self.password = password
        self.timeout = timeout
        self.target = f"unix:{unix}" if unix else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def connect(self) -> None:
        import hiredis

        try:
            if self.unix:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.unix)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except TimeoutError:
            raise CtlError(f"cannot connect to {self.target}: timed out after {self.timeout:g}s", EXIT_UNREACHABLE) from None
        except socket.gaierror as exc:
            raise CtlError(f"cannot connect to {self.target}: unknown host ({exc.strerror})", EXIT_UNREACHABLE) from None
        except ConnectionRefusedError:
            raise CtlError(f"cannot connect to {self.target}: connection refused (is shardserver running?)", EXIT_UNREACHABLE) from None
        except FileNotFoundError:
            raise CtlError(f"cannot connect to {self.target}: no such socket (is shardserver running?)", EXIT_UNREACHABLE) from None
        except OSError as exc:
            raise CtlError(f"cannot connect to {self.target}: {exc.strerror or exc}", EXIT_UNREACHABLE) from None
        self._sock = sock
        self._reader = hiredis.Reader()
        if self.password:
            try:
                self.call("AUTH", self.password)
            except CtlError as exc:
                self.close()
                raise CtlError(f"authentication failed at {self.target}: {_error_text(exc)}", exc.code) from None

    def call(self, *argv: str) -> Any:
        """Send one command and return its reply; an error reply raises CtlError (exit 1)."""
        import hiredis

        if self._sock is None:
            self.connect()
        sock = self._sock
        assert sock is not None
        try:
            sock.sendall(encode_command([a.encode() for a in argv]))
            while True:
                reply = self._reader.gets()
                if reply is not False:
                    break
                data = sock.recv(1 << 16)
                if not data:
                    raise CtlError(f"{self.target} closed the connection", EXIT_UNREACHABLE)
                self._reader.feed(data)
        except CtlError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise CtlError(f"{self.target} did not answer within {self.timeout:g}s", EXIT_UNREACHABLE) from None
        except hiredis.ProtocolError as exc:
            self.close()
            raise CtlError(f"{self.target} does not speak RESP: {exc}", EXIT_UNREACHABLE) from None
        except OSError as exc:
            self.close()
            raise CtlError(f"connection to {self.target} failed: {exc.strerror or exc}", EXIT_UNREACHABLE) from None
        if isinstance(reply, hiredis.ReplyError):
            text = str(reply)
            if text.startswith("NOAUTH"):
                raise CtlError(f"{self.target} requires a password (use -a PASSWORD or REDISCLI_AUTH): {text}", EXIT_SERVER_ERROR)
            raise CtlError(f"{self.target} replied with an error: {text}", EXIT_SERVER_ERROR)
        return reply

    def info(self, *sections: str) -> dict[str, dict[str, str]]:
        reply = self.call("INFO", *sections)
        return parse_info(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply))

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def _error_text(exc: CtlError) -> str:
    """The server's own error text out of a CtlError message (for a shorter AUTH message)."""
    text = str(exc)
    marker = "replied with an error: "
    return text.split(marker, 1)[1] if marker in text else text


# ---------------------------------------------------------------- INFO parsing


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """INFO text -> {section (lower case): {field: raw value}}."""
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip().lower(), {})
        elif ":" in line:
            k, _, v = line.partition(":")
            current[k] = v
    if not sections[""]:
        del sections[""]
    return sections


def parse_fields(value: str) -> dict[str, str]:
    """``a=1,b=x y`` -> {"a": "1", "b": "x y"} (the shape of shard and keyspace lines)."""
    return dict(kv.split("=", 1) for kv in value.split(",") if "=" in kv)


_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")  # not "nan"/"inf": JSON has no such numbers


def typed(value: str) -> Any:
    """An INFO value as JSON: int, float, a dict for ``a=1,b=2`` lines, else the string."""
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if "=" in value:
        return {k: typed(v) for k, v in parse_fields(value).items()}
    return value


def parse_ranges(text: str) -> list[list[int]]:
    out = []
    for part in text.split():
        lo, _, hi = part.partition("-")
        out.append([int(lo), int(hi or lo)])
    return out


def _per_db(text: str) -> dict[str, int]:
    """``0:3 2:5`` -> {"0": 3, "2": 5}."""
    out = {}
    for part in text.split():
        db, _, n = part.partition(":")
        out[db] = int(n)
    return out


def shard_lines(info: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    section = info.get("shards")
    if section is None:
        raise CtlError("the server's INFO has no Shards section: is this a shardserver?", EXIT_SERVER_ERROR)
    n = int(section.get("shards", 0))
    return [parse_fields(section.get(f"shard{i}", "")) for i in range(n)]


# ---------------------------------------------------------------- stats model


class Sample:
    """One INFO snapshot, with the numbers stats needs pulled out."""

    def __init__(self, info: dict[str, dict[str, str]]) -> None:
        self.info = info
        server = info.get("server", {})
        self.time = int(server.get("server_time_usec", "0")) / 1e6 or time.time()
        self.shards = shard_lines(info)
        cpu = info.get("cpu", {})
        self.front_cpu = float(cpu.get("used_cpu_user_front", 0)) + float(cpu.get("used_cpu_sys_front", 0))
        self.commands = int(info.get("stats", {}).get("total_commands_processed", 0))


def _int_or_none(row: dict[str, str], key: str) -> int | None:
    value = row.get(key)
    return int(value) if value not in (None, "") else None


def _rate(delta: float, dt: float) -> float | None:
    if dt <= 0 or delta < 0:  # a counter went back: RESETSTAT or a restart
        return None
    return delta / dt


def build_stats(cur: Sample, prev: Sample | None, target: str) -> dict[str, Any]:
    """The stats model (what --json prints and the table shows); rates need ``prev``.

    Rates count every command, shardctl's own included: each sample is one
    INFO in the front and one or two internal commands in every shard.
    """
    dt = cur.time - prev.time if prev is not None else 0.0
    persistence = cur.info.get("persistence", {})
    aof_on = persistence.get("aof_enabled", "0") == "1"
    shards: list[dict[str, Any]] = []
    for i, row in enumerate(cur.shards):
        ready = row.get("state") == "ready"
        ranges = parse_ranges(row.get("slots", ""))
        pid = _int_or_none(row, "pid") or None
        entry: dict[str, Any] = {
            "shard": i,
            "pid": pid,
            "state": row.get("state", "unknown"),
            "slots": sum(hi - lo + 1 for lo, hi in ranges),
            "slot_ranges": ranges,
            "keys": None, "keys_per_db": None, "expires": None, "expires_per_db": None,
            "rss_bytes": None, "dataset_bytes": None,
            "ops_total": None, "ops_per_sec": None, "cpu_seconds": None, "cpu_percent": None,
            "ring_req_bytes": _int_or_none(row, "ring_req_bytes"),
            "ring_rep_bytes": _int_or_none(row, "ring_rep_bytes"),
            "ring_queued_bytes": _int_or_none(row, "ring_queued_bytes"),
            "ring_inflight": _int_or_none(row, "ring_inflight"),
            "backpressure_events": _int_or_none(row, "backpressure_events"),
            # from INFO persistence's shard<i>_aof line; null while AOF is off or the shard loads
            "aof_size_bytes": None,
            "aof_fsync_lag_seconds": None,
            "expired_keys": None, "evicted_keys": None,
            # Replaced since the previous sample (a restart takes ~10 ms: usually
            # between two samples, so the state alone would never show it).
            "restarted": False,
        }
        before = prev.shards[i] if prev is not None and i < len(prev.shards) else None
        aof = parse_fields(persistence.get(f"shard{i}_aof", ""))
        if aof_on and ready and "size" in aof:
            entry["aof_size_bytes"] = int(aof["size"])
            entry["aof_fsync_lag_seconds"] = int(aof.get("fsync_lag_ms", 0)) / 1000
        if ready:
            cpu = float(row.get("cpu_user", 0)) + float(row.get("cpu_sys", 0))
            ops = int(row.get("ops", 0))
            entry.update({
                "keys": int(row.get("keys", 0)),
                "keys_per_db": _per_db(row.get("db_keys", "")),
                "expires": int(row.get("expires", 0)),
                "expires_per_db": _per_db(row.get("db_expires", "")),
                "rss_bytes": _int_or_none(row, "rss"),
                "dataset_bytes": _int_or_none(row, "dataset"),
                "ops_total": ops,
                "cpu_seconds": round(cpu, 6),
                "expired_keys": _int_or_none(row, "expired_keys"),
                "evicted_keys": _int_or_none(row, "evicted_keys"),
            })
            if before is not None and (before.get("state") != "ready" or before.get("pid") != row.get("pid")):
                entry["restarted"] = True
            elif before is not None:
                ops_rate = _rate(ops - int(before.get("ops", 0)), dt)
                cpu_rate = _rate(cpu - float(before.get("cpu_user", 0)) - float(before.get("cpu_sys", 0)), dt)
                entry["ops_per_sec"] = None if ops_rate is None else round(ops_rate, 1)
                entry["cpu_percent"] = None if cpu_rate is None else round(cpu_rate * 100, 1)
        shards.append(entry)

    def total(key: str) -> Any:
        values = [s[key] for s in shards if s[key] is not None]
        return round(sum(values), 6) if values else None

    def total_per_db(key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in shards:
            for db, n in (s[key] or {}).items():
                out[db] = out.get(db, 0) + n
        return dict(sorted(out.items(), key=lambda kv: int(kv[0])))

    totals = {key: total(key) for key in (
        "keys", "expires", "rss_bytes", "dataset_bytes", "ops_total", "ops_per_sec", "cpu_seconds", "cpu_percent",
        "ring_req_bytes", "ring_rep_bytes", "ring_queued_bytes", "ring_inflight", "backpressure_events",
        "expired_keys", "evicted_keys",
    )}
    totals["slots"] = sum(s["slots"] for s in shards)
    totals["keys_per_db"] = total_per_db("keys_per_db")
    totals["expires_per_db"] = total_per_db("expires_per_db")
    totals["shards"] = len(shards)
    totals["shards_ready"] = sum(1 for s in shards if s["state"] == "ready")
    totals["aof_size_bytes"] = total("aof_size_bytes")
    lags = [s["aof_fsync_lag_seconds"] for s in shards if s["aof_fsync_lag_seconds"] is not None]
    totals["aof_fsync_lag_seconds"] = max(lags) if lags else None  # the worst shard

    info = cur.info
    front: dict[str, Any] = {
        "pid": _int_or_none(info.get("server", {}), "front_process_id"),
        "connections": _int_or_none(info.get("clients", {}), "connected_clients"),
        "commands_total": cur.commands,
        "ops_per_sec": None,
        "cpu_seconds": round(cur.front_cpu, 6),
        "cpu_percent": None,
        "rss_bytes": _int_or_none(info.get("memory", {}), "used_memory_front"),
    }
    if prev is not None:
        ops_rate = _rate(cur.commands - prev.commands, dt)
        cpu_rate = _rate(cur.front_cpu - prev.front_cpu, dt)
        front["ops_per_sec"] = None if ops_rate is None else round(ops_rate, 1)
        front["cpu_percent"] = None if cpu_rate is None else round(cpu_rate * 100, 1)
    return {
        "server": target,
        "time": cur.time,
        "interval": round(dt, 3) if prev is not None else None,
        "aof_enabled": info.get("persistence", {}).get("aof_enabled", "0") == "1",
        "front": front,
        "shards": shards,
        "totals": totals,
    }


# ---------------------------------------------------------------- rendering


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}B" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return str(n)


def _num(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def _per_db_text(per_db: dict[str, int] | None) -> str:
    if per_db is None:
        return "-"
    return " ".join(f"db{db}:{n}" for db, n in per_db.items()) or "-"


STATE_STYLE = {"ready": "green", "restarting": "bold red", "loading": "yellow"}


def stats_table(model: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    when = time.strftime("%H:%M:%S", time.localtime(model["time"]))
    sampled = f"rates over {model['interval']:.1f}s" if model["interval"] else "no rates: a single sample"
    aof = "AOF on" if model["aof_enabled"] else "AOF off"
    table = Table(
        title=f"shardserver {model['server']}  {when}  {sampled}  {aof}",
        box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
    )
    for name, justify in (
        ("shard", "left"), ("pid", "right"), ("state", "left"), ("slots", "right"), ("keys", "right"),
        ("keys/db", "left"), ("expires", "right"), ("rss", "right"), ("dataset", "right"), ("ops/s", "right"),
        ("cpu%", "right"), ("ring req/rep", "right"), ("bp", "right"), ("aof", "right"), ("fsync lag", "right"),
        ("expired", "right"), ("evicted", "right"), ("conns", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "keys/db")  # type: ignore[arg-type]

    def ring(row: dict[str, Any]) -> str:
        if row["ring_req_bytes"] is None:
            return "-"
        return f"{human_bytes(row['ring_req_bytes'])}/{human_bytes(row['ring_rep_bytes'])}"

    for s in model["shards"]:
        style = STATE_STYLE.get(s["state"], "")
        state = f"[{style}]{s['state']}[/]" if style else s["state"]
        if s["restarted"]:
            state += " [yellow](restarted)[/]"
        table.add_row(
            str(s["shard"]), _num(s["pid"]), state, str(s["slots"]),
            _num(s["keys"]), _per_db_text(s["keys_per_db"]), _num(s["expires"]),
            human_bytes(s["rss_bytes"]), human_bytes(s["dataset_bytes"]), _num(s["ops_per_sec"], "{:.0f}"),
            _num(s["cpu_percent"], "{:.1f}"), ring(s), _num(s["backpressure_events"]),
            human_bytes(s["aof_size_bytes"]), _num(s["aof_fsync_lag_seconds"], "{:.1f}s"),
            _num(s["expired_keys"]), _num(s["evicted_keys"]), "-",
        )
    t = model["totals"]
    table.add_section()
    table.add_row(
        "total", "", f"{t['shards_ready']}/{t['shards']} ready", str(t["slots"]), _num(t["keys"]),
        _per_db_text(t["keys_per_db"]), _num(t["expires"]), human_bytes(t["rss_bytes"]), human_bytes(t["dataset_bytes"]),
        _num(t["ops_per_sec"], "{:.0f}"), _num(t["cpu_percent"], "{:.1f}"), ring(t), _num(t["backpressure_events"]),
        human_bytes(t["aof_size_bytes"]), _num(t["aof_fsync_lag_seconds"], "{:.1f}s"),
        _num(t["expired_keys"]), _num(t["evicted_keys"]), "",
        style="bold",
    )
    f = model["front"]
    table.add_row(
        "front", _num(f["pid"]), "", "", "", "", "", human_bytes(f["rss_bytes"]), "",
        _num(f["ops_per_sec"], "{:.0f}"), _num(f["cpu_percent"], "{:.1f}"), "", "", "", "", "", "", _num(f["connections"]),
    )
    return table


def make_console() -> Console:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        # Piped or redirected: never squeeze columns into 80 characters.
        console = Console(width=max(console.width, 200), no_color=True, highlight=False)
    return console


def show(console: Console, renderable: Any) -> None:
    """Print one frame; off a terminal without rich's padding spaces at line ends."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as capture:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in capture.get().splitlines()))
    sys.stdout.flush()


# ---------------------------------------------------------------- subcommands


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cmd_ping(client: Client, args: argparse.Namespace) -> int:
    start = time.monotonic()
    reply = client.call("PING")
    ms = (time.monotonic() - start) * 1000
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    if args.json:
        _emit_json({"ok": True, "reply": text, "latency_ms": round(ms, 3), "server": client.target})
    else:
        print(text)
    return EXIT_OK


def cmd_info(client: Client, args: argparse.Namespace) -> int:
    reply = client.call("INFO", *args.section)
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if args.json:
        _emit_json({sec: {k: typed(v) for k, v in fields.items()} for sec, fields in parse_info(text).items()})
    else:
        sys.stdout.write(text.replace("\r\n", "\n"))
    return EXIT_OK


def cmd_shards(client: Client, args: argparse.Namespace) -> int:
    rows = shard_lines(client.info("shards"))
    if args.json:
        _emit_json({f"shard{i}": {k: typed(v) for k, v in row.items()} for i, row in enumerate(rows)})
    else:
        for i, row in enumerate(rows):
            print(f"shard{i}", " ".join(f"{k}={v}" for k, v in row.items()))
    return EXIT_OK


def cmd_slots(client: Client, args: argparse.Namespace) -> int:
    info = client.info("shards", "slotkeys") if args.keys else client.info("shards")
    per_db: dict[int, dict[int, int]] = {}
    for field, value in info.get("slotkeys", {}).items():
        db = int(field.removeprefix("db"))
        if args.db is None or db == args.db:
            per_db[db] = {int(k): int(v) for k, v in parse_fields(value).items()}
    out = []
    for i, row in enumerate(shard_lines(info)):
        ranges = parse_ranges(row.get("slots", ""))
        entry: dict[str, Any] = {
            "shard": i,
            "pid": _int_or_none(row, "pid") or None,
            "state": row.get("state", "unknown"),
            "slots": sum(hi - lo + 1 for lo, hi in ranges),
            "ranges": ranges,
        }
        if args.keys:
            mine: dict[str, dict[str, int]] = {}
            for db, counts in sorted(per_db.items()):
                owned = {str(slot): n for slot, n in counts.items() if any(lo <= slot <= hi for lo, hi in ranges)}
                if owned:
                    mine[str(db)] = owned
            entry["keys_per_slot"] = mine
        out.append(entry)
    if args.json:
        _emit_json({"server": client.target, "shards": out})
        return EXIT_OK
    for e in out:
        ranges_text = " ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in e["ranges"]) or "-"
        print(f"shard{e['shard']}  pid {_num(e['pid'])}  {e['state']}  {e['slots']} slots  {ranges_text}")
        if args.keys:
            rows = [(int(db), int(slot), n) for db, counts in e["keys_per_slot"].items() for slot, n in counts.items()]
            if not rows:
                print("  (no keys)")
            for db, slot, n in sorted(rows, key=lambda r: (r[1], r[0])):
                print(f"  slot {slot:>5}  db{db}  {n} keys")
    return EXIT_OK


def cmd_check_aof(client: Client | None, args: argparse.Namespace) -> int:
    from persistence.check import check, describe

    try:
        aofdir, reports = check(args.path, fix=args.fix)
    except (OSError, ValueError) as exc:
        raise CtlError(f"check-aof: {exc}", EXIT_SERVER_ERROR) from None
    bad = [r for r in reports if r.status != "ok" and not r.fixed]
    if args.json:
        print(json.dumps({"dir": aofdir, "files": [r.__dict__ for r in reports], "valid": not bad}))
    else:
        for r in reports:
            print(describe(r))
        print(f"AOF {aofdir}: " + ("valid" if not bad else f"{len(bad)} bad file(s); " + _check_aof_advice(bad, args.fix)))
    return EXIT_OK if not bad else EXIT_SERVER_ERROR


def _check_aof_advice(bad: list[FileReport], fixing: bool) -> str:
    """What the user can do next about files --fix did not repair (or that were only checked)."""
    if any(r.status == "missing" or not r.last for r in bad):
        return ("--fix cut nothing: " if fixing else "") + "a missing or damaged earlier file needs a backup"
    return "shardctl check-aof --fix cuts them at the first bad record"


def _samples(client: Client, interval: float, count: int) -> Iterator[tuple[Sample | None, Sample | None, CtlError | None]]:
    """(current, previous, error) every ``interval`` seconds; ``count`` 0 means forever.

    The sleep is the sampling period of a monitor, not synchronisation: the
    numbers are cumulative counters read at the server's own clock.
    """
    prev: Sample | None = None
    next_at = time.monotonic()
    n = 0
    while count == 0 or n < count:
        try:
            cur: Sample | None = Sample(client.info(*STATS_SECTIONS))
            error = None
        except CtlError as exc:
            cur, error = None, exc
        yield cur, prev, error
        prev = cur
        n += 1
        if count and n >= count:
            return
        next_at += interval
        time.sleep(max(next_at - time.monotonic(), 0.0))


def cmd_stats(client: Client, args: argparse.Namespace) -> int:
    if args.interval < 0:
        raise CtlError("--interval must be >= 0", EXIT_USAGE)
    if not args.watch:
        first = Sample(client.info(*STATS_SECTIONS))
        prev, cur = None, first
        if args.interval > 0:
            # Rates need two samples: wait one interval (see _samples).
            time.sleep(args.interval)
            prev, cur = first, Sample(client.info(*STATS_SECTIONS))
        model = build_stats(cur, prev, client.target)
        if args.json:
            _emit_json(model)
        else:
            show(make_console(), stats_table(model))
        return EXIT_OK
    return watch(client, args)


def watch(client: Client, args: argparse.Namespace) -> int:
    """A refreshing view: rich.live on a terminal; one frame (or JSON line) per sample otherwise.

    A failed sample after the first is shown and retried (the server may be
    restarting); the exit code is that of the last sample.
    """
    interval = args.interval or 1.0
    console = make_console()
    live_view = console.is_terminal and not args.json
    code = EXIT_OK
    samples = _samples(client, interval, args.count)

    def frames(emit: Callable[[Any], None]) -> int:
        first = True
        code = EXIT_OK
        for cur, prev, error in samples:
            if error is not None:
                if first:
                    raise error
                code = error.code
                if args.json:
                    _emit_json({"error": str(error), "exit_code": error.code, "time": time.time()})
                else:
                    emit(f"[bold red]shardctl: {error}[/] (retrying every {interval:g}s)")
                continue
            assert cur is not None
            code = EXIT_OK
            first = False
            model = build_stats(cur, prev, client.target)
            if args.json:
                _emit_json(model)
            else:
                emit(stats_table(model))
        return code

    try:
        if live_view:
            from rich.live import Live

            with Live(console=console, auto_refresh=False, transient=False) as live:
                code = frames(lambda r: live.update(r, refresh=True))
        else:
            code = frames(lambda r: show(console, r))
    except KeyboardInterrupt:
        pass
    return code


# ---------------------------------------------------------------- argument parsing


def _connection_options(p: argparse.ArgumentParser, top: bool) -> None:
    """Options accepted before and after the subcommand (after: they override)."""

    def d(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    p.add_argument("-H", "--host", default=d("127.0.0.1"), help="server host (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=d(6379), help="server port (default 6379)")
    p.add_argument("-s", "--socket", default=d(""), help="unix socket path instead of host/port")
    p.add_argument("-a", "--password", default=d(os.environ.get("REDISCLI_AUTH", "")),
                   help="password for AUTH (default: $REDISCLI_AUTH)")
    p.add_argument("--timeout", type=float, default=d(5.0), help="seconds for connect and each reply (default 5)")
    p.add_argument("--json", action="store_true", default=d(False), help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shardctl",
        description="Operate a running shardserver over its normal port.",
        epilog="Exit codes: 0 ok, 1 server error reply, 2 usage, 3 unreachable, 4 not supported yet.",
    )
    _connection_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, top=False)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="command")
    sub.add_parser("ping", parents=[common], help="check that the server answers")
    p_info = sub.add_parser("info", parents=[common], help="print INFO (optionally some sections)")
    p_info.add_argument("section", nargs="*", help="sections, e.g. shards; 'slotkeys' is only sent when named")
    p_stats = sub.add_parser("stats", parents=[common], help="per-shard table: state, keys, memory, ops/s, CPU, rings")
    p_stats.add_argument("--interval", type=float, default=1.0,
                         help="seconds between the two samples rates come from, or between refreshes (0: one sample, no rates)")
    p_stats.add_argument("--watch", action="store_true", help="refresh until interrupted (rich live view on a terminal)")
    p_stats.add_argument("--count", type=int, default=0, help="with --watch: stop after N refreshes (0 = never)")
    p_slots = sub.add_parser("slots", parents=[common], help="the slot ranges each shard owns")
    p_slots.add_argument("--keys", action="store_true", help="also keys per non-empty slot")
    p_slots.add_argument("--db", type=int, default=None, help="with --keys: only this database")
    sub.add_parser("shards", parents=[common], help="raw INFO shards fields, one line per shard")
    check_aof = sub.add_parser("check-aof", parents=[common], help="check (and with --fix repair) the AOF files in DIR, offline")
    check_aof.add_argument("--fix", action="store_true", help="cut a truncated or corrupt file at its first bad record")
    check_aof.add_argument("path", metavar="DIR", help="the AOF directory (or the server's dir, or the manifest)")
    return parser


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "ping": cmd_ping,
    "info": cmd_info,
    "stats": cmd_stats,
    "slots": cmd_slots,
    "shards": cmd_shards,
    "check-aof": cmd_check_aof,
}


def run(argv: list[str] | None = None) -> int:
    """Parse, run, and return the exit code (argparse itself exits 2 on usage errors)."""
    args = build_parser().parse_args(argv)
    client = Client(args.host, args.port, args.socket, args.password, args.timeout)
    try:
        if args.cmd != "check-aof":
            client.connect()
        return COMMANDS[args.cmd](client, args)
    except CtlError as exc:
        print(f"shardctl: {exc}", file=sys.stderr)
        if args.json:
            _emit_json({"error": str(exc), "exit_code": exc.code})
        return exc.code
    except BrokenPipeError:  # e.g. `shardctl stats --watch | head`: the reader is gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
