"""The event hub keeps the recent events for `ctl events`: bounded, samples aside."""

from __future__ import annotations

from hivetui.core.events import RECENT_EVENTS, EventHub, MessageSent, TelemetryUpdated


def sent(i: int) -> MessageSent:
    return MessageSent(id=i, sender="operator", recipient="alice", kind="operator",
                       body=f"m{i}", depth=1)


def test_recent_events_are_the_last_ones_oldest_first_without_telemetry() -> None:
    hub = EventHub()
    for i in range(3):
        hub.publish(sent(i))
        hub.publish(TelemetryUpdated(agent="alice", keys=("cpu_pct",)))
    assert [ev.id for ev in hub.recent(2) if isinstance(ev, MessageSent)] == [1, 2]
    assert [ev.event for ev in hub.recent(10)] == ["message"] * 3


def test_the_hub_keeps_a_bounded_number_of_events() -> None:
    hub = EventHub()
    for i in range(RECENT_EVENTS + 7):
        hub.publish(sent(i))
    kept = hub.recent(RECENT_EVENTS + 7)
    assert len(kept) == RECENT_EVENTS
    assert isinstance(kept[0], MessageSent) and kept[0].id == 7
