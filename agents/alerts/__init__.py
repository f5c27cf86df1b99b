"""Alerts on slow lead responses (SPEC §5): deadlines per lead and the stage that sends each breach once."""
