"""The entity stage: per-entity state and the partial aggregates it adds up to."""
