"""The entity stage's ship schedule: every flush interval, every CATCH_UP_SHIP_S while catching up."""

from __future__ import annotations

from faust.types import TP

from agents.entities.shipping import CATCH_UP_EVENTS, CATCH_UP_SHIP_S, ShipSchedule, events_waiting
from agents.ingest import ROUTE_CHUNK


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_events_waiting_counts_entity_messages_as_chunks_and_ignores_unknown_lags() -> None:
    lag = {TP("sales.calls", 0): 7, TP("sales.calls", 1): -1, TP("x-entities", 2): 3, TP("x-aggregates", 0): 2}
    assert events_waiting(lag, "x-entities") == 7 + 3 * ROUTE_CHUNK + 2
    assert events_waiting({}, "x-entities") == 0


def test_ships_every_tick_while_keeping_up() -> None:
    clock, waiting = Clock(), [CATCH_UP_EVENTS - 1]
    schedule = ShipSchedule(lambda: waiting[0], clock)
    for _ in range(5):
        assert schedule.due()
        clock.now += 0.05


def test_ships_once_per_catch_up_interval_while_behind_and_at_once_when_caught_up() -> None:
    clock, waiting = Clock(), [CATCH_UP_EVENTS]
    schedule = ShipSchedule(lambda: waiting[0], clock)
    assert schedule.due()  # the first tick ships
    shipped = []
    for tick in range(1, 41):  # 2 s of 0.05 s ticks
        clock.now = 100.0 + tick * 0.05
        if schedule.due():
            shipped.append(round(clock.now - 100.0, 2))
    assert shipped == [CATCH_UP_SHIP_S, 2 * CATCH_UP_SHIP_S]
    waiting[0] = 0  # caught up: the next tick ships, whenever the last ship was
    clock.now += 0.05
    assert schedule.due()
