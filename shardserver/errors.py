"""Every client-visible error text of shardserver.

Ownership: this module owns the wording.  Each text starts with the code that
clients map (ERR, WRONGTYPE, NOPROTO, LOADING, ...) and matches Valkey 9 where
Valkey has the same error.  Handlers raise ``CommandError(errors.X)``; one
boundary per process turns it into a reply.
"""

from __future__ import annotations


class CommandError(Exception):
    """Raised by a command handler; the boundary replies with ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# protocol (the connection is closed after these)
PROTO_BAD_MBULK = "ERR Protocol error: invalid multibulk length"
PROTO_BAD_BULK = "ERR Protocol error: invalid bulk length"
PROTO_BIG_MBULK = "ERR Protocol error: too big mbulk count string"
PROTO_BIG_BULK = "ERR Protocol error: too big bulk count string"
PROTO_BIG_INLINE = "ERR Protocol error: too big inline request"
PROTO_UNBALANCED = "ERR Protocol error: unbalanced quotes in request"
PROTO_BUFFER_LIMIT = "ERR Protocol error: query buffer limit reached"
PROTO_BAD_CRLF = "ERR Protocol error: invalid CRLF in request"


def proto_expected_dollar(got: str) -> str:
    return f"ERR Protocol error: expected '$', got '{got}'"


# generic
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NAN_OR_INF = "ERR increment would produce NaN or Infinity"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NO_SUCH_KEY = "ERR no such key"
SAME_OBJECT = "ERR source and destination objects are the same"
DB_RANGE = "ERR DB index is out of range"
INVALID_DB = "ERR invalid DB index"
STRING_TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_RANGE = "ERR offset is out of range"
POSITIVE = "ERR value is out of range, must be positive"
INT_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
NOPROTO = "NOPROTO unsupported protocol version"
CLIENT_NAME = "ERR Client names cannot contain spaces, newlines or special characters."
NO_SUCH_CLIENT = "ERR No such client"
MAX_CLIENTS = "ERR max number of clients reached"
UNSUPPORTED_SWAPDB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
INVALID_CURSOR = "ERR invalid cursor"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
IFEQ_GET = "ERR syntax error"
LCS_LEN_IDX = "ERR If you want both the length and indexes, please just use IDX."
SHUTDOWN_ERRORS = "ERR Errors trying to SHUTDOWN. Check logs."
EXPIRE_OPTIONS = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_LT = "ERR GT and LT options at the same time are not compatible"
EXEC_NOT_SUPPORTED = "ERR command not supported in this position"


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def unknown_command(name: bytes, args: list[bytes]) -> str:
    # As Valkey: arguments are added while the text is under 128 bytes, each
    # one cut to what is left of those 128.
    shown = b""
    for a in args:
        if len(shown) >= 128:
            break
        shown += b"'" + a[: 128 - len(shown)] + b"' "
    name = name.split(b"\0", 1)[0]  # Valkey prints the name with %s: it ends at a NUL
    return f"ERR unknown command '{_clip(name)}', with args beginning with: {shown.decode('utf-8', 'surrogateescape')}"


def unknown_subcommand(sub: bytes, container: str) -> str:
    return f"ERR unknown subcommand '{_clip(sub)}'. Try {container.upper()} HELP."


def invalid_expire(command: str) -> str:
    return f"ERR invalid expire time in '{command}' command"


def unknown_option(option: str) -> str:
    return f"ERR Unknown option or number of arguments for CONFIG SET - '{option}'"


def loading_shard(shard: int) -> str:
    return f"LOADING shard {shard} is restarting and loading its data, retry shortly"


def _clip(data: bytes) -> str:
    # Valkey prints at most 128 bytes of a name; non-printables are kept as-is.
    return data[:128].decode("utf-8", "surrogateescape")


# lists
LIST_INDEX_RANGE = "ERR index out of range"
LPOS_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_RANGE = "ERR timeout is out of range"
UNBLOCKED = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
UNBLOCK_REASON = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
