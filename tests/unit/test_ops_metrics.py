"""The event-delay histogram is counted a batch at a time; its exposition must be prometheus_client's own."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest

from agents.export.ops_metrics import DELAY_BUCKETS, DelayHistogram

NAME, HELP = "salesfloor_event_delay_seconds", "Processing time minus occurred_at."


def test_batched_delay_histogram_exposes_what_prometheus_clients_histogram_would() -> None:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # as OpsMetrics.create does
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram(NAME, HELP, buckets=DELAY_BUCKETS, registry=theirs)
    batched = DelayHistogram(NAME, HELP, ours)
    rng = random.Random(7)
    delays = [0.0, *DELAY_BUCKETS[:-1], 0.0500001, 86400.5, 1e12] + [rng.expovariate(0.01) for _ in range(2000)]
    for start in range(0, len(delays), 300):  # several batches, bounds exactly on a bucket edge included
        batch = delays[start : start + 300]
        for delay in batch:
            histogram.observe(delay)
        batched.observe_batch(batch)
    assert generate_latest(ours) == generate_latest(theirs)
    batched.observe_batch([])
    assert generate_latest(ours) == generate_latest(theirs)
