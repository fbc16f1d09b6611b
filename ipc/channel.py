"""One front<->shard link: a request ring, a reply ring and their doorbells.

Ownership rule: the supervisor creates every Channel before forking; the front
process is the producer of ``requests`` and the consumer of ``replies``, the
shard worker the reverse. The producer of a ring rings that ring's bell
(front rings ``req_bell``, shard rings ``rep_bell``); the consumer waits on it.
Each process closes its own copies; ``reset`` only while the peer is dead.
"""

from __future__ import annotations

from ipc.doorbell import Doorbell
from ipc.ring import Ring
from ipc.shm import SharedRegion


class Channel:
    """Both directions between the front and shard ``index`` in one SharedRegion."""

    __slots__ = ("index", "region", "requests", "replies", "req_bell", "rep_bell")

    def __init__(
        self,
        index: int,
        region: SharedRegion,
        requests: Ring,
        replies: Ring,
        req_bell: Doorbell,
        rep_bell: Doorbell,
    ) -> None:
        self.index = index
        self.region = region
        self.requests = requests
        self.replies = replies
        self.req_bell = req_bell
        self.rep_bell = rep_bell

    @classmethod
    def create(cls, index: int, capacity: int = 1 << 22) -> Channel:
        """Allocate both rings (``capacity`` data bytes each) and both doorbells."""
        ring_size = Ring.required_size(capacity)
        # ring_size is 128 + a power of two >= 4096, so the second ring's header
        # stays 64-byte aligned (one cache line per side).
        region = SharedRegion.create(2 * ring_size, f"ch{index}")
        try:
            requests = Ring(region.buf, 0, capacity, init=True)
            replies = Ring(region.buf, ring_size, capacity, init=True)
        except BaseException:
            region.close()
            raise
        return cls(index, region, requests, replies, Doorbell(), Doorbell())

    def reset(self) -> None:
        """Empty both rings and forget stale rings (only while the peer is dead)."""
        self.requests.reset()
        self.replies.reset()
        # Stale rings would only cause a spurious wake-up, but clearing is free.
        self.req_bell.drain()
        self.rep_bell.drain()

    def close(self) -> None:
        """Release this process's views, mapping and fds."""
        self.requests.release()
        self.replies.release()
        self.region.close()
        self.req_bell.close()
        self.rep_bell.close()

    def __repr__(self) -> str:
        return f"Channel(index={self.index}, requests={self.requests!r}, replies={self.replies!r})"
