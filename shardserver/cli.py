"""shardctl: the operator's command line for a running shardserver.

Ownership: a client of the server's normal port, like redis-cli; it never
touches shared memory or the processes directly.  Exit codes: 0 ok, 1 the
server answered with an error, 2 usage error, 3 the server is unreachable.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

from shardserver.resp import encode_command


def _request(args: argparse.Namespace, *argv: str) -> Any:
    import hiredis

    if args.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(args.timeout)
        sock.connect(args.socket)
    else:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    with sock:
        reader = hiredis.Reader()
        commands = []
        if args.password:
            commands.append(["AUTH", args.password])
        commands.append(list(argv))
        for cmd in commands:
            sock.sendall(encode_command([c.encode() for c in cmd]))
            while True:
                reply = reader.gets()
                if reply is not False:
                    break
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                reader.feed(data)
            if isinstance(reply, hiredis.ReplyError):
                raise RuntimeError(str(reply))
        return reply


def _parse_info(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip().lower(), {})
        elif ":" in line:
            k, _, v = line.partition(":")
            current[k] = v
    return sections


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shardctl", description="Operate a running shardserver.")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=6379)
    parser.add_argument("-s", "--socket", default="", help="unix socket path instead of host/port")
    parser.add_argument("-a", "--password", default="")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ping", help="check that the server answers")
    p_info = sub.add_parser("info", help="print INFO (optionally one section)")
    p_info.add_argument("section", nargs="?", default="")
    sub.add_parser("shards", help="one line per shard: pid, slots, keys, ops")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "ping":
            reply = _request(args, "PING")
            print(json.dumps({"ok": True, "reply": reply.decode()}) if args.json else reply.decode())
        elif args.cmd == "info":
            text = _request(args, "INFO", *([args.section] if args.section else [])).decode()
            print(json.dumps(_parse_info(text)) if args.json else text)
        elif args.cmd == "shards":
            info = _parse_info(_request(args, "INFO", "shards").decode()).get("shards", {})
            rows = {k: dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv) for k, v in info.items() if k.startswith("shard") and k != "shards"}
            if args.json:
                print(json.dumps(rows))
            else:
                for name, row in rows.items():
                    print(name, " ".join(f"{k}={v}" for k, v in row.items()))
    except (ConnectionError, OSError) as exc:
        print(f"shardctl: cannot reach the server: {exc}", file=sys.stderr)
        sys.exit(3)
    except RuntimeError as exc:
        print(f"shardctl: server error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
