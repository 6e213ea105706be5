"""Every message a hive widget posts names its widget as ``control``, so a handler can pick
the widget it means with ``@on(Message, "#id")`` (without it the selector never matches)."""

from __future__ import annotations

import importlib
import pkgutil

from textual.message import Message

import hivetui.tui.widgets as widgets_package


def widget_messages() -> list[type[Message]]:
    found: dict[str, type[Message]] = {}
    for info in pkgutil.walk_packages(widgets_package.__path__, "hivetui.tui.widgets."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if not isinstance(value, type) or value.__module__ != info.name:
                continue
            for inner in vars(value).values():  # messages are nested in their widget
                if isinstance(inner, type) and issubclass(inner, Message):
                    found[f"{info.name}.{inner.__qualname__}"] = inner
    return list(found.values())


def test_every_widget_message_has_a_control() -> None:
    messages = widget_messages()
    assert len(messages) >= 12  # fleet, queues, diff, answer form, terminal…
    missing = [m.__qualname__ for m in messages if m.control is Message.control]
    assert missing == []
