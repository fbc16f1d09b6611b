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
AOF_BAD_FORMAT = "ERR Bad file format reading the append only file"
AOF_BAD_BULK = "ERR Bad bulk record payload in the append only file"
AOF_REWRITE_RUNNING = "ERR Background append only file rewriting already in progress"
SAVE_FAILED = "ERR"  # Valkey's bare reply when SAVE cannot write; the log says why
AOF_REWRITE_FAILED = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."
AOF_TURN_ON_FAILED = "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs."
BGSAVE_FAILED = "ERR"  # Valkey's bare reply when a background save cannot start; the log says why
BGSAVE_RUNNING = "ERR Background save already in progress"
BGSAVE_NOT_RUNNING = "ERR Background saving is currently not in progress or scheduled"
BGSAVE_AOF_RUNNING = (
    "ERR Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)


def misconf_aof(reason: str) -> str:
    return f"MISCONF Errors writing to the AOF file: {reason}"


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


# hashes
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
HASH_FLOAT_NAN_INF = "ERR value is NaN or Infinity"
HRANDFIELD_RANGE = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
VALUE_OUT_OF_RANGE = "ERR value is out of range"
NUMFIELDS = "ERR numfields should be greater than 0 and match the provided number of fields"
# ---- streams ----
STREAM_BAD_ID = "ERR Invalid stream ID specified as stream command argument"
STREAM_ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
STREAM_ID_TOO_SMALL = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
STREAM_EXHAUSTED = "ERR The stream has exhausted the last possible ID, unable to add more items"
STREAM_TOO_LARGE = "ERR Elements are too large to be stored"
STREAM_MAXLEN_MINID = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
STREAM_MAXLEN_NEGATIVE = "ERR The MAXLEN argument must be >= 0."
STREAM_LIMIT_NEGATIVE = "ERR The LIMIT argument must be >= 0."
STREAM_LIMIT_NO_STRATEGY = "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
STREAM_XTRIM_NO_STRATEGY = "ERR syntax error, XTRIM must be called with a trimming strategy"
STREAM_LIMIT_NO_APPROX = "ERR syntax error, LIMIT cannot be used without the special ~ option"
STREAM_BAD_START = "ERR invalid start ID for the interval"
STREAM_BAD_END = "ERR invalid end ID for the interval"
STREAM_GROUP_XREAD = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
STREAM_NOACK_XREAD = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
STREAM_MISSING_GROUP = "ERR Missing GROUP option for XREADGROUP"
STREAM_DOLLAR_GROUP = (
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this "
    "consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return "
    "an empty result set."
)
STREAM_PLUS_GROUP = (
    "ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this "
    "consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return "
    "an empty result set."
)
STREAM_GT_XREAD = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
STREAM_KEYS_MISROUTED = "ERR an option value spelled STREAMS hides the stream keys of this command; use another name"
STREAM_XGROUP_NO_KEY = (
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
    "the MKSTREAM option to create an empty stream automatically."
)
STREAM_BUSYGROUP = "BUSYGROUP Consumer Group name already exists"
STREAM_ENTRIESREAD = "ERR value for ENTRIESREAD must be positive or -1"
STREAM_ENTRIES_ADDED_NEGATIVE = "ERR entries_added must be positive"
STREAM_SETID_MAXDEL_ARG = "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
STREAM_SETID_MAXDEL = "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
STREAM_SETID_TOP = "ERR The ID specified in XSETID is smaller than the target stream top item"
STREAM_SETID_LENGTH = "ERR The entries_added specified in XSETID is smaller than the target stream length"
STREAM_XCLAIM_MINIDLE = "ERR Invalid min-idle-time argument for XCLAIM"
STREAM_XCLAIM_IDLE = "ERR Invalid IDLE option argument for XCLAIM"
STREAM_XCLAIM_TIME = "ERR Invalid TIME option argument for XCLAIM"
STREAM_XCLAIM_RETRYCOUNT = "ERR Invalid RETRYCOUNT option argument for XCLAIM"
STREAM_XAUTOCLAIM_MINIDLE = "ERR Invalid min-idle-time argument for XAUTOCLAIM"
STREAM_XAUTOCLAIM_COUNT = "ERR COUNT must be > 0"
STREAM_XAUTOCLAIM_NOMEM = "ERR Insufficient memory, failed allocating transient memory, COUNT too high."


def _c_str(data: bytes) -> str:
    """A client's bytes printed with %s: up to the first NUL."""
    return data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def stream_unbalanced(command: str, symbol: str) -> str:
    return f"ERR Unbalanced '{command}' list of streams: for each stream key an ID or '{symbol}' must be specified."


def stream_nogroup_read(key: bytes, group: bytes) -> str:
    return f"NOGROUP No such key '{_c_str(key)}' or consumer group '{_c_str(group)}' in XREADGROUP with GROUP option"


def stream_nogroup(key: bytes, group: bytes) -> str:
    return f"NOGROUP No such key '{_c_str(key)}' or consumer group '{_c_str(group)}'"


def stream_nogroup_for_key(group: bytes, key: bytes) -> str:
    return f"NOGROUP No such consumer group '{_c_str(group)}' for key name '{_c_str(key)}'"


def stream_xclaim_option(opt: bytes) -> str:
    return f"ERR Unrecognized XCLAIM option '{_c_str(opt)}'"


def subcommand_syntax(sub: bytes, container: str) -> str:
    return f"ERR unknown subcommand or wrong number of arguments for '{_clip(sub)}'. Try {container.upper()} HELP."
# sets and sorted sets
NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
COUNT_POSITIVE = "ERR count should be greater than 0"
NOVALUES_HSCAN = "ERR NOVALUES option can only be used in HSCAN"
NOSCORES_ZSCAN = "ERR NOSCORES option can only be used in ZSCAN"
OUT_OF_RANGE = "ERR value is out of range"
ZADD_NX_XX = "ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIRS = "ERR INCR option supports a single increment-element pair"
NAN_SCORE = "ERR resulting score is not a number (NaN)"
RANGE_NOT_FLOAT = "ERR min or max is not a float"
LEX_RANGE = "ERR min or max not valid string range item"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
LIMIT_NEEDS_BY = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
WITHSCORES_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"


def range_between(lo: int, hi: int) -> str:
    return f"ERR value is out of range, value must between {lo} and {hi}"


def input_key_needed(name: str) -> str:
    return f"ERR at least 1 input key is needed for '{name}' command"
# bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD)
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BITPOS_BIT = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY = "ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
BITFIELD_OVERFLOW = "ERR Invalid OVERFLOW type specified"
BITFIELD_RO_GET = "ERR BITFIELD_RO only supports the GET subcommand"

# HyperLogLog (PFADD, PFCOUNT, PFMERGE, PFDEBUG)
HLL_WRONGTYPE = "WRONGTYPE Key is not a valid HyperLogLog string value."
HLL_CORRUPT = "INVALIDOBJ Corrupted HLL object detected"
HLL_SELFTEST_REGISTER = "ERR TESTFAILED Register error at {}"
HLL_SELFTEST_NO_DENSE = "ERR TESTFAILED Cannot convert an empty HLL to dense"
HLL_SELFTEST_DISAGREE = "ERR TESTFAILED dense/sparse disagree: {} != {}"
HLL_SELFTEST_ERROR = "ERR TESTFAILED too big error. card:{} abserr:{:f}"
PFDEBUG_NO_KEY = "ERR The specified key does not exist"
PFDEBUG_NOT_SPARSE = "ERR HLL encoding is not sparse"


def pfdebug_unknown(sub: bytes) -> str:
    name = sub.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")  # Valkey prints it with %s
    return f"ERR Unknown PFDEBUG subcommand '{name}'"
# lists
LIST_INDEX_RANGE = "ERR index out of range"
LPOS_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"  # a timeout in milliseconds
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_RANGE = "ERR timeout is out of range"
# WAIT / WAITAOF
WAITAOF_NO_AOF = "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
UNBLOCKED = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
UNBLOCK_REASON = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
