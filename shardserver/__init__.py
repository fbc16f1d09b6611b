"""shardserver: a Valkey-compatible multi-process in-memory data server."""

__version__ = "0.1.0"
VALKEY_VERSION = "9.0.0"
REDIS_VERSION = "7.2.4"
