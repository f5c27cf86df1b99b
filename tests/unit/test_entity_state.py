"""The entity table's stored form: MessagePack, and JSON as states were stored before it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from agents.entities.state import EntityState, apply_events, compact, decode_state, encode_state, entity_keys
from streams.records import decode_event
from streams.sim.simulator import FloorConfig, generate


def simulated_states() -> dict[str, EntityState]:
    states: dict[str, EntityState] = {}
    end = datetime(2026, 11, 30, 20, tzinfo=timezone.utc)
    config = FloorConfig(seed=3, teams=2, reps_per_team=3, start=end - timedelta(hours=12), end=end)
    for offset, raw in enumerate(generate(config)):
        event = compact(decode_event(orjson.dumps(raw)))
        for key in entity_keys(event):
            state, _added = apply_events(states.get(key), [event])
            state["o"] = offset
            states[key] = state
    return states


def test_every_state_reads_back_equal_from_both_forms() -> None:
    states = simulated_states()
    assert {key[0] for key in states} >= {"L", "C", "E", "M", "D", "Z"}
    for key, state in states.items():
        stored = orjson.dumps(state)  # as a changelog written before 2026-12-07 holds it
        assert decode_state(encode_state(state)) == decode_state(stored) == orjson.loads(stored), key


def test_a_lead_is_stored_in_fewer_bytes_than_as_json() -> None:
    leads = [state for key, state in simulated_states().items() if key[0] == "L"]
    packed, json = sum(len(encode_state(s)) for s in leads), sum(len(orjson.dumps(s)) for s in leads)
    assert packed < 0.85 * json, (packed, json)
