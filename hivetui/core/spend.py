"""What each agent's API use costs, per UTC day, and its ``budget_usd_per_day``.

The credential broker (hivetui/broker) reports every answered Messages API request here
with the response's own ``usage`` and model. Each report is one committed UPSERT into the
``spend`` table (schema 7), so a day's spend survives a core restart, and four telemetry
samples (``api_requests``, ``api_input_tokens``, ``api_output_tokens``, ``api_cost_usd``).

Once the day's cost reaches the agent's budget, :meth:`Spend.refusal` gives the reason the
broker refuses its requests with, and the first time in a day the manager gets a
``budget_exhausted`` event and the operator a toast -- at least once: the store marks the
day told only after the event is in the manager's inbox. Requests in flight when the budget
runs out still finish (their cost is counted): the budget is a line after which nothing
new starts, not a hard cap to the cent.

Cost is reckoned from public list prices per million tokens by model family (cache writes
1.25 times the input price, cache reads 0.1 times). A model of no known family is priced
as the dearest one, so an unknown name never makes the budget last longer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from hivetui.core.events import BudgetExhausted, EventHub, ManagerEvent, Notification
from hivetui.core.store import Store
from hivetui.core.telemetry import Telemetry

log = logging.getLogger(__name__)

BudgetOf = Callable[[str], Awaitable[float | None]]
Notify = Callable[[ManagerEvent], Awaitable[None]]

#: (substring of the model id, USD per million input tokens, per million output tokens);
#: the first match wins, so the more specific names come first
PRICES: tuple[tuple[str, float, float], ...] = (
    ("opus-4-5", 5.0, 25.0),
    ("opus-4-6", 5.0, 25.0),
    ("opus", 15.0, 75.0),
    ("sonnet", 3.0, 15.0),
    ("haiku-4", 1.0, 5.0),
    ("3-5-haiku", 0.8, 4.0),
    ("haiku", 0.25, 1.25),
)
DEAREST = max(PRICES, key=lambda p: p[2])
CACHE_WRITE = 1.25
CACHE_READ = 0.1


def _tokens(usage: Mapping[str, object], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def cost_usd(model: str, usage: Mapping[str, object]) -> float:
    """What one response cost, from its ``usage`` (non-numbers and negatives count 0)."""
    _, per_in, per_out = next((p for p in PRICES if p[0] in model), DEAREST)
    tokens_in = (_tokens(usage, "input_tokens")
                 + CACHE_WRITE * _tokens(usage, "cache_creation_input_tokens")
                 + CACHE_READ * _tokens(usage, "cache_read_input_tokens"))
    return (tokens_in * per_in + _tokens(usage, "output_tokens") * per_out) / 1e6


def input_tokens(usage: Mapping[str, object]) -> int:
    """Every input token of a response, cached or not."""
    return sum(_tokens(usage, k) for k in ("input_tokens", "cache_creation_input_tokens",
                                           "cache_read_input_tokens"))


def utc_day(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).date().isoformat()


@dataclass
class DaySpend:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    told: bool = False  # the day's budget_exhausted event is out


class Spend:
    """Per agent and UTC day: requests, tokens, cost (store-backed) and the budget line."""

    def __init__(self, store: Store, telemetry: Telemetry, hub: EventHub, notify: Notify,
                 budget_of: BudgetOf) -> None:
        self._store = store
        self._telemetry = telemetry
        self._hub = hub
        self._notify = notify
        self._budget_of = budget_of
        self._days: dict[tuple[str, str], DaySpend] = {}
        self._telling: set[str] = set()

    async def load(self) -> None:
        """Today's rows, read once at start (then :meth:`known` answers without the store)."""
        day = utc_day()
        for agent, *counts, told in await self._store.fetchall(
                "SELECT agent, requests, input_tokens, output_tokens, cost_usd, told FROM spend "
                "WHERE day = ?", (day,)):
            self._days[(agent, day)] = DaySpend(int(counts[0]), int(counts[1]), int(counts[2]),
                                                float(counts[3]), bool(told))

    def known(self, agent: str) -> DaySpend:
        """The agent's spend today as this core knows it (loaded at start, then counted)."""
        return self._days.get((agent, utc_day())) or DaySpend()

    async def today(self, agent: str) -> DaySpend:
        """The agent's spend so far today (read from the store once a day, then kept)."""
        day = utc_day()
        key = (agent, day)
        known = self._days.get(key)
        if known is None:
            row = await self._store.fetchone(
                "SELECT requests, input_tokens, output_tokens, cost_usd, told FROM spend "
                "WHERE agent = ? AND day = ?", (agent, day))
            known = DaySpend(int(row[0]), int(row[1]), int(row[2]), float(row[3]),
                             bool(row[4])) if row else DaySpend()
            self._forget_other_days(day)
            known = self._days.setdefault(key, known)
        return known

    def _forget_other_days(self, day: str) -> None:
        for key in [k for k in self._days if k[1] != day]:
            del self._days[key]

    async def refusal(self, agent: str) -> str | None:
        """Why the agent may not start another API request now (its budget is spent), or
        None. The first refusal of a day tells the manager and the operator."""
        budget = await self._budget_of(agent)
        if budget is None:
            return None
        spent = await self.today(agent)
        if spent.cost_usd < budget:
            return None
        await self._tell(agent, spent, budget)
        return (f"hivetui: agent {agent}'s budget_usd_per_day ({budget:.2f} USD) is spent: "
                f"{spent.cost_usd:.4f} USD today (UTC). Its API requests are refused until the "
                "day ends or the operator raises budget_usd_per_day in its settings.toml.")

    async def record(self, agent: str, model: str, usage: Mapping[str, object]) -> float:
        """Count one answered request; returns its cost. Committed before it returns."""
        cost = cost_usd(model, usage)
        tokens_in, tokens_out = input_tokens(usage), _tokens(usage, "output_tokens")
        day = utc_day()
        rows = await self._store.execute_returning(
            "INSERT INTO spend (agent, day, requests, input_tokens, output_tokens, cost_usd) "
            "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (agent, day) DO UPDATE SET "
            "requests = requests + 1, input_tokens = input_tokens + excluded.input_tokens, "
            "output_tokens = output_tokens + excluded.output_tokens, "
            "cost_usd = cost_usd + excluded.cost_usd "
            "RETURNING requests, input_tokens, output_tokens, cost_usd, told",
            (agent, day, tokens_in, tokens_out, cost))
        requests, total_in, total_out, total_cost, told = rows[0]
        self._forget_other_days(day)
        self._days[(agent, day)] = DaySpend(requests, total_in, total_out, total_cost,
                                            bool(told))
        self._telemetry.record(agent, {"api_requests": 1, "api_input_tokens": tokens_in,
                                       "api_output_tokens": tokens_out,
                                       "api_cost_usd": cost})
        budget = await self._budget_of(agent)
        if budget is not None and total_cost >= budget:
            await self._tell(agent, self._days[(agent, day)], budget)
        return cost

    async def _tell(self, agent: str, spent: DaySpend, budget: float) -> None:
        """The day's budget_exhausted event and toast, once (at least once across a kill:
        the day is marked told only once the event is in the manager's inbox)."""
        if spent.told or agent in self._telling:
            return
        self._telling.add(agent)
        try:
            self._hub.publish(Notification(
                level="warning", title=f"{agent}: API budget spent",
                text=f"{spent.cost_usd:.2f} of {budget:.2f} USD today (UTC); its API "
                     "requests are refused until the day ends or budget_usd_per_day is "
                     "raised in its settings.toml", agent=agent))
            await self._notify(BudgetExhausted(agent=agent, spent=round(spent.cost_usd, 6),
                                               budget=budget))
            await self._store.execute(
                "INSERT INTO spend (agent, day, told) VALUES (?, ?, 1) "
                "ON CONFLICT (agent, day) DO UPDATE SET told = 1", (agent, utc_day()))
            spent.told = True
            log.warning("agent %s: budget_usd_per_day %.2f spent (%.4f today)", agent, budget,
                        spent.cost_usd)
        finally:
            self._telling.discard(agent)
