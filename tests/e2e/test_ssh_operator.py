"""Over SSH, the real `hivetui attach` against a real hive node (local backend, control
socket, SSH server as a hive service): what an operator does by keys is done as the
operator the key names; a read-only key is refused on screen.

- approve a pending spawn by keys (``:approvals`` then ``a``): approved, ``resolved_by``
  and the audit name the key's operator; the read-only key's ``a`` changes nothing;
- issue 7 point 4: the embedded terminal works the same when the TUI is attached over
  SSH — a root shell in the approved agent's real container (uid 0, hostname h-<name>);
  a read-only operator is refused a terminal, with the reason on screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hivetui.core.config import HiveConfig
from hivetui.core.views import Approval
from hivetui.node import HiveNode
from hivetui.node_ssh import start_ssh
from tests.ssh_util import Term, key_line, new_key, open_term, wait_until

pytestmark = pytest.mark.slow
SIZE = (120, 40)


@pytest.fixture
async def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HiveNode]:
    # `hivetui attach` logs under the default state dir: keep that inside the test
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    async with HiveNode(tmp_path / "state", HiveConfig()) as node:
        try:
            await node.hive.registry.create("boss", role="manager",
                                            runtime="scripted:manager", model="m")
            yield node
        finally:
            await node.stop_all()


async def _approval(node: HiveNode, approval_id: int) -> Approval:
    return await node.hive.approvals.get(approval_id)


async def _fleet(t: Term) -> None:
    await t.wait_screen(r"\bboss\b", timeout=60)  # the fleet has rendered


async def test_approve_by_keys_and_a_terminal_over_ssh_as_the_keys_operator(
        tmp_path: Path, node: HiveNode) -> None:
    hive = node.hive
    request = await hive.approvals.request_spawn("boss", "w9", "scripted:echo")
    alice, bob = new_key(), new_key()
    keys = tmp_path / "authorized_keys"
    keys.write_text(key_line(alice, "alice") + key_line(bob, "bob", "hivetui-read-only"))
    server = await start_ssh(node, listen="127.0.0.1:0", authorized_keys=keys)

    # bob (read-only) sees the request but his `a` does nothing: the screen says why
    tb = await open_term(server.port, bob, size=SIZE)
    await _fleet(tb)
    await tb.command("approvals")
    await tb.wait_screen(r"Approvals · 1 pending · read-only operator")
    await tb.wait_screen(r"\bw9\b")
    tb.proc.stdin.write(b"a")
    await tb.drain(2.0)
    assert (await _approval(node, request.id)).state == "pending"
    assert tb.shows(r"Approvals · 1 pending · read-only operator")

    # alice approves by keys: the spawn is carried out, recorded under her name
    ta = await open_term(server.port, alice, size=SIZE)
    await _fleet(ta)
    await ta.command("approvals")
    await ta.wait_screen(r"Approvals · 1 pending\s*$")
    await ta.wait_screen(r"\bw9\b")
    ta.proc.stdin.write(b"a")

    async def resolved() -> bool:
        return (await _approval(node, request.id)).state != "pending"

    await ta.pump(resolved, timeout=60, what="the approval resolved")
    approval = await _approval(node, request.id)
    assert approval.state == "approved", approval
    assert approval.resolved_by == "alice"
    await ta.wait_screen(rf"#{request.id} approved")  # the toast
    audit = [(e.actor, e.action, e.target) for e in await hive.audit.query()]
    assert ("alice", "approve", "w9") in audit
    assert not [a for a in audit if a[0] == "bob" and a[1] != "ssh_login"]
    assert "w9" in await hive.lifecycle.backend.running()  # type: ignore[union-attr]

    # alice opens w9's terminal over SSH: a root shell in the real container
    await ta.command("open w9 terminal")
    await ta.wait_screen(r"h-w9: keys go to the shell · ctrl\+\] leaves it", timeout=30)
    await ta.wait_screen(r"[#$]\s*(│|$)", timeout=30)  # the shell's prompt
    ta.proc.stdin.write(b"id -u; hostname\r")
    await ta.wait_screen(r"(^|[\s│▎▊])0\s*(│|$)", timeout=30)
    await ta.wait_screen(r"(^|[\s│▎▊])h-w9\s*(│|$)", timeout=30)
    assert ("alice", "terminal", "w9") in [
        (e.actor, e.action, e.target) for e in await hive.audit.query()]

    # bob asks for the same terminal: refused, and told why
    tb.proc.stdin.write(b"\x1b")  # back from approvals to the fleet
    # (a key typed in the same read as the Esc would be read as alt+key, as a terminal does)
    await tb.pump(lambda: not tb.shows(r"Approvals · "), 10, "the fleet")
    await tb.command("open w9 terminal")
    await tb.wait_screen(r"read-only")
    await tb.wait_screen(r"refused")
    await tb.wait_screen(r"Permission denied")
    await tb.drain(1.0)  # asked once: no second refusal comes (the first may time out)
    assert sum("Permission denied" in line for line in tb.screen()) <= 1
    assert not tb.shows(r"h-w9: keys go to the shell · ctrl\+\] leaves it")
    assert ("bob", "terminal", "w9") not in [
        (e.actor, e.action, e.target) for e in await hive.audit.query()]

    for t in (ta, tb):
        t.conn.abort()
    await wait_until(lambda: not server.sessions, timeout=20, what="sessions released")

