"""Shared-memory transport between the front process and shard workers.

Moves opaque byte messages only: nothing here knows about RESP or commands.
"""

from ipc.channel import Channel
from ipc.doorbell import Doorbell
from ipc.ring import Receiver, Ring, Sender
from ipc.shm import SharedRegion, sweep_stale

__all__ = ["Channel", "Doorbell", "Receiver", "Ring", "Sender", "SharedRegion", "sweep_stale"]
