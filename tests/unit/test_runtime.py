"""The worker process's tuning: glibc's mallopt is found and takes the mmap threshold (a refusal would only
log a warning, and a libc without it is skipped)."""

from __future__ import annotations

import logging
import platform

import pytest

from agents.runtime import M_MMAP_THRESHOLD, MALLOPT, MMAP_THRESHOLD_BYTES, tune_malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_glibc_takes_the_mmap_threshold(caplog: pytest.LogCaptureFixture) -> None:
    assert MALLOPT is not None
    with caplog.at_level(logging.WARNING):
        tune_malloc()
    assert not caplog.records
    assert MALLOPT(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
