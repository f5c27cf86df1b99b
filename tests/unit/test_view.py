"""AggregateView: one aggregates-table record (restored, or followed by the replica) per bucket, and the
aggregate stage's incremental changes."""

from __future__ import annotations

import random

from agents.aggregates.stage import AggregateStage
from agents.aggregates.view import AggregateView, merge
from agents.kpis.response import OLDEST_AWAITING, OLDEST_OF
from agents.routing import SEP
from streams.kafka.buffered import MemoryTable


def test_records_merge_their_sources_and_a_tombstone_deletes_the_bucket() -> None:
    view = AggregateView()
    key = SEP.join(("team-north", "rep-1", "d2026-11-26"))
    view.apply(2, key, {"0": [10, {"calls_outbound": 3}], "1": [7, {"calls_outbound": 2}]})
    view.apply(2, SEP.join(("team-north", "rep-1", "d2026-11-25")), {"0": [4, {"calls_outbound": 1}]})
    assert view.buckets[("team-north", "rep-1")]["d2026-11-26"] == {"calls_outbound": 5}
    assert view.partition_of[("team-north", "rep-1")] == 2
    before = view.version(("team-north", "rep-1"))
    view.apply(2, key, None)
    assert list(view.buckets[("team-north", "rep-1")]) == ["d2026-11-25"]
    assert view.version(("team-north", "rep-1")) != before  # readers' caches notice the deletion
    view.apply(2, SEP.join(("team-south", "rep-9", "d2026-11-26")), None)  # unknown key: nothing to delete
    assert ("team-south", "rep-9") not in view.buckets


def test_incremental_changes_equal_a_full_merge_of_every_source() -> None:
    """The aggregate stage moves a merged bucket by one source's change (`AggregateView.change`); after
    any sequence of snapshots (older versions, fields appearing and vanishing, the oldest awaiting lead's
    minimum moving either way) it must equal the sum over the sources' newest snapshots."""
    rng = random.Random(11)
    table = MemoryTable()
    view = AggregateView()
    stage = AggregateStage(table, view, foreign=lambda *_: None)
    names = ["calls_outbound", "emails_sent", "won_amount", OLDEST_AWAITING, OLDEST_OF + "team-a"]
    versions: dict[tuple[int, str], int] = {}
    for _ in range(3000):
        source, bucket = rng.randrange(4), rng.choice(["d2026-12-01", "m29413", "live"])
        version = versions.get((source, bucket), 0) + rng.choice([-1, 1, 1, 2])  # sometimes an older one
        versions[(source, bucket)] = max(version, versions.get((source, bucket), 0))
        fields = {name: rng.choice([1, 2, 5, 10**6 + rng.randrange(9)]) for name in names if rng.random() < 0.6}
        stage.apply(1, 0, {"s": [[source, version, "team-a", "rep-1", bucket, fields]]})
        for table_key, record in table.data.items():
            bucket_name = table_key.split(SEP)[2]
            assert view.buckets[("team-a", "rep-1")].get(bucket_name, {}) == merge(record), table_key


def test_a_changed_bucket_is_a_new_dict() -> None:
    """Readers keep what they derived from a bucket while it is the same object (`PaceReader.summary`)."""
    view = AggregateView()
    stage = AggregateStage(MemoryTable(), view, foreign=lambda *_: None)
    stage.apply(0, 0, {"s": [[0, 1, "team-a", "_all", "t2026-12-01+15", {"co@900": 1}]]})
    before = view.buckets[("team-a", "_all")]["t2026-12-01+15"]
    stage.apply(0, 1, {"s": [[0, 2, "team-a", "_all", "t2026-12-01+15", {"co@900": 2}]]})
    after = view.buckets[("team-a", "_all")]["t2026-12-01+15"]
    assert after is not before and before == {"co@900": 1} and after == {"co@900": 2}
