"""Whether the broker answers: health turns not-ready while it does not (agents/export/health.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class BrokerProbe:
    """Asks the broker for metadata through an aiokafka client, on a timer."""

    def __init__(self, client: Callable[[], Any], timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.seen_at = 0.0  # monotonic time of the last successful metadata request

    async def probe(self) -> None:
        try:
            await asyncio.wait_for(self.client().fetch_all_metadata(), timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure means not reachable right now
            log.debug("broker probe failed: %s", exc)
        else:
            self.seen_at = time.monotonic()
