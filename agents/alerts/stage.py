"""The alert stage: watches the leads the entity stage changes and sends each breach once (SPEC §5).

What was already alerted is read back from the alerts topic itself after every rebalance (whoever
sent it), so a restart neither repeats nor loses an alert; until that read is done, nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agents.alerts.deadlines import Deadlines, alert_for, lead_team, newly_waiting, waiting_since
from agents.entities.state import EntityState, decode_state
from agents.kpis.model import ALL, Clocks, CompactEvent
from agents.kpis.windows import now_us
from agents.routing import SEP
from streams.kafka.buffered import StateTable
from streams.kafka.read_to_end import read_back
from streams.settings import Settings

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT_S = 60
NEVER_US = 1 << 62
SEND_BATCH = 500  # alerts in flight at once


class AlertStage:
    def __init__(
        self,
        settings: Settings,
        entities: StateTable,
        topic: str,
        send: Callable[[bytes, dict[str, Any]], Awaitable[None]],
        on_breach: Callable[[str, int], None],
        clocks: Callable[[int], Clocks] = lambda _partition: {},
    ) -> None:
        self.settings = settings
        self.entities = entities  # the entity table: a lead's current events
        self.topic = topic
        self.send = send  # returns once the broker has the alert
        self.on_breach = on_breach  # team, threshold
        self.clocks = clocks  # an entity partition's teams' SLA clocks
        self.deadlines: dict[int, Deadlines] = {}
        self.alerted: set[tuple[str, int]] | None = None  # (lead id, threshold) already in the alerts topic
        self._loading: asyncio.Future[None] | None = None

    def watch(
        self, partition: int, table_key: str, events: list[CompactEvent], before: list[CompactEvent] | None
    ) -> None:
        """A lead's events went from `before` (None: new here, or rebuilt) to `events`. Deadlines hold the
        table key: for a lead created here it is the very string the table's dict holds, so a waiting
        lead's deadline costs no string of its own."""
        created = newly_waiting(events, before)
        if created is not None:
            deadlines = self.deadlines.get(partition)
            if deadlines is None:
                deadlines = self.deadlines[partition] = Deadlines()
            s = self.settings
            deadlines.watch(table_key, created, s.thresholds, now_us() - s.retention_us)

    def calendars_changed(self, partition: int) -> None:
        """Put-off leads of the partition are due again on the wall clock, to be put off by the new one."""
        deadlines = self.deadlines.get(partition)
        if deadlines is not None:
            deadlines.recheck()

    def forget(self) -> None:
        """Before the entity stage rebuilds: deadlines come back with its leads, and what was sent is
        read back again (another worker may have alerted for these leads)."""
        self.deadlines = {}
        self.alerted = None

    async def raise_due(self, assigned: set[int]) -> None:
        """Send the alerts that fell due in the assigned partitions, each once."""
        alerted = self.alerted
        if alerted is None:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.ensure_future(self._load_alerted())
            return  # still reading back what was sent before
        now = now_us()
        for partition, deadlines in list(self.deadlines.items()):
            if partition not in assigned:
                continue
            ready: list[tuple[tuple[int, str], dict[str, Any]]] = []  # (due item, alert)
            taken: set[tuple[int, str]] = set()  # a lead whose creation time moved earlier is queued twice
            for item in deadlines.pop_due(now):
                threshold, table_key = item
                lead_key = table_key.partition(SEP)[2]
                if (lead_key[1:], threshold) in alerted or item in taken:
                    continue
                taken.add(item)
                stored = self.entities.data.get(table_key)
                state: EntityState | None = None if stored is None else decode_state(stored)
                created = None if state is None else waiting_since(state["e"])
                if state is None or created is None:
                    continue
                clock = self.clocks(partition).get(lead_team(state["e"]))
                if clock is not None:  # the threshold on the team's SLA clock
                    at = clock.deadline(created, threshold * 1_000_000)
                    if at is None:  # closed from now on: parked until a new calendar (`recheck`)
                        deadlines.put_off(NEVER_US, threshold, created, table_key)
                        continue
                    if at > now:
                        deadlines.put_off(at, threshold, created, table_key)
                        continue
                ready.append((item, alert_for(lead_key, state["e"], threshold, now_us(), clock)))
            if not await self._send_all(ready, deadlines, alerted, now):
                return

    async def _send_all(
        self,
        ready: list[tuple[tuple[int, str], dict[str, Any]]],
        deadlines: Deadlines,
        alerted: set[tuple[str, int]],
        now: int,
    ) -> bool:
        """Send a partition's due alerts together, `SEND_BATCH` at a time (one round trip each, not one per
        alert); what failed is due again. False when the round should stop: the broker is away, or a
        rebalance rebuilt the deadlines and reads the sent alerts back."""
        for start in range(0, len(ready), SEND_BATCH):
            batch = ready[start : start + SEND_BATCH]
            results = await asyncio.gather(
                *(self.send(str(alert["lead_id"]).encode(), alert) for _, alert in batch), return_exceptions=True
            )
            if self.alerted is not alerted:
                return False
            failed, errors = [], []
            for (item, alert), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    failed.append(item)
                    errors.append(result)
                    continue
                alerted.add((str(alert["lead_id"]), int(alert["threshold_s"])))
                for team in (alert["team_id"], ALL):
                    self.on_breach(team, int(alert["threshold_s"]))
            if failed:  # the broker is away: try these again next round
                log.warning("could not send %d alerts (%r); retrying", len(failed), errors[0])
                deadlines.retry(failed + [item for item, _ in ready[start + SEND_BATCH :]], now)
                return False
        return True

    async def _load_alerted(self) -> None:
        try:
            self.alerted = await asyncio.wait_for(self._read_alerted(), timeout=READ_BACK_TIMEOUT_S)
        except Exception:  # retried by the next alert round; no alert goes out meanwhile
            log.exception("could not read back the alerts topic; retrying")
        else:
            log.info("%d alerts already sent", len(self.alerted))

    async def _read_alerted(self) -> set[tuple[str, int]]:
        def identity(alert: Any) -> tuple[str, int]:
            return str(alert["lead_id"]), int(alert["threshold_s"])

        return await read_back(self.settings.aiokafka_kwargs(), self.topic, identity, log)
