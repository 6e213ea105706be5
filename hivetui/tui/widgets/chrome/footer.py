"""The key bar of every hive screen: Textual's footer, its keys styled once as they mount.

Textual's ``FooterKey`` starts compact (its reactive's default) and only then takes the
footer's ``compact`` through a data binding: in a footer that is not compact, each key
gains the ``-compact`` class as it mounts and loses it right after, two style passes of
its own. That is most of the CPU a screen's first frame spends on its footer (twelve
keys on the fleet, composed again whenever the bindings change). Here each key starts
as it will stay, so the binding changes nothing and the look is Textual's own.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: the one key Textual's footer does not bind to its ``compact``: it keeps the default
_UNBOUND_KEY_CLASS = "-command-palette"
_KEY_COMPACT_DEFAULT = True  # FooterKey.compact's (read, it would run the watcher first)


class HiveFooter(Footer):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                compact = (_KEY_COMPACT_DEFAULT if widget.has_class(_UNBOUND_KEY_CLASS)
                           else self.compact)
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget
