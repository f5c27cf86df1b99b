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


def test_a_partition_that_moves_away_and_back_is_merged_once() -> None:
    """The store drops a revoked partition's keys and restores them from the changelog when it comes back;
    the view forgets it at both (`AggregateView.drop`, the store's `on_dropped`). A merged bucket kept from
    the first ownership was moved by each replayed snapshot on top of itself: every KPI of the partition
    doubled when its changelog lacked keys the first owner had not flushed yet (test_crash's two-then-three
    workers, once)."""
    table, view = MemoryTable(), AggregateView()
    stage = AggregateStage(table, view, foreign=lambda *_: None)
    snapshots = [[0, 5, "team-a", "rep-1", "d2026-12-01", {"calls_outbound": 3}],
                 [1, 9, "team-a", "rep-1", "d2026-12-01", {"calls_outbound": 4}],
                 [0, 5, "team-a", "rep-2", "d2026-12-01", {"emails_sent": 2}]]  # fmt: skip
    stage.apply(2, 0, {"s": snapshots})
    flushed = {k: v for k, v in table.data.items() if "rep-1" in k}  # rep-2's record never reached the changelog
    table.data.clear()  # partition 2 moves to another worker: the store drops its keys...
    view.drop({2})  # ...and tells the view
    assert view.buckets == {} and view.partition_of == {}
    view.drop({2})  # back here: the store is about to restore it
    for key, record in flushed.items():  # the restore
        table.data[key] = record
        view.apply(2, key, record)
    stage.apply(2, 0, {"s": snapshots})  # the aggregate topic replayed from the committed offset
    stage.apply(2, 1, {"s": [[1, 10, "team-a", "rep-2", "d2026-12-01", {"emails_sent": 1}]]})
    assert view.buckets[("team-a", "rep-1")]["d2026-12-01"] == {"calls_outbound": 7}
    assert view.buckets[("team-a", "rep-2")]["d2026-12-01"] == {"emails_sent": 3}
    for table_key, record in table.data.items():
        team, rep, bucket = table_key.split(SEP)
        assert view.buckets[(team, rep)][bucket] == merge(record)


def test_drop_forgets_only_the_given_partitions_and_readers_see_a_change() -> None:
    view = AggregateView()
    view.apply(1, SEP.join(("team-a", "rep-1", "d2026-12-01")), {"0": [1, {"calls_outbound": 1}]})
    view.apply(3, SEP.join(("team-b", "rep-2", "d2026-12-01")), {"0": [1, {"calls_outbound": 2}]})
    before = view.version(("team-a", "rep-1"))
    view.drop({1, 2})
    assert list(view.buckets) == [("team-b", "rep-2")] and view.partition_of == {("team-b", "rep-2"): 3}
    assert view.version(("team-a", "rep-1")) != before
