"""authorized_keys parsing: operator names, read-only marks, refused lines, from= patterns."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from hivetui.core.errors import SSHError
from hivetui.ssh.keys import AuthorizedKeysFile, parse_authorized_keys, parse_line
from hivetui.ssh.server import parse_listen


@pytest.fixture(scope="module")
def pub() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def test_comment_is_the_operator(pub: str) -> None:
    entry = parse_line(f"{pub} alice@laptop", 1)
    assert entry.operator == "alice@laptop" and not entry.read_only
    assert entry.fingerprint.startswith("SHA256:")


def test_nix_module_read_only_line(pub: str) -> None:
    entry = parse_line(f"hivetui-read-only {pub} alice", 3)
    assert (entry.operator, entry.read_only, entry.line) == ("alice", True, 3)


def test_operator_option_wins_over_comment_and_quotes_hold_commas(pub: str) -> None:
    entry = parse_line(f'hivetui-operator="carol",hivetui-read-only,from="10.0.0.0/8,127.0.0.1" '
                       f"{pub} some comment", 1)
    assert entry.operator == "carol" and entry.read_only
    assert entry.allows("", "127.0.0.1") and entry.allows("", "10.1.2.3")
    assert not entry.allows("", "192.168.1.1")


def test_from_negation_and_wildcards(pub: str) -> None:
    entry = parse_line(f'from="127.0.0.*,!127.0.0.2" {pub} bob', 1)
    assert entry.allows("", "127.0.0.1") and not entry.allows("", "127.0.0.2")


def test_read_only_from_config_list(pub: str) -> None:
    assert parse_line(f"{pub} dave", 1, ["dave"]).read_only


@pytest.mark.parametrize(("line", "message"), [
    ("command=\"/bin/sh\" {pub} eve", "option command='/bin/sh' is not supported"),
    ("no-pty {pub} eve", "option no-pty is not supported"),
    ("cert-authority {pub} eve", "option cert-authority is not supported"),
    ("{pub}", "no operator name"),
    ("{pub} Eve Smith", "breaks the rule"),
    ("hivetui-operator=\"bad name\" {pub} x", "breaks the rule"),
    ("ssh-ed25519 AAAAnotbase64 eve", "does not decode"),
    ('from="10.0.0.1 {pub} eve', "unbalanced quote"),
    ("garbage", "expected '[options] key-type base64 [comment]'"),
])
def test_refused_lines_say_why(pub: str, line: str, message: str) -> None:
    with pytest.raises(SSHError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_line(line.format(pub=pub), 1)


def test_file_parse_skips_bad_lines_and_duplicates(pub: str) -> None:
    text = f"# operators\n\n{pub} alice\nno-pty {pub} mallory\n{pub} bob\n"
    keys, errors = parse_authorized_keys(text, source="ak")
    assert [k.operator for k in keys] == ["alice"]
    assert errors[0].startswith("ak:4: line refused: option no-pty")
    assert errors[1] == "ak:5: line refused: the same key is already on line 3 (one key, " \
                        "one operator)"


def test_file_reload_on_change_and_strict_modes(tmp_path: Path, pub: str) -> None:
    path = tmp_path / "authorized_keys"
    akf = AuthorizedKeysFile(path)
    assert akf.keys == [] and "cannot read" in akf.errors[0]
    path.write_text(f"{pub} alice\n")
    path.chmod(0o644)
    assert [k.operator for k in akf.keys] == ["alice"]
    loads = akf.loads
    assert [k.operator for k in akf.keys] == ["alice"] and akf.loads == loads  # unchanged
    path.write_text(f"{pub} alice-renamed\n")
    os.utime(path, ns=(1, 1))
    assert [k.operator for k in akf.keys] == ["alice-renamed"]
    path.chmod(0o666)
    assert akf.keys == [] and "writable by group or others" in akf.errors[0]


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:2222") == ("0.0.0.0", 2222)
    assert parse_listen("[::1]:22") == ("::1", 22)
    with pytest.raises(SSHError, match="HOST:PORT"):
        parse_listen("localhost")
    with pytest.raises(SSHError, match="HOST:PORT"):
        parse_listen("h:99999")
