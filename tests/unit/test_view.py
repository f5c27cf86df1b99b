"""AggregateView.apply: one aggregates-table record (restored, or followed by the replica) per bucket."""

from __future__ import annotations

from agents.aggregates.view import AggregateView
from agents.routing import SEP


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
