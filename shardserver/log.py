"""Valkey-style log lines: ``pid:role dd Mon yyyy HH:MM:SS.mmm <level> message``.

Ownership: every process logs through ``log``; the role names the process
(``S`` supervisor, ``F`` front, ``H<n>`` shard n).  Lines go to stdout (the
journal under systemd) or to ``logfile``, one write per line so the processes'
lines never interleave mid-line.
"""

from __future__ import annotations

import os
import sys
import time

LEVELS = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}
_MARKS = {0: ".", 1: "-", 2: "*", 3: "#"}

_state = {"role": "S", "level": 2, "fd": 1}


def setup(role: str, level: str = "notice", logfile: str = "") -> None:
    _state["role"] = role
    _state["level"] = LEVELS.get(level, 2)
    if logfile:
        _state["fd"] = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    else:
        _state["fd"] = sys.stdout.fileno()


def set_role(role: str) -> None:
    _state["role"] = role


def set_level(level: str) -> None:
    _state["level"] = LEVELS.get(level, 2)


def log(message: str, level: int = 2) -> None:
    if level < _state["level"]:
        return
    now = time.time()
    stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    line = f"{os.getpid()}:{_state['role']} {stamp} {_MARKS.get(level, '*')} {message}\n"
    try:
        os.write(_state["fd"], line.encode("utf-8", "replace"))
    except OSError:
        pass


def debug(message: str) -> None:
    log(message, 0)


def verbose(message: str) -> None:
    log(message, 1)


def notice(message: str) -> None:
    log(message, 2)


def warning(message: str) -> None:
    log(message, 3)
