"""What a read-only operator may not do: keys shown disabled, and a press that says why.

A screen built on :class:`GuardedScreen` lists its mutating actions in
:attr:`~GuardedScreen.READ_ONLY_REFUSED` (a widget of it may too, answering ``False`` from
its own ``check_action`` for them). In a read-only session (``api.read_only``: the
operator's key carries ``hivetui-read-only``, or its name is in config ``ssh.read_only``)
those actions are off in ``check_action`` — the footer does not offer them, ``?`` marks
them, the header says "read-only" — and pressing one of their keys anyway toasts what was
refused and why, instead of doing nothing. The core refuses such calls regardless; this is
the operator's feedback, not the enforcement. The `:` line and the palette say the same
through :func:`refuse_read_only`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from textual import events
from textual.actions import parse
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from hivetui.core.api import HiveAPI

log = logging.getLogger(__name__)

READ_ONLY_TITLE = "Read-only session"
READ_ONLY_KEY_OPTION = "hivetui-read-only"  # hivetui.ssh.keys.READ_ONLY_OPTION (no asyncssh here)
HELP_MARK = " (refused: read-only session)"


def refusal_text(operator: str, what: str) -> str:
    """One line: what was refused, and why."""
    return (f"{operator} may not {what}: a read-only session's changes are refused — that "
            f"needs an operator key without {READ_ONLY_KEY_OPTION} (and a name not in "
            "ssh.read_only)")


def refuse_read_only(app: App[Any], api: HiveAPI, what: str) -> bool:
    """In a read-only session toast that ``what`` is refused and return True; else False."""
    if not api.read_only:
        return False
    log.info("read-only session of %s: refused to %s", api.operator, what)
    app.notify(refusal_text(api.operator, what), title=READ_ONLY_TITLE, severity="warning",
               markup=False)
    return True


def _what(refused: Mapping[str, str], action: str) -> str | None:
    _, name, params = parse(action)
    what = refused.get(name)
    if what is None:
        return None
    return what.format(*params) if params else what


def mark_refused(bindings: Sequence[BindingType], refused: Mapping[str, str]
                 ) -> list[BindingType]:
    """``bindings`` for ``?`` in a read-only session: the refused ones say so."""
    out: list[BindingType] = []
    for item in bindings:
        binding = item if isinstance(item, Binding) else Binding(*item)
        if _what(refused, binding.action) is not None:
            binding = dataclasses.replace(binding, description=binding.description + HELP_MARK)
        out.append(binding)
    return out


class GuardedScreen(Screen[None]):
    """A hive screen whose mutating keys a read-only session sees disabled and explained."""

    READ_ONLY_REFUSED: ClassVar[Mapping[str, str]] = {}
    """Action name → what it does (``{}``: its first argument), e.g. ``"approve a request"``."""

    @property
    def hive_api(self) -> HiveAPI:
        """The API the screen acts through."""
        raise NotImplementedError

    def read_only_refuses(self, action: str, parameters: tuple[object, ...] = ()) -> str | None:
        """What ``action`` would do, when this read-only session may not do it; else None."""
        what = self.READ_ONLY_REFUSED.get(action)
        if what is None or not self.hive_api.read_only:
            return None
        return what.format(*parameters) if parameters else what

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not self.read_only_refuses(action, parameters)

    def refuse(self, action: str, parameters: tuple[object, ...] = ()) -> bool:
        """Toast why ``action`` is refused (read-only) and return True; else False."""
        what = self.read_only_refuses(action, parameters)
        return what is not None and refuse_read_only(self.app, self.hive_api, what)

    def on_key(self, event: events.Key) -> None:
        """A key of a refused action (the screen's or a widget's): say why, not nothing."""
        if not self.hive_api.read_only:
            return
        what = self._refused_key(event.key)
        if what is not None and refuse_read_only(self.app, self.hive_api, what):
            event.stop()  # nor does an app key bound to the same letter run instead
            event.prevent_default()

    def _refused_key(self, key: str) -> str | None:
        """What ``key`` would do here, when that is refused; None when it is not.

        The refused bindings are hidden (``check_action`` is False), so they are not among
        ``active_bindings``: the first of the focused widget, its ancestors and this screen
        that binds ``key`` decides, as it would for an allowed key."""
        for owner in (self.focused or self).ancestors_with_self:
            for binding in Binding.make_bindings(getattr(owner, "BINDINGS", ())):
                if binding.key == key:
                    refused: Mapping[str, str] = getattr(owner, "READ_ONLY_REFUSED", {})
                    return _what(refused, binding.action)
            if owner is self:
                break
        return None
