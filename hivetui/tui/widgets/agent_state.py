"""How an agent's state reads on screen: always a glyph and a word, never colour alone.

``badge(view)`` gives the words and a style class (``-ok``, ``-busy``, ``-attention``,
``-error``, ``-muted``); widgets map the class to a theme colour from their stylesheet.
"""

from __future__ import annotations

from dataclasses import dataclass

from hivetui.core.ages import format_age
from hivetui.core.views import AgentView


@dataclass(frozen=True)
class Badge:
    glyph: str
    word: str
    tone: str  # ok | busy | attention | error | muted

    @property
    def text(self) -> str:
        return f"{self.glyph} {self.word}"


@dataclass(frozen=True)
class Marker:
    """Why an agent wants the operator's eyes, shortest first."""

    glyph: str
    word: str
    tone: str


TONES = ("ok", "busy", "attention", "error", "muted")

#: attention order for sorting, lower first; busy and idle rank alike (rows stay put)
_RANK = {"looping": 0, "crashed": 1, "waiting": 2, "stopping": 3, "starting": 3,
         "restarting": 3, "rebuilding": 3, "destroying": 3, "in turn": 5, "idle": 5,
         "running": 5, "stopped": 6, "created": 7}


def badge(view: AgentView) -> Badge:
    if view.crash_looping:
        return Badge("⟳", "looping", "error")
    if view.state == "crashed":
        return Badge("✖", "crashed", "error")
    if view.flags:
        return Badge("…", view.flags[0].lower(), "busy")
    if view.state == "running":
        if view.status == "waiting_operator":
            return Badge("⚑", "waiting", "attention")
        if view.status == "in_turn":
            return Badge("▶", "in turn", "busy")
        if view.status == "idle":
            return Badge("●", "idle", "ok")
        return Badge("●", "running", "ok")
    if view.state == "stopped":
        return Badge("■", "stopped", "muted")
    return Badge("○", view.state, "muted")


def marker(view: AgentView) -> Marker | None:
    """The flag for agents that need the operator: waiting, crashed or crash-looping."""
    if view.crash_looping:
        return Marker("⟳", "LOOP", "error")
    if view.state == "crashed":
        return Marker("✖", "CRASH", "error")
    if view.status == "waiting_operator":
        return Marker("⚑", "YOU", "attention")
    return None


def network_marker(view: AgentView) -> Marker | None:
    """The flag of an agent on the host's network (settings.toml ``network = "host"``):
    nothing of the hive's network isolation applies to it."""
    return Marker("⚠", "HOST", "error") if view.network == "host" else None


def attention_rank(view: AgentView) -> int:
    return _RANK.get(badge(view).word, 8)


def model_chip(model: str, width: int = 14) -> str:
    """A short model name: the ``claude-`` prefix goes, long names end in an ellipsis."""
    short = model.removeprefix("claude-")
    return short if len(short) <= width else short[: width - 1] + "…"


def ago(then: float | None, now: float) -> str:
    """Time since ``then`` (:func:`~hivetui.core.ages.format_age`); — when never."""
    return "—" if then is None else format_age(then, now)
