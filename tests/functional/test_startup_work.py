"""What a session's first frame no longer does again: parse CSS, restyle footer keys.

The operator app is drawn headless over the warm-up's empty hive (no hive is needed to
count what Textual does). Checked: a second app in the same process parses no CSS (the
parsed sources are shared, per theme); no footer key is restyled after it mounts, and
each key keeps the look Textual's footer gives it; the zygote's warm-up leaves no thread
or loop behind and its forked children parse nothing; the app reads the hive's state
while Textual starts; a resize to the size the app has lays nothing out again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from textual import events
from textual.app import App
from textual.css import stylesheet as textual_stylesheet
from textual.dom import DOMNode
from textual.geometry import Size
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets._footer import FooterKey

from hivetui.core.api import HiveAPI
from hivetui.tui.app import HiveApp, create_app
from hivetui.tui.shared_css import SharedParseStylesheet
from hivetui.tui.warmup import EmptyHive

ROOT = Path(__file__).resolve().parents[2]


async def until_footer_keys(pilot: Pilot[None]) -> None:
    """Until the fleet's first full frame: its footer shows the keys."""
    while not pilot.app.screen.query(FooterKey):
        await pilot.pause(0.01)
    await pilot.pause()


async def first_frame(app: HiveApp) -> None:
    """Run ``app`` headless until its first full frame."""
    async with app.run_test(size=(120, 36)) as pilot:
        await until_footer_keys(pilot)


def empty_app() -> HiveApp:
    return create_app(cast(HiveAPI, EmptyHive()), where="attached", bell=False)


async def test_a_second_app_parses_no_css(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[object] = []
    parse = textual_stylesheet.parse

    def counted(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args[2])  # where the source was read from
        return parse(*args, **kwargs)

    monkeypatch.setattr(textual_stylesheet, "parse", counted)
    await first_frame(empty_app())  # parses whatever this process has not parsed yet
    parsed.clear()
    await first_frame(empty_app())
    assert parsed == []


def test_parsed_rules_are_shared_per_theme_variables() -> None:
    css = "Label { color: $accent; }"

    def rules(accent: str) -> SharedParseStylesheet:
        sheet = SharedParseStylesheet(variables={"accent": accent})
        sheet.add_source(css, read_from=("test", "accent"))
        sheet.parse()
        return sheet

    red, blue, red_again = rules("#ff0000"), rules("#0000ff"), rules("#ff0000")
    assert red.rules[0] is red_again.rules[0]  # parsed once, shared
    assert red.rules[0].styles.color != blue.rules[0].styles.color


async def test_footer_keys_are_styled_once_and_look_as_textuals(
        monkeypatch: pytest.MonkeyPatch) -> None:
    restyled: list[str] = []
    update_styles = App.update_styles

    def noted(self: App[Any], node: DOMNode, animate: bool = True) -> None:
        if isinstance(node, FooterKey):
            restyled.append(node.key)
        update_styles(self, node, animate)

    monkeypatch.setattr(App, "update_styles", noted)
    app = empty_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await until_footer_keys(pilot)
        keys = list(app.screen.query(FooterKey))
        assert restyled == []
        # Textual's footer (not compact): every key but the palette's loses "-compact"
        assert {key.key: key.has_class("-compact") for key in keys} == {
            key.key: key.has_class("-command-palette") for key in keys}
        assert all(key.compact == key.has_class("-compact") for key in keys)


WARM_THEN_FORK = '''
import asyncio, gc, os, sys, threading
from textual.css import stylesheet
from hivetui.tui.app import HiveApp
from hivetui.tui.warmup import warm_up
sources = warm_up()
print("sources", sources, "threads", threading.active_count())
print("frozen", gc.get_freeze_count(), "apps",
      sum(isinstance(o, HiveApp) for o in gc.get_objects()))
try:
    asyncio.get_running_loop()
    print("a loop is running")
except RuntimeError:
    pass
parse = stylesheet.parse
def counted(*args, **kwargs):
    print("parsed", args[2])
    return parse(*args, **kwargs)
stylesheet.parse = counted
pid = os.fork()
if pid == 0:
    from tests.functional.test_startup_work import empty_app, first_frame
    asyncio.run(first_frame(empty_app()))
    sys.stdout.flush()
    os._exit(0)
print("child status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
'''


def test_warm_up_leaves_nothing_behind_and_forked_apps_parse_nothing(tmp_path: Path
                                                                      ) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WARM_THEN_FORK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    words = lines[0].split()
    assert words[0] == "sources" and int(words[1]) > 0 and words[2:] == ["threads", "1"]
    assert lines[1] == "frozen 0 apps 0"  # the warm-up's app is gone, nothing held frozen
    assert lines[2:] == ["child status 0"], done.stdout


class SlowHive(EmptyHive):
    """The empty hive, its agents read slowly (as a busy core answers); notes requests."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def agents(self) -> list[Any]:
        self.calls.append("agents")
        await asyncio.sleep(0.2)
        self.calls.append("agents read")
        return []

    async def approvals(self, include_resolved: bool = False) -> list[Any]:
        self.calls.append("approvals")
        return []

    async def questions(self, include_answered: bool = False) -> list[Any]:
        self.calls.append("questions")
        return []


async def test_the_first_frame_reads_the_hive_once_in_one_round_trip() -> None:
    hive = SlowHive()
    app = create_app(cast(HiveAPI, hive), where="attached", bell=False)
    loading = app.begin_loading()  # as run_app does before Textual starts
    async with app.run_test(size=(120, 36)) as pilot:
        await until_footer_keys(pilot)
        assert loading.done() and app.hive_context.state.loaded
    # the counts are asked while the agents are still on their way; on_mount read nothing
    # again
    assert hive.calls == ["agents", "approvals", "questions", "agents read"]


async def test_a_resize_to_the_same_size_lays_nothing_out_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    resized: list[Size] = []
    screen_resized = Screen._screen_resized

    def noted(self: Screen[Any], size: Size) -> None:
        resized.append(size)
        screen_resized(self, size)

    app = empty_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await until_footer_keys(pilot)
        monkeypatch.setattr(Screen, "_screen_resized", noted)
        same = Size(120, 36)
        app.post_message(events.Resize(same, same))  # as the terminal driver sends it
        await pilot.pause(0.1)
        assert resized == []
        wider = Size(130, 36)
        app.post_message(events.Resize(wider, wider))
        await pilot.pause(0.1)
        assert wider in resized and app.screen.outer_size == wider
