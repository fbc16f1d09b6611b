"""sd_notify: tell systemd about readiness and state over ``$NOTIFY_SOCKET``.

Ownership: only the supervisor notifies.  The protocol is one datagram of
``KEY=VALUE`` lines to a unix socket; a leading ``@`` names an abstract socket.
Without ``$NOTIFY_SOCKET`` (not under systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(lines).encode(), address)
    except OSError:
        return False
    return True
