"""sd_notify: tell systemd about readiness and state over ``$NOTIFY_SOCKET``.

Ownership: only the supervisor notifies (the unit says ``NotifyAccess=main``,
so systemd would drop a child's messages anyway).  The protocol is one
datagram of newline-separated ``KEY=VALUE`` lines to a unix datagram socket
whose path is in ``$NOTIFY_SOCKET``; a leading ``@`` names a socket in the
abstract namespace (the ``@`` stands for the leading NUL byte).  Without
``$NOTIFY_SOCKET`` (not under systemd) every call is a no-op, so the server
behaves the same when started by hand.

The watchdog follows ``sd_watchdog_enabled(3)``: ``$WATCHDOG_USEC`` is the
timeout systemd enforces, and ``$WATCHDOG_PID``, when set, names the one
process the setting is for -- a process that is not that pid must not ping.

Implemented with the ``socket`` module on purpose: the protocol is ten lines
and ``libsystemd`` bindings would be a compiled dependency for no gain.
"""

from __future__ import annotations

import os
import socket

# What a child process must not inherit: a forked front or shard that notified
# would confuse systemd (NotifyAccess=main drops it, with a log line each time).
_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
SEND_TIMEOUT = 1.0


def _address(path: str) -> str:
    """The ``sendto`` address for a ``$NOTIFY_SOCKET`` value ('@name' is abstract)."""
    return "\0" + path[1:] if path.startswith("@") else path


def enabled() -> bool:
    """True when systemd (or a test) listens on ``$NOTIFY_SOCKET``."""
    return bool(os.environ.get("NOTIFY_SOCKET"))


def notify(*lines: str) -> bool:
    """Send ``lines`` (``READY=1``, ``STATUS=...``) as one datagram; False if not sent.

    One datagram per call, so the lines of one state change arrive together
    (systemd applies them atomically).  Errors are swallowed: losing a status
    update must never take the server down; a lost ``WATCHDOG=1`` is covered
    by the next one, sent twice per watchdog period.
    """
    path = os.environ.get("NOTIFY_SOCKET")
    if not path or not lines:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # A full receive queue (systemd not reading) blocks a datagram send: wait
            # a little so READY=1 survives a burst, but never hang the supervisor.
            sock.settimeout(SEND_TIMEOUT)
            sock.sendto("\n".join(lines).encode(), _address(path))
    except OSError:
        return False
    return True


def watchdog_usec() -> int:
    """The watchdog timeout in microseconds systemd expects us to honour; 0 if none.

    Like ``sd_watchdog_enabled()``: ``$WATCHDOG_USEC`` must be a positive
    integer, and ``$WATCHDOG_PID``, when set, must be this process's pid.
    Without ``$NOTIFY_SOCKET`` there is nobody to ping, so 0.
    """
    if not enabled():
        return 0
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return 0
    if usec <= 0:
        return 0
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return 0
        except ValueError:
            return 0
    return usec


def forget() -> None:
    """Drop the notify and watchdog variables from this process's environment.

    Called in every forked child: only the supervisor talks to systemd.
    """
    for name in _ENV:
        os.environ.pop(name, None)
