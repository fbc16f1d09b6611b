"""Persistence commands the front fans out to every shard: BGREWRITEAOF, BGSAVE, SAVE,
LASTSAVE, and the waits for durability, WAITAOF and WAIT.

Ownership: the front only orchestrates; each shard rewrites or snapshots its
own files (``shardserver/shard/persist.py``).  With ``appendonly yes`` a
snapshot *is* an AOF rewrite (the new base files); with ``appendonly no``
SAVE/BGSAVE write base files alone, which the next start loads, as Valkey
loads its RDB file.

WAITAOF asks every shard (``__waitaof``, sent after the client's earlier
commands, so their records are among what it covers) whether its records are
fsynced, and with numlocal 1 has them fsynced now.  The count is 1 only when
every shard answers 1.  A shard judges by all the records it has taken, not
only this client's: where Valkey compares the client's own offset, numlocal 0
can answer 0 for a client whose own writes are on disk while another
client's are not.  There are no replicas: a wait for replicas (WAIT with
numreplicas above 0, WAITAOF with numreplicas above 0 or a local count that
``appendfsync no`` never reaches) blocks the client until its timeout (0:
forever), CLIENT UNBLOCK or disconnect, and then answers what it found when
it started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shardserver import errors
from shardserver.errors import CommandError
from shardserver.front.blocking import Blocker
from shardserver.front.handlers import front
from shardserver.numbers import parse_int, parse_ms_timeout, strict_int
from shardserver.resp import OK, ErrorReply, Simple

if TYPE_CHECKING:
    from shardserver.front.connection import ClientConnection
    from shardserver.front.server import Front


def _all_shards(fr: Front, cmd: list[bytes]) -> Any:
    """Run ``cmd`` on every shard; a shard still loading is an error, as Valkey is while loading."""
    for link in fr.links:
        if not link.up:
            raise CommandError(errors.loading_shard(link.index))
    futures = [fr.call(link.index, 0, [cmd]) for link in fr.links]

    async def replies() -> list[Any]:
        return [(await f)[0] for f in futures]

    return replies()


def _not_started(replies: list[Any], running: tuple[str, ...]) -> str | None:
    """Why nothing started, from the shards' ``__bgrewriteaof``/``__bgsave`` replies (None: it did).

    None when any shard started or scheduled one; otherwise "failed" when a
    shard could not start one (its directory cannot be used; the shard logged
    why), else the ``running`` error every shard gave (the first of them the
    shards gave, in ``running``'s order).
    """
    errs = [r.text for r in replies if isinstance(r, ErrorReply)]
    if any(e not in running for e in errs):
        return "failed"
    if len(errs) < len(replies):
        return None
    return next(e for e in running if e in errs)


@front("bgrewriteaof")
def bgrewriteaof(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__bgrewriteaof"])

    async def run() -> Any:
        replies = await pending
        why = _not_started(replies, (errors.AOF_REWRITE_RUNNING,))
        if why is not None:
            raise CommandError(errors.AOF_REWRITE_FAILED if why == "failed" else why)
        # as Valkey: while a BGSAVE runs the rewrite waits for it
        if any(r == b"scheduled" for r in replies):
            return Simple("Background append only file rewriting scheduled")
        return Simple("Background append only file rewriting started")

    return run()


@front("bgsave")
def bgsave(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise CommandError(errors.SYNTAX)
    opt = argv[1].lower() if len(argv) == 2 else b""
    if opt not in (b"", b"schedule", b"cancel"):
        raise CommandError(errors.SYNTAX)
    if opt == b"cancel":
        pending = _all_shards(fr, [b"__bgcancel"])

        async def cancel() -> Any:
            replies = await pending
            if not any(replies):
                raise CommandError(errors.BGSAVE_NOT_RUNNING)
            if any(r == b"scheduled" for r in replies) and not any(r == b"running" for r in replies):
                return Simple("Scheduled background saving cancelled")
            return Simple("Background saving cancelled")

        return cancel()
    pending = _all_shards(fr, [b"__bgsave", b"schedule"] if opt else [b"__bgsave"])

    async def run() -> Any:
        replies = await pending
        why = _not_started(replies, (errors.BGSAVE_RUNNING, errors.BGSAVE_AOF_RUNNING))
        if why is not None:
            raise CommandError(errors.BGSAVE_FAILED if why == "failed" else why)
        if any(r == b"scheduled" for r in replies):
            return Simple("Background saving scheduled")
        return Simple("Background saving started")

    return run()


@front("save")
def save(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__save"])

    async def run() -> Any:
        for r in await pending:
            if isinstance(r, ErrorReply):
                raise CommandError(r.text)
        return OK

    return run()


@front("lastsave")
def lastsave(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    pending = _all_shards(fr, [b"__aofinfo"])

    async def run() -> Any:
        # the data is saved when every shard has saved: the oldest shard's time.
        # Only SAVE and BGSAVE count (Valkey's RDB saves), not AOF rewrites.
        return min(int(r[b"last_save"]) for r in await pending)

    return run()


def _as_c_int(v: int) -> int:
    """Valkey keeps the replica count of a wait in a C int: the low 32 bits, signed."""
    return (v + 2**31) % 2**32 - 2**31


def _wait_blocker(argv: list[bytes], timeout_ms: int, reply: Any) -> Blocker:
    """A wait on no key: only its timeout, CLIENT UNBLOCK or a disconnect ends it."""
    return Blocker(keys=[], argv=argv, timeout=timeout_ms / 1000.0, step=lambda key: [], timeout_reply=reply)


@front("wait")
def wait(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    numreplicas = _as_c_int(parse_int(argv[1]))
    timeout_ms = parse_ms_timeout(argv[2])
    if numreplicas <= 0:  # no replica acknowledges anything: 0 of 0 wanted is enough
        return 0
    blocker = _wait_blocker(argv, timeout_ms, 0)

    async def attempt() -> Any:
        return None

    return fr.blocking.start_custom(conn, attempt, blocker)


@front("waitaof")
def waitaof(fr: Front, conn: ClientConnection, argv: list[bytes]) -> Any:
    numlocal = parse_int(argv[1])
    if not 0 <= numlocal <= 1:
        raise CommandError(errors.range_between(0, 1))
    numreplicas = strict_int(argv[2])
    if numreplicas is None or numreplicas < 0:
        raise CommandError(errors.POSITIVE)
    numreplicas = _as_c_int(numreplicas)
    timeout_ms = parse_ms_timeout(argv[3])
    enabled = bool(fr.config.get("appendonly"))
    if numlocal and not enabled:
        raise CommandError(errors.WAITAOF_NO_AOF)
    if not enabled and numreplicas <= 0:
        return [0, 0]
    pending = _all_shards(fr, [b"__waitaof", b"%d" % numlocal]) if enabled else None
    blocker = _wait_blocker(argv, timeout_ms, [0, 0])

    async def attempt() -> Any:
        local = 0
        if pending is not None:
            replies = await pending
            for r in replies:
                if isinstance(r, ErrorReply):
                    return r
            local = min(replies)
        if local >= numlocal and numreplicas <= 0:
            return [local, 0]
        blocker.timeout_reply = [local, 0]
        return None

    return fr.blocking.start_custom(conn, attempt, blocker)
