"""Unit tests for shardserver.config.

Expected error texts were taken from a real valkey-server 9.1.2 (start-up
fatal output and CONFIG GET/SET replies).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shardserver import VALKEY_VERSION
from shardserver.config import (
    ALIASES,
    DIRECTIVES,
    Config,
    ConfigError,
    Directive,
    format_fatal,
    parse_args,
    parse_memory,
    split_args,
)

MB = 1024 * 1024


def fatal_of(argv: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_args(argv)
    return format_fatal(info.value)


def fatal_block(lineno: int, line: str, reason: str) -> str:
    return (
        f"*** FATAL CONFIG FILE ERROR (Version {VALKEY_VERSION}) ***\n"
        f"Reading the configuration file, at line {lineno}\n"
        f">>> '{line}'\n"
        f"{reason}"
    )


def set_error(*pairs: tuple[str, str], cfg: Config | None = None) -> str:
    cfg = cfg or Config()
    with pytest.raises(ConfigError) as info:
        cfg.config_set(list(pairs))
    return str(info.value)


def write(tmp_path: Path, text: str, name: str = "shard.conf") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------- defaults


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = Config()
    assert cfg.get("port") == 6379
    assert cfg["port"] == 6379
    assert cfg.get("bind") == ["127.0.0.1", "-::1"]
    assert cfg.get("unixsocket") == ""
    assert cfg.get("unixsocketperm") == 0
    assert cfg.get("shards") == (os.cpu_count() or 1)
    assert cfg.get("dir") == os.path.realpath(tmp_path)
    assert cfg.get("databases") == 16
    assert cfg.get("loglevel") == "notice"
    assert cfg.get("logfile") == ""
    assert cfg.get("timeout") == 0
    assert cfg.get("maxclients") == 10000
    assert cfg.get("proto-max-bulk-len") == 512 * MB
    assert cfg.get("client-query-buffer-limit") == 1024 * MB
    assert cfg.get("daemonize") is False
    assert cfg.get("pidfile") == ""
    assert cfg.get("requirepass") == ""
    assert cfg.get("hz") == 10
    assert cfg.get("appendonly") is False
    assert cfg.get("save") == ""


def test_directive_table_is_data() -> None:
    assert list(DIRECTIVES)[:2] == ["port", "bind"]
    d = DIRECTIVES["port"]
    assert isinstance(d, Directive)
    assert (d.name, d.kind, d.default, d.mutable) == ("port", "int", 6379, False)
    assert DIRECTIVES["dir"].default == "./"
    assert DIRECTIVES["proto-max-bulk-len"].kind == "memory"
    mutable = {n for n, d in DIRECTIVES.items() if d.mutable}
    assert mutable == {
        "dir", "loglevel", "timeout", "maxclients", "proto-max-bulk-len",
        "client-query-buffer-limit", "requirepass", "hz", "appendonly", "save",
        "slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold",
        "appendfsync", "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size",
        "aof-load-truncated", "aof-timestamp-enabled",
        "hash-max-listpack-entries", "hash-max-listpack-value",
        "stream-node-max-bytes", "stream-node-max-entries",
        "set-max-intset-entries", "set-max-listpack-entries", "set-max-listpack-value",
        "zset-max-listpack-entries", "zset-max-listpack-value",
        "hll-sparse-max-bytes",
        "list-max-listpack-size",
    } | (mutable & {"metrics-port"})  # fmt: skip


def test_get_is_case_insensitive_and_unknown_raises_keyerror() -> None:
    cfg = Config()
    assert cfg.get("PORT") == 6379
    with pytest.raises(KeyError):
        cfg.get("nope")


def test_values_override_defaults_and_are_validated() -> None:
    cfg = Config({"port": 7000, "bind": ["::1"], "loglevel": "WARNING"})
    assert cfg["port"] == 7000
    assert cfg["bind"] == ["::1"]
    assert cfg["loglevel"] == "warning"
    with pytest.raises(ConfigError):
        Config({"port": 70000})
    with pytest.raises(ConfigError):
        Config({"nonexistent": 1})
    with pytest.raises(ConfigError):
        Config({"maxclients": "10"})


def test_to_dict_is_a_copy() -> None:
    cfg = Config()
    d = cfg.to_dict()
    assert list(d) == list(DIRECTIVES)
    assert d["port"] == 6379
    d["bind"].append("1.2.3.4")
    assert cfg["bind"] == ["127.0.0.1", "-::1"]


# ---------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("port 7000", ["port", "7000"]),
        ('  requirepass   "a b"  ', ["requirepass", "a b"]),
        (r'x "a\x41\n\t\"q"', ["x", 'aA\n\t"q']),
        (r"x 'it\'s' 'raw\n'", ["x", "it's", "raw\\n"]),
        ('x a"b c"d', ["x", "ab cd"]),  # valkey 9: quotes may sit inside a word
        ("x \"\" ''", ["x", "", ""]),
        (r'x "\x4g"', ["x", "x4g"]),
        ('x "unterminated', None),
        ("x 'unterminated", None),
        ("", []),
    ],
)
def test_split_args(line: str, expected: list[str] | None) -> None:
    assert split_args(line) == expected


# ---------------------------------------------------------------- config file


def test_file_with_comments_quotes_and_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# a comment\n"
        "\n"
        "   # indented comment\n"
        "PORT 7000\r\n"
        'requirepass "s3cr\\x65t pass"\n'
        "loglevel 'warning'\n"
        "bind 10.0.0.1 -::1\n"
        "\tmaxclients   50  \n",
    )
    cfg = parse_args([path])
    assert cfg["port"] == 7000
    assert cfg["requirepass"] == "s3cret pass"
    assert cfg["loglevel"] == "warning"
    assert cfg["bind"] == ["10.0.0.1", "-::1"]
    assert cfg["maxclients"] == 50


def test_file_later_lines_win_and_save_lines_accumulate(tmp_path: Path) -> None:
    path = write(tmp_path, "port 1\nport 2\nsave 900 1\nsave 300 10\n")
    cfg = parse_args([path])
    assert cfg["port"] == 2
    assert cfg["save"] == "900 1 300 10"
    path = write(tmp_path, 'save 900 1\nsave ""\n', "b.conf")
    assert parse_args([path])["save"] == ""


def test_file_unknown_directive_error(tmp_path: Path) -> None:
    path = write(tmp_path, "port 7000\nfoo bar\n")
    with pytest.raises(ConfigError) as info:
        parse_args([path])
    err = info.value
    assert (err.lineno, err.line, err.directive) == (2, "foo bar", "foo")
    assert err.reason == "Bad directive or wrong number of arguments"
    assert "foo" in str(err)
    assert format_fatal(err) == fatal_block(
        2, "foo bar", "Bad directive or wrong number of arguments"
    )


def test_file_bad_values_report_line_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "# c\n\nport abc\n")
    assert fatal_of([path]) == fatal_block(
        3, "port abc", "argument couldn't be parsed into an integer"
    )
    path = write(tmp_path, 'port 7000\n  loglevel   "bad"  \n', "b.conf")
    assert fatal_of([path]) == fatal_block(
        2,
        'loglevel   "bad"',
        "argument(s) must be one of the following: debug, verbose, notice, warning, nothing",
    )
    path = write(tmp_path, 'port "7000\n', "c.conf")
    assert fatal_of([path]) == fatal_block(
        1, 'port "7000', "Unbalanced quotes in configuration line"
    )
    # a trailing comment is not a comment: it is extra arguments
    path = write(tmp_path, "port 7000 # comment\n", "d.conf")
    assert fatal_of([path]) == fatal_block(1, "port 7000 # comment", "wrong number of arguments")


def test_missing_config_file(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.conf")
    assert fatal_of([path]) == (
        f"Fatal error, can't open config file '{path}': No such file or directory"
    )


# ---------------------------------------------------------------- command line


def test_command_line_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port 7000\nmaxclients 50\nloglevel debug\n")
    cfg = parse_args([path, "--port", "7001", "--loglevel", "warning"])
    assert cfg["port"] == 7001
    assert cfg["loglevel"] == "warning"
    assert cfg["maxclients"] == 50


def test_command_line_multiple_values_and_forms() -> None:
    cfg = parse_args(["--bind", "10.0.0.1", "-::1", "--port", "0"])
    assert cfg["bind"] == ["10.0.0.1", "-::1"]
    assert cfg["port"] == 0
    assert parse_args(["--bind", "10.0.0.1 ::1"])["bind"] == ["10.0.0.1", "::1"]
    assert parse_args(["--port 6380"])["port"] == 6380  # name and value in one argument
    assert parse_args(["--bind", ""])["bind"] == []
    assert parse_args(["--save", "100", "1", "--save", "200", "2"])["save"] == "100 1 200 2"
    # a bare --save means save "" (valkey compatibility)
    assert parse_args(["--save", "--port", "1"])["save"] == ""
    assert parse_args(["--save"])["save"] == ""
    # the argument right after a bare option name is always its value
    assert parse_args(["--requirepass", "--x"])["requirepass"] == "--x"


def test_command_line_errors_are_lines_of_a_virtual_config(tmp_path: Path) -> None:
    # Valkey turns options into lines appended after the file (plus one blank line).
    assert fatal_of(["--port", "abc"]) == fatal_block(
        2, 'port "abc"', "argument couldn't be parsed into an integer"
    )
    assert fatal_of(["--foo", "bar"]) == fatal_block(
        2, 'foo "bar"', "Bad directive or wrong number of arguments"
    )
    assert fatal_of(["--port", "1", "2"]) == fatal_block(
        2, 'port "1" "2"', "wrong number of arguments"
    )
    assert fatal_of(["--port"]) == fatal_block(2, "port", "wrong number of arguments")
    assert fatal_of(["--port", "1", "--loglevel", "x"]) == fatal_block(
        3,
        'loglevel "x"',
        "argument(s) must be one of the following: debug, verbose, notice, warning, nothing",
    )
    assert fatal_of(["--loglevel", 'a b"c\t\x01é']) == fatal_block(
        2,
        r'loglevel "a b\"c\t\x01\xc3\xa9"',
        "argument(s) must be one of the following: debug, verbose, notice, warning, nothing",
    )
    path = write(tmp_path, "port 7000\n")
    assert fatal_of([path, "--foo", "bar", "baz"]) == fatal_block(
        3, 'foo "bar" "baz"', "Bad directive or wrong number of arguments"
    )
    assert fatal_of([path, "extra"]) == fatal_block(
        3, '"extra"', "Bad directive or wrong number of arguments"
    )


def test_unknown_directive_error_names_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(["--no-such-thing", "1"])
    assert info.value.directive == "no-such-thing"
    assert "no-such-thing" in str(info.value)
    assert "no-such-thing" in format_fatal(info.value)


def test_daemonize_yes_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(["--daemonize", "yes"])
    err = info.value
    assert err.directive == "daemonize"
    assert "daemonize yes is not supported" in err.reason
    assert "systemd" in err.reason
    assert ">>> 'daemonize \"yes\"'" in format_fatal(err)
    assert parse_args(["--daemonize", "no"])["daemonize"] is False
    with pytest.raises(ConfigError):
        Config({"daemonize": True})
    assert fatal_of(["--daemonize", "maybe"]).endswith("argument must be 'yes' or 'no'")


def test_stdin_config_not_supported() -> None:
    with pytest.raises(ConfigError):
        parse_args(["-"])


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--port", "70000"], "argument must be between 0 and 65535 inclusive"),
        (["--port", "007"], "argument couldn't be parsed into an integer"),
        (["--port", "+1"], "argument couldn't be parsed into an integer"),
        (["--port", "1e3"], "argument couldn't be parsed into an integer"),
        (["--timeout", "-0"], "argument couldn't be parsed into an integer"),
        (["--timeout", "-1"], "argument must be between 0 and 2147483647 inclusive"),
        (["--maxclients", "0"], "argument must be between 1 and 4294967295 inclusive"),
        (["--maxclients", "4294967296"], "argument must be between 1 and 4294967295 inclusive"),
        (["--databases", "0"], "argument must be between 1 and 2147483647 inclusive"),
        (["--shards", "0"], "argument must be between 1 and 255 inclusive"),
        (["--shards", "256"], "argument must be between 1 and 255 inclusive"),
        (["--hz", "-1"], "argument must be between 0 and 2147483647 inclusive"),
        (
            ["--loglevel", "loud"],
            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing",
        ),
        (["--appendonly", "maybe"], "argument must be 'yes' or 'no'"),
        (
            ["--proto-max-bulk-len", "10"],
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (["--proto-max-bulk-len", "10zz"], "argument must be a memory value"),
        (["--proto-max-bulk-len", "1.5gb"], "argument must be a memory value"),
        (["--proto-max-bulk-len", "-1"], "argument must be a memory value"),
        (["--proto-max-bulk-len", "1tb"], "argument must be a memory value"),
        (
            ["--client-query-buffer-limit", "1K"],
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (["--unixsocketperm", "999"], "argument couldn't be parsed as an octal number"),
        (["--unixsocketperm", "7777"], "argument must be between 0 and 777 inclusive"),
        (["--dir", "/nonexistent/x"], "No such file or directory"),
        (["--dir", "/etc/passwd"], "Not a directory"),
        (["--dir", ""], "dir can't be empty"),
        (["--save", "100"], "Invalid save parameters"),
        (["--save", "0 1"], "Invalid save parameters"),
        (["--bind", " ".join(str(i) for i in range(17))], "Too many bind addresses specified."),
    ],
)
def test_bad_values(argv: list[str], reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_args(argv)
    assert info.value.reason == reason
    assert format_fatal(info.value).endswith("\n" + reason)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("512mb", 512 * MB),
        ("512MB", 512 * MB),
        ("1gb", 1024**3),
        ("1G", 1000**3),
        ("1k", 1000),
        ("1kb", 1024),
        ("2m", 2_000_000),
        ("100", 100),
        ("100b", 100),
        ("0001mb", MB),
        ("", 0),
    ],
)
def test_memory_units(text: str, value: int) -> None:
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["1.5gb", "1 mb", "-1", "10zz", "1tb", " 1"])
def test_memory_units_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory(text)


def test_typed_values_from_strings(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg = parse_args(
        [
            "--proto-max-bulk-len", "2048KB", "--client-query-buffer-limit", "1G",
            "--unixsocketperm", "0755", "--appendonly", "NO", "--LogLevel", "Warning",
            "--hz", "1000", "--dir", str(tmp_path), "--dir", "sub",
        ]
    )  # fmt: skip
    assert cfg["proto-max-bulk-len"] == 2 * MB
    assert cfg["client-query-buffer-limit"] == 10**9
    assert cfg["unixsocketperm"] == 0o755
    assert cfg["appendonly"] is False
    assert cfg["loglevel"] == "warning"
    assert cfg["hz"] == 500  # clamped like valkey
    assert parse_args(["--hz", "0"])["hz"] == 1
    assert cfg["dir"] == os.path.realpath(tmp_path / "sub")  # relative to the previous dir


def test_set_from_strings() -> None:
    cfg = Config()
    cfg.set_from_strings("PORT", ["6380"])
    assert cfg["port"] == 6380
    cfg.set_from_strings("bind", ["1.2.3.4 ::1"])
    assert cfg["bind"] == ["1.2.3.4", "::1"]
    cfg.set_from_strings("databases", ["4"])  # start-up semantics: immutability not checked
    assert cfg["databases"] == 4
    with pytest.raises(ConfigError) as info:
        cfg.set_from_strings("port", ["x"])
    assert info.value.reason == "argument couldn't be parsed into an integer"
    assert info.value.directive == "port"
    with pytest.raises(ConfigError) as info:
        cfg.set_from_strings("port", ["1", "2"])
    assert info.value.reason == "wrong number of arguments"
    with pytest.raises(ConfigError) as info:
        cfg.set_from_strings("nope", ["1"])
    assert info.value.reason == "Bad directive or wrong number of arguments"
    assert cfg["port"] == 6380


# ---------------------------------------------------------------- CONFIG GET


def test_config_get_all() -> None:
    cfg = Config()
    everything = cfg.config_get(["*"])
    assert [name for name, _ in everything] == list(DIRECTIVES) + list(ALIASES)  # aliases too, as Valkey
    values = dict(everything)
    assert values["proto-max-bulk-len"] == "536870912"
    assert values["client-query-buffer-limit"] == "1073741824"
    assert values["bind"] == "127.0.0.1 -::1"
    assert values["daemonize"] == "no"
    assert values["appendonly"] == "no"
    assert values["unixsocketperm"] == "0"
    assert values["dir"] == os.getcwd()
    assert all(isinstance(v, str) for v in values.values())


def test_config_get_patterns() -> None:
    cfg = Config()
    assert cfg.config_get(["p*"]) == [
        ("port", "6379"),
        ("proto-max-bulk-len", "536870912"),
        ("pidfile", ""),
    ]
    assert cfg.config_get(["maxclients"]) == [("maxclients", "10000")]
    assert cfg.config_get(["nonexistent"]) == []
    # several patterns, de-duplicated, in directive order
    assert cfg.config_get(["timeout", "port", "time*", "?ort"]) == [
        ("port", "6379"),
        ("timeout", "0"),
    ]
    assert cfg.config_get(["databa[st]es", "h[^x]"]) == [("databases", "16"), ("hz", "10")]
    assert cfg.config_get(["[a-c]*"]) == [
        ("bind", "127.0.0.1 -::1"),
        ("client-query-buffer-limit", "1073741824"),
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        ("appenddirname", "appendonlydir"),
        ("auto-aof-rewrite-percentage", "100"),
        ("auto-aof-rewrite-min-size", "67108864"),
        ("aof-load-truncated", "yes"),
        ("aof-timestamp-enabled", "no"),
    ]
    # case-insensitive; an exact (non-glob) name is echoed as typed, like valkey
    assert cfg.config_get(["MAXC*"]) == [("maxclients", "10000")]
    assert cfg.config_get(["MAXCLIENTS", "maxclients"]) == [("MAXCLIENTS", "10000")]


# ---------------------------------------------------------------- CONFIG SET


def test_config_set_changes_values() -> None:
    cfg = Config()
    cfg.config_set([("maxclients", "123"), ("TIMEOUT", "7"), ("loglevel", "DEBUG")])
    assert (cfg["maxclients"], cfg["timeout"], cfg["loglevel"]) == (123, 7, "debug")
    cfg.config_set([("proto-max-bulk-len", "2GB")])
    assert cfg.config_get(["proto-max-bulk-len"]) == [("proto-max-bulk-len", "2147483648")]
    cfg.config_set([("hz", "1000")])
    assert cfg["hz"] == 500
    cfg.config_set([("save", "100 1 200 2")])
    assert cfg["save"] == "100 1 200 2"
    cfg.config_set([("save", "")])
    assert cfg["save"] == ""
    cfg.config_set([("appendonly", "no"), ("requirepass", "pw")])
    assert cfg["appendonly"] is False
    assert cfg["requirepass"] == "pw"


def test_config_set_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg = Config()
    cfg.config_set([("dir", str(tmp_path) + "/")])
    assert cfg.config_get(["dir"]) == [("dir", os.path.realpath(tmp_path))]
    cfg.config_set([("dir", "sub")])
    assert cfg["dir"] == os.path.realpath(tmp_path / "sub")
    cfg.config_set([("dir", "..")])
    assert cfg["dir"] == os.path.realpath(tmp_path)
    prefix = "ERR CONFIG SET failed (possibly related to argument 'dir') - "
    assert set_error(("dir", "/nonexistent"), cfg=cfg) == prefix + "No such file or directory"
    assert set_error(("dir", "/etc/passwd"), cfg=cfg) == prefix + "Not a directory"
    assert set_error(("dir", ""), cfg=cfg) == prefix + "dir can't be empty"
    assert cfg["dir"] == os.path.realpath(tmp_path)


def test_config_set_unknown_option() -> None:
    assert (
        set_error(("foo", "bar"))
        == "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    )
    assert (
        set_error(("PORTX", "1"))
        == "ERR Unknown option or number of arguments for CONFIG SET - 'PORTX'"
    )


@pytest.mark.parametrize("name", ["port", "databases", "DATABASES", "daemonize", "bind", "shards",
                                  "unixsocket", "unixsocketperm", "logfile", "pidfile"])  # fmt: skip
def test_config_set_immutable(name: str) -> None:
    assert set_error((name, "1")) == (
        f"ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
    )


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("maxclients", "abc", "argument couldn't be parsed into an integer"),
        ("maxclients", "007", "argument couldn't be parsed into an integer"),
        ("maxclients", " 5", "argument couldn't be parsed into an integer"),
        ("maxclients", "99999999999999999999", "argument couldn't be parsed into an integer"),
        ("maxclients", "0", "argument must be between 1 and 4294967295 inclusive"),
        ("maxclients", "-1", "argument must be between 1 and 4294967295 inclusive"),
        ("timeout", "-1", "argument must be between 0 and 2147483647 inclusive"),
        ("hz", "-1", "argument must be between 0 and 2147483647 inclusive"),
        (
            "loglevel",
            "bad",
            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing",
        ),
        (
            "proto-max-bulk-len",
            "10",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            "proto-max-bulk-len",
            "",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            "proto-max-bulk-len",
            "9999999999999999999",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        ("proto-max-bulk-len", "99999999999999999999", "argument must be a memory value"),
        ("proto-max-bulk-len", "10zz", "argument must be a memory value"),
        ("proto-max-bulk-len", "1.5gb", "argument must be a memory value"),
        (
            "client-query-buffer-limit",
            "10",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        ("appendonly", "maybe", "argument must be 'yes' or 'no'"),
        ("save", "bad", "Invalid save parameters"),
        ("save", "100", "Invalid save parameters"),
        ("save", "100 -1", "Invalid save parameters"),
        ("save", "100  1", "Invalid save parameters"),
    ],
)
def test_config_set_bad_values(name: str, value: str, reason: str) -> None:
    assert set_error((name, value)) == (
        f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
    )


def test_config_set_error_names() -> None:
    # value errors name the canonical directive, name errors echo the argument as typed
    assert set_error(("MAXCLIENTS", "abc")) == (
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
        "argument couldn't be parsed into an integer"
    )
    assert set_error(("maxclients", "5"), ("MAXCLIENTS", "6")) == (
        "ERR CONFIG SET failed (possibly related to argument 'MAXCLIENTS') - duplicate parameter"
    )


def test_config_set_first_problem_wins() -> None:
    assert set_error(("maxclients", "50"), ("databases", "1")) == (
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    )
    assert set_error(("databases", "1"), ("foo", "2")) == (
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    )
    assert set_error(("foo", "1"), ("databases", "2")) == (
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    )
    # name problems are found before any value is parsed
    assert set_error(("timeout", "abc"), ("databases", "2")) == (
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    )


def test_config_set_is_atomic() -> None:
    cfg = Config()
    assert set_error(("maxclients", "50"), ("timeout", "abc"), cfg=cfg) == (
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - "
        "argument couldn't be parsed into an integer"
    )
    assert cfg["maxclients"] == 10000
    assert cfg["timeout"] == 0
    set_error(("loglevel", "debug"), ("maxclients", "50"), ("maxclients", "60"), cfg=cfg)
    assert cfg["loglevel"] == "notice"
    assert cfg["maxclients"] == 10000
    set_error(("hz", "20"), ("port", "1"), cfg=cfg)
    assert cfg["hz"] == 10


def test_aof_directives() -> None:
    cfg = parse_args(["--appendonly", "yes", "--appendfsync", "ALWAYS", "--auto-aof-rewrite-min-size", "1mb"])
    assert cfg["appendonly"] is True
    assert cfg["appendfsync"] == "always"
    assert cfg["auto-aof-rewrite-min-size"] == MB
    with pytest.raises(ConfigError, match="appendfsync"):
        parse_args(["--appendfsync", "sometimes"])
    with pytest.raises(ConfigError, match="appenddirname can't be a path, just a dirname"):
        parse_args(["--appenddirname", "a/b"])
    cfg = Config()
    cfg.config_set([("appendonly", "yes"), ("appendfsync", "no")])
    assert cfg["appendonly"] is True and cfg["appendfsync"] == "no"
    with pytest.raises(ConfigError, match="immutable"):
        cfg.config_set([("appenddirname", "other")])



def test_hash_listpack_directives_and_their_ziplist_aliases() -> None:
    cfg = Config()
    assert cfg.get("hash-max-ziplist-entries") == 512 and cfg.get("hash-max-listpack-value") == 64
    cfg.config_set([("hash-max-ziplist-entries", "7"), ("hash-max-listpack-value", "1kb")])
    assert cfg.get("hash-max-listpack-entries") == 7 and cfg.get("hash-max-ziplist-value") == 1024
    assert cfg.config_get(["HASH-MAX-ZIPLIST-ENTRIES"]) == [("HASH-MAX-ZIPLIST-ENTRIES", "7")]
    assert cfg.config_get(["hash*ziplist*"]) == [("hash-max-ziplist-entries", "7"), ("hash-max-ziplist-value", "1024")]
    with pytest.raises(ConfigError, match="argument must be between 0 and"):
        cfg.config_set([("hash-max-listpack-entries", "-1")])
    with pytest.raises(ConfigError, match="argument must be a memory value"):
        cfg.config_set([("hash-max-listpack-value", "-1")])
    # an alias and its directive in one CONFIG SET are not a duplicate, as in Valkey
    cfg.config_set([("hash-max-listpack-entries", "5"), ("hash-max-ziplist-entries", "6")])


def test_list_max_ziplist_size_is_an_alias() -> None:
    cfg = Config()
    cfg.config_set([("list-max-ziplist-size", "5")])
    assert cfg.get("list-max-listpack-size") == 5
    # Valkey lists the directive, then its old name
    assert cfg.config_get(["list-max-*"]) == [("list-max-listpack-size", "5"), ("list-max-ziplist-size", "5")]
