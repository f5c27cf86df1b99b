"""Audit tooling: the reference KPI computation (`salesfloor recompute`), independent of the engine."""
