"""A remote (attached, SSH) session never saves files on the hive's machine (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivetui.tui.app import SAVE_REFUSED
from tests.tui_fixtures import fixture_app, settle


@pytest.mark.parametrize(("where", "saves"), [("attached", False), ("embedded", True)])
async def test_the_palettes_screenshot_saves_only_in_a_local_app(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, saves: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    app = fixture_app(tmp_path / "state", where=where)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert ("Screenshot" in titles) is saves
        assert "Quit" in titles
        app.deliver_screenshot()  # what the palette entry calls
        app.deliver_screenshot(path=str(out))
        await pilot.pause(0.3)
        notes = [n.message for n in app._notifications]
    assert (len(list(out.iterdir())) > 0) is saves
    assert (SAVE_REFUSED in notes) is not saves
