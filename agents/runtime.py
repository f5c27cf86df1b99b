"""What the worker's timers share: their error policy, and handing freed memory back to the OS."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
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


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


MALLOC_TRIM = _malloc_trim()


async def release_free_memory() -> None:
    """Hand memory freed by batch processing back to the OS (glibc keeps freed heap pages otherwise)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)
