"""Parsing what machinectl, systemctl and journalctl print (JSON shapes from their docs)."""

from __future__ import annotations

import json

from hivetui.containers.nixos import (
    journal_line,
    parse_journal,
    parse_list_units,
    parse_machinectl,
    parse_show_restarts,
)


def test_machinectl_json_gives_agents_of_h_machines_only() -> None:
    text = json.dumps([
        {"machine": "h-alpha", "class": "container", "service": "systemd-nspawn",
         "os": "nixos", "version": None, "addresses": None},
        {"machine": "database", "class": "container", "service": "systemd-nspawn"},
        {"machine": "h-b2", "class": "container", "service": "systemd-nspawn"},
    ])
    assert parse_machinectl(text) == {"alpha", "b2"}
    assert parse_machinectl("[]") == set()
    assert parse_machinectl("") == set()


def test_list_units_counts_only_active_running_units() -> None:
    text = json.dumps([
        {"unit": "container@h-alpha.service", "load": "loaded", "active": "active",
         "sub": "running", "description": "Container 'h-alpha'"},
        {"unit": "container@h-beta.service", "load": "loaded", "active": "activating",
         "sub": "auto-restart", "description": "Container 'h-beta'"},
        {"unit": "container@h-gamma.service", "load": "loaded", "active": "failed",
         "sub": "failed", "description": ""},
        {"unit": "container@web.service", "load": "loaded", "active": "active",
         "sub": "running", "description": ""},
    ])
    assert parse_list_units(text) == {"alpha"}


def test_show_blocks_give_restart_counts() -> None:
    text = ("Id=container@h-alpha.service\nNRestarts=2\n\n"
            "Id=container@h-beta.service\nNRestarts=0\n\n"
            "Id=container@other.service\nNRestarts=5\n")
    assert parse_show_restarts(text) == {"alpha": 2, "beta": 0}


def test_journal_entries_become_timestamped_lines() -> None:
    entry = {"__REALTIME_TIMESTAMP": "1700000000123456", "MESSAGE": "hello",
             "SYSLOG_IDENTIFIER": "hivetui", "_PID": "42"}
    assert journal_line(entry) == "2023-11-14T22:13:20.123Z hivetui[42]: hello"
    binary = {"__REALTIME_TIMESTAMP": "1700000000000000", "MESSAGE": [104, 105, 255],
              "_COMM": "sh"}
    assert journal_line(binary) == "2023-11-14T22:13:20.000Z sh: hi\ufffd"
    text = json.dumps(entry) + "\n\n" + json.dumps(binary) + "\n"
    assert len(parse_journal(text)) == 2
