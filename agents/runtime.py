"""What the worker's process and timers share: their error policy, the garbage collector's pace, and handing
freed memory back to the OS."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def logged(tick: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer body whose failure is logged and retried at the next tick: Faust stops the whole
    worker when a timer raises."""

    @functools.wraps(tick)
    async def run() -> None:
        try:
            await tick()
        except Exception:  # see the docstring
            log.exception("%s failed; retrying at the next tick", tick.__name__)

    return run


# CPython's default (700, 10, 10) runs a young collection whenever 700 more containers are alive than at the
# last one: in a catching-up worker that is every few events, each traversing the batch's temporaries (its
# contributions' tuple keys, decoded events), which reference counting frees anyway. At 50,000 the young
# collections see mostly survivors; 1M events from cold took 71 µs of worker CPU per event with the default
# and 44 with these, the same as with the collector off (benchmarks/README.md, "The garbage collector").
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """The worker's collector pace (GC_THRESHOLDS); what start-up built stays out of full collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _libc(name: str) -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc
        return None
    return function


MALLOC_TRIM = _libc("malloc_trim")
MALLOPT = _libc("mallopt")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 1024 * 1024


def tune_malloc() -> None:
    """Blocks of 1 MiB and more (the large fetched and produced batches, a big dict's table) always get a
    mapping of their own, handed back to the OS when freed. glibc starts at 128 KiB but raises the threshold
    to the largest such block freed so far (up to 32 MiB); past that, those buffers come from the heap and
    its freed pages stay with the worker: 678-746 bytes per waiting lead in the memory benchmark, 667-683
    with this. At 128 KiB (667 B) every fetch and produce buffer of a catching-up worker was a fresh mapping,
    page-faulted and zeroed: 2.5-2.7 s of system CPU per 1M events, 1.6-2.3 s at 1 MiB. Larger thresholds
    saved a little more (1.0 s at 16 MiB) for less stable memory (662-698 B at 8 MiB)."""
    if MALLOPT is not None and not MALLOPT(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        log.warning("mallopt(M_MMAP_THRESHOLD) refused; freed batch buffers may stay in the heap")


async def release_free_memory() -> None:
    """Hand memory freed by batch processing back to the OS (glibc keeps freed heap pages otherwise)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)
