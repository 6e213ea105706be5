"""The facts about one agent, at the top of its overview tab."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hivetui.core.views import AgentView
from hivetui.core.visible import visible_line
from hivetui.tui.widgets.agent_state import ago, badge, marker


def cost_text(cost: dict[str, Any]) -> Text:
    """``$0.1234 in 3 turns (12,040 in / 2,113 out tokens)``, the CLI's figures for today
    (UTC); with a broker's own count, the two side by side and how far apart they are."""
    text = Text(f"${cost['cost_usd']:.4f} in {cost['turns']} turn(s) "
                f"({cost['tokens_in']:,} in / {cost['tokens_out']:,} out tokens)")
    broker = cost.get("broker_cost_usd")
    if broker is not None:
        gap = float(broker) - float(cost["cost_usd"])
        text.append(f"; broker counted ${float(broker):.4f}"
                    + (f" ({gap:+.4f} vs the CLI)" if abs(gap) >= 0.00005 else " (agrees)"))
    return text


class AgentInfoPanel(Static):
    COMPONENT_CLASSES = {"info--key", "info--ok", "info--busy", "info--attention",
                         "info--error", "info--muted"}
    DEFAULT_CSS = """
    AgentInfoPanel {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    AgentInfoPanel > .info--key { color: $text-muted; }
    AgentInfoPanel > .info--ok { color: $text-success; }
    AgentInfoPanel > .info--busy { color: $text-primary; }
    AgentInfoPanel > .info--attention { color: $text-warning; text-style: bold; }
    AgentInfoPanel > .info--error { color: $text-error; text-style: bold; }
    AgentInfoPanel > .info--muted { color: $text-muted; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.view: AgentView | None = None
        self.cost: dict[str, Any] | None = None

    def show(self, view: AgentView) -> None:
        self.view = view
        self.update(self._table(view))

    def show_cost(self, cost: dict[str, Any]) -> None:
        """Today's spend (``api.cost``): the CLI's figures, and the broker's beside them."""
        self.cost = cost
        if self.view is not None:
            self.update(self._table(self.view))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.view is not None:
            self.update(self._table(self.view))

    def _network(self, view: AgentView) -> Text | None:
        """What stands out about the agent's network (nothing for the default, a private
        network nothing was refused on)."""
        if view.network == "host":
            return Text("host's own network (settings.toml network = \"host\"): not "
                        "isolated", self.get_component_rich_style("info--error", partial=True))
        if not view.egress_denied:
            return None
        return Text(f"{view.egress_denied} egress attempt(s) denied since the core started "
                    "(not in its network.allow; ctl stats NAME --key egress_denied)",
                    self.get_component_rich_style("info--attention", partial=True))

    def _table(self, view: AgentView) -> Table:
        now = self.clock()
        key = self.get_component_rich_style("info--key", partial=True)
        b = badge(view)
        tone = self.get_component_rich_style(f"info--{b.tone}", partial=True)
        table = Table.grid(padding=(0, 2))
        table.add_column(style=key, no_wrap=True)
        table.add_column()
        table.add_column(style=key, no_wrap=True)
        table.add_column()
        mark = marker(view)
        state = Text(b.text, tone)
        if mark is not None:
            state.append("  — needs you", tone)
        model = view.effective_model + (f"  (override of {view.model})"
                                        if view.model_override else "")
        table.add_row("state", state, "role", view.role)
        table.add_row("status", Text(visible_line(f"{view.status}  {view.status_detail}".strip())),
                      "runtime", Text(visible_line(view.runtime)))
        table.add_row("model", Text(visible_line(model)), "inbox", str(view.inbox_depth))
        table.add_row("last turn", f"{ago(view.last_turn_at, now)} ago"
                      if view.last_turn_at else "never",
                      "created", f"{ago(view.created_at, now)} ago")
        if view.api_today:
            table.add_row("API today", Text(view.api_today), "", "")
        if view.action:
            table.add_row("doing", Text(visible_line(f"{view.action} · for "
                                                     f"{ago(view.action_since, now)}")), "", "")
        if self.cost is not None:
            table.add_row("cost today", cost_text(self.cost), "per turn",
                          f"${self.cost['cost_per_turn_usd']:.4f}")
        if view.flags:
            table.add_row("operation", Text(", ".join(view.flags)), "", "")
        network = self._network(view)
        if network is not None:
            table.add_row("network", network, "", "")
        if view.dead_letters:
            dead = self.get_component_rich_style("info--error", partial=True)
            table.add_row("dead", Text(f"{view.dead_letters} message(s) set aside after "
                                       "failed turns (Messages tab, kind dead)", dead), "", "")
        return table
