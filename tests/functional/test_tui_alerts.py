"""One crash, one toast: the app's crash alert, not also the core's notification of it.

The crashes come from the real crash_watch (its polling path; the exit stream for the
loop) over the recording fake backend, so the events are exactly those a real hive
publishes for a crash."""

from __future__ import annotations

from hivetui.core.config import CrashWatchConfig
from hivetui.core.crash_watch import CrashWatch
from hivetui.core.events import ContainerCrash, Notification
from hivetui.core.hive import Hive
from hivetui.core.ports import ContainerExit
from hivetui.tui.alerts import AlertEchoes
from hivetui.tui.app import HiveApp
from tests.functional.test_tui_app import backend_of, hive, make_app, rows, state_cell, until

__all__ = ["hive"]  # the fixture: four running agents over the recording fake backend

Toasts = list[tuple[str, str, str]]


async def crash(watch: CrashWatch, hive: Hive, name: str) -> None:
    """``name``'s container goes away unasked; crash_watch's next poll sees it."""
    backend_of(hive).live.discard(name)
    await watch.poll()


async def exits(watch: CrashWatch, hive: Hive, name: str, status: int) -> None:
    """``name``'s main process ends unasked; the backend's exit stream says so."""
    await hive.registry.update(name, state="running", status="idle")
    await watch.on_exit(ContainerExit(name, status))


async def everything_shown(app: HiveApp, hive: Hive, toasts: Toasts) -> None:
    """Every event published so far has reached the app (a marker after them has)."""
    hive.hub.publish(Notification(level="info", title="marker", text="-"))
    await until(lambda: any(title == "marker" for title, _, _ in toasts))
    toasts[:] = [t for t in toasts if t[0] != "marker"]
    await until(lambda: not app.pump.busy)


def about(toasts: Toasts, name: str) -> list[str]:
    return [title for title, message, _ in toasts if name in title or name in message]


async def test_one_crash_is_one_toast_and_shows_in_the_fleet(hive: Hive) -> None:
    app, toasts = make_app(hive)
    watch = CrashWatch(hive, backend_of(hive), CrashWatchConfig(loop_count=99))
    await watch.seed()
    async with app.run_test(size=(120, 30), notifications=True):
        await until(lambda: len(rows(app)) == 4)
        backend_of(hive).log_lines["bob"] = ["starting", "panic: out of cheese"]
        await crash(watch, hive, "bob")
        await everything_shown(app, hive, toasts)
        assert about(toasts, "bob") == ["bob crashed"]
        _, message, severity = toasts[-1]
        assert (message, severity) == ("exit status unknown: panic: out of cheese", "error")
        assert sum("bob" in (n.title + n.message) for n in app._notifications) == 1
        await until(lambda: "crashed" in state_cell(app, "bob"))  # the fleet shows it


async def test_a_crash_loop_is_one_more_toast(hive: Hive) -> None:
    app, toasts = make_app(hive)
    watch = CrashWatch(hive, backend_of(hive), CrashWatchConfig(loop_count=2))
    await watch.seed()
    async with app.run_test(size=(120, 30), notifications=True):
        await until(lambda: len(rows(app)) == 4)
        await exits(watch, hive, "carol", 1)
        await exits(watch, hive, "carol", 139)
        await everything_shown(app, hive, toasts)
        assert about(toasts, "carol") == ["carol crashed", "carol crashed",
                                          "carol is crash-looping"]


async def test_a_notification_without_its_crash_alert_is_still_shown(hive: Hive) -> None:
    app, toasts = make_app(hive)
    async with app.run_test(size=(120, 30)):
        await until(lambda: len(rows(app)) == 4)
        # e.g. the stream lagged past the ContainerCrash: the notification is all there is
        hive.hub.publish(Notification(level="error", title="container crashed",
                                      text="alice exited with status 1", agent="alice"))
        await until(lambda: about(toasts, "alice") == ["container crashed"])


def test_an_echo_is_dropped_once_and_only_soon_after_its_alert() -> None:
    now = [100.0]
    echoes = AlertEchoes(clock=lambda: now[0])
    echo = Notification(level="error", title="container crashed", text="x", agent="bob")
    assert not echoes.is_echo(echo)  # no alert before it
    echoes.shown(ContainerCrash(agent="bob", exit_status=1))
    other = Notification(level="error", title="container crashed", text="x", agent="eve")
    assert not echoes.is_echo(other)  # another agent
    assert echoes.is_echo(echo)
    assert not echoes.is_echo(echo)  # once
    echoes.shown(ContainerCrash(agent="bob", exit_status=1))
    now[0] += 31.0
    assert not echoes.is_echo(echo)  # too late to be the same crash
