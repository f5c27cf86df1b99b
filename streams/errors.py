"""The one exception hierarchy of salesfloor: each error says what a user must fix."""

from __future__ import annotations


class SalesfloorError(Exception):
    """Root of every error salesfloor raises on purpose."""


class ConfigError(SalesfloorError):
    """A setting is invalid; the message names the environment variable."""


class InvalidEvent(SalesfloorError):
    """An input message breaks the event contract (SPEC §2).

    `reason` is a short, bounded label value for `salesfloor_events_rejected_total`;
    the message text says exactly what is wrong.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFlushed(SalesfloorError):
    """The worker is stopping and the broker does not take the state: the offset commit must not happen."""


class ChangelogTruncated(SalesfloorError):
    """A table's changelog lost records (its log start offset is past 0): the state it holds cannot be
    rebuilt exactly, so the worker refuses to start rather than serve wrong KPIs."""
