"""The entity stage's ship schedule: every flush interval, every CATCH_UP_SHIP_S while catching up; and
after a rebalance, when the aggregates have applied the first ship of the rebuilt partials."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from faust.types import TP

from agents.entities.shipping import CATCH_UP_EVENTS, CATCH_UP_SHIP_S, ShipSchedule, Takeover, events_waiting
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


class Delivered(NamedTuple):  # what a sent message resolves to (aiokafka's RecordMetadata, in part)
    partition: int
    offset: int


class Sent:
    """A ship's messages, acknowledged (or failed) when the test says."""

    def __init__(self, *results: Delivered | BaseException) -> None:
        loop = asyncio.get_running_loop()
        self.results = results
        self.futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in results]

    async def acknowledge(self) -> None:
        for future, result in zip(self.futures, self.results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        await asyncio.sleep(0)  # the done callbacks run


def test_a_takeover_settles_once_what_was_shipped_up_to_catching_up_is_applied_in_the_owned_partitions() -> None:
    async def scenario() -> None:
        lag: dict[str, int] = {"in": 0}
        takeover, owned = Takeover(lambda: lag), {0, 1}
        assert takeover.settled({}, owned)  # no rebalance yet
        takeover.assigned()
        early = Sent(Delivered(0, 3))  # a ship before the rebuild: partials of the old assignment
        takeover.shipped(early.futures)
        await early.acknowledge()
        assert takeover.last_sent == {}
        takeover.rebuilt()
        lag = {"in": 40, "entities": -1}
        rebuilt = Sent(Delivered(0, 10), Delivered(1, 4))  # the rebuilt partials, while the replay runs
        takeover.shipped(rebuilt.futures)
        replayed = Sent(Delivered(0, 11))
        takeover.shipped(replayed.futures)
        lag = {"in": 0, "entities": 0}  # read to the end: this ship and the next are the last tracked
        caught_up = Sent(Delivered(2, 50))
        takeover.shipped(caught_up.futures)
        assert not takeover.settled({0: 99, 1: 99}, owned)
        last = Sent(Delivered(0, 12))
        takeover.shipped(last.futures)
        later = Sent(Delivered(1, 30))  # not tracked: the view may lag behind it as always
        takeover.shipped(later.futures)
        for ship in (rebuilt, replayed, caught_up, later):
            await ship.acknowledge()
        assert not takeover.settled({0: 99, 1: 99}, owned)  # `last` not acknowledged yet
        await last.acknowledge()
        assert takeover.last_sent == {0: 12, 1: 4, 2: 50}
        assert not takeover.settled({0: 11, 1: 4}, owned)  # partition 0's last tracked message not applied
        assert not takeover.settled({0: 12}, owned)
        assert takeover.settled({0: 12, 1: 4}, owned)  # partition 2 is another worker's
        assert takeover.settled({}, owned)  # and stays settled until the next rebalance
        takeover.assigned()
        assert not takeover.settled({0: 99, 1: 99}, owned)

    asyncio.run(scenario())


def test_a_takeover_does_not_wait_for_what_was_lost_in_transit_nor_for_ships_of_an_earlier_assignment() -> None:
    async def scenario() -> None:
        takeover, owned = Takeover(lambda: {}), {0}
        takeover.assigned()
        takeover.rebuilt()
        first, second = Sent(ConnectionError("broker away"), Delivered(0, 7)), Sent()
        takeover.shipped(first.futures)  # caught up (nothing to read): the next ship is the last
        takeover.shipped(second.futures)
        await first.acknowledge()
        assert takeover.last_sent == {0: 7}
        assert takeover.settled({0: 7}, owned)
        takeover.assigned()
        takeover.rebuilt()
        slow = Sent(Delivered(0, 1))
        takeover.shipped(slow.futures)
        takeover.assigned()  # another rebalance before the ship was acknowledged
        await slow.acknowledge()
        assert takeover.last_sent == {}
        assert not takeover.settled({0: 1}, owned)
        takeover.rebuilt()
        takeover.shipped([])
        takeover.shipped([])
        assert takeover.settled({}, owned)

    asyncio.run(scenario())
