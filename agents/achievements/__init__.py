"""Achievements (SPEC §5b): goals reached and records broken, announced once each."""
