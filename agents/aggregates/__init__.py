"""The aggregate stage: per team/rep buckets merged from the entity partitions, and the replica of other
workers' aggregates."""
